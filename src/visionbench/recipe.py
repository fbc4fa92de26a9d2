"""Training recipes: a model's default hyper-parameters and budget, with per-dataset overrides.

Torch-free (the CLI reads the choices below without importing PyTorch); the model registry attaches a recipe to
every model, and the training pipeline resolves a run's configuration against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from visionbench.data._base import AugmentChoice
from visionbench.errors import suggest

__all__ = ["Recipe", "Optimizer", "Schedule", "SIZE_KEYS"]

# Optimiser and schedule names, defined once: the CLI's choices and the config's validation read these annotations.
Optimizer = Literal["sgd", "adam", "adamw"]
Schedule = Literal["constant", "step", "cosine", "onecycle"]
#: Size classes a ``per_dataset`` key may name besides a dataset: ``small`` (<= 16 px) and ``large`` (>= 32 px).
SIZE_KEYS = ("small", "large")


@dataclass(frozen=True)
class Recipe:
    """Default training hyper-parameters of a model; ``--config`` and flags override them.

    The budget is counted in optimiser steps, not epochs, so one recipe fits a dataset of 1.8k images as well as one
    of 60k: a run takes ``max(steps, min_epochs * steps_per_epoch)`` steps, at most ``max_epochs`` epochs (see
    :func:`visionbench.train.budget.plan_budget`). The learning-rate schedule then spans the real number of steps.

    Attributes:
        steps: optimiser steps of a run on a small dataset.
        min_epochs: floor: at least this many passes over the training set (large datasets).
        max_epochs: ceiling: at most this many passes (tiny datasets), ``None`` for no ceiling.
        warmup_steps: linear warm-up length in steps (capped at a fifth of the run).
        per_dataset: field overrides keyed by dataset name (``{"digits": {"steps": 800}}``); the key ``"small"``
            applies to any dataset with at most 16x16 pixels, ``"large"`` to 32x32 and above. A key that is no
            dataset and no size class, or an override of no field, raises ``ValueError`` when the model registers.
    """

    steps: int = 1000
    min_epochs: int = 5
    max_epochs: int | None = None
    batch_size: int = 128
    optimizer: Optimizer = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: Schedule = "cosine"
    warmup_steps: int = 0
    label_smoothing: float = 0.0
    augment: AugmentChoice = "auto"
    per_dataset: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = {f.name for f in fields(self)} - {"per_dataset"}
        for key, overrides in self.per_dataset.items():
            bad = sorted(set(overrides) - names)
            if bad:
                raise ValueError(f"recipe override {key!r}: {bad[0]!r} is not a recipe field{suggest(bad[0], names)}")

    def for_dataset(self, dataset: str, img_size: int | None = None) -> Recipe:
        """Return this recipe with the overrides for ``dataset`` (and its size class) applied."""
        out = self
        if img_size is not None:
            size_key = "small" if img_size <= 16 else ("large" if img_size >= 32 else None)
            if size_key and size_key in self.per_dataset:
                out = replace(out, **self.per_dataset[size_key])
        if dataset in self.per_dataset:
            out = replace(out, **self.per_dataset[dataset])
        return replace(out, per_dataset={})

    def as_dict(self) -> dict[str, Any]:
        """The hyper-parameters as a plain dict (without ``per_dataset``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "per_dataset"}
