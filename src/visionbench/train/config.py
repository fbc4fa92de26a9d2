"""The training configuration: one dataclass, resolved against the model's default recipe, validated up front."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from visionbench.data._base import AUGMENT_PRESETS
from visionbench.errors import ConfigError
from visionbench.models._registry import Recipe

__all__ = ["TrainConfig", "load_config_file", "RECIPE_FIELDS"]

RECIPE_FIELDS = tuple(f.name for f in fields(Recipe) if f.name != "per_dataset")


@dataclass
class TrainConfig:
    """Everything a run needs; ``None`` hyper-parameters are taken from the model's recipe by :meth:`resolve`.

    Attributes:
        model: registered model name.
        dataset: dataset name (``digits``, ``fashion-mnist``, ``cifar10``, ``imagefolder:PATH``...).
        data_dir: where to look for the dataset's files first.
        download: fetch the dataset from its canonical URLs when it is not found.
        epochs, batch_size, optimizer, lr, momentum, nesterov, weight_decay, schedule, warmup_epochs,
            label_smoothing, augment: hyper-parameters (None: the recipe's).
        val_split: fraction of the training set held out for validation (stratified, seeded).
        seed: seed of everything random (split, initialisation, shuffling, augmentation, dropout).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        amp: mixed precision (CUDA only; ignored on the CPU).
        threads: torch intra-op threads (None: torch's default).
        max_train_samples: cap on training examples for quick runs (taken stratified before the split).
        img_size: resize inputs to this side (None: the dataset's own, or the model's minimum).
        model_kwargs: extra keyword arguments for the model builder (``weights``, ``init_from``, ``freeze``...).
        backbone_lr_scale: learning-rate factor for every parameter but the classifier head (fine-tuning).
        output_dir: parent folder of the run directory.
        run_name: name of the run directory (default: ``<timestamp>-<model>-<dataset>``).
        eval_batch_size: batch size for validation and test.
        quiet: no progress bar.
        command: the command line that made the run (recorded for reproduction).
    """

    model: str = "cnn"
    dataset: str = "digits"
    data_dir: str | None = None
    download: bool = False
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: Literal["sgd", "adam", "adamw"] | None = None
    lr: float | None = None
    momentum: float | None = None
    nesterov: bool | None = None
    weight_decay: float | None = None
    schedule: Literal["constant", "step", "cosine", "onecycle"] | None = None
    warmup_epochs: float | None = None
    label_smoothing: float | None = None
    augment: Literal["auto", "none", "shift", "flip", "shift-flip", "crop-flip"] | None = None
    val_split: float = 0.1
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = False
    threads: int | None = None
    max_train_samples: int | None = None
    img_size: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    backbone_lr_scale: float = 1.0
    output_dir: str = "runs"
    run_name: str | None = None
    eval_batch_size: int = 512
    quiet: bool = False
    command: str | None = None

    def resolve(self, recipe: Recipe, dataset: str | None = None, img_size: int | None = None) -> TrainConfig:
        """A copy whose ``None`` hyper-parameters are filled from ``recipe`` (with its dataset overrides)."""
        rec = recipe.for_dataset(dataset or self.dataset, img_size).as_dict()
        values = {name: rec[name] for name in RECIPE_FIELDS if getattr(self, name) is None}
        return dataclasses.replace(self, **values)

    def validate(self) -> None:
        """Raise :class:`ConfigError` for impossible values, before any work is done."""
        checks: list[tuple[bool, str]] = [
            (self.epochs is None or self.epochs >= 1, f"--epochs must be >= 1 (got {self.epochs})"),
            (self.batch_size is None or self.batch_size >= 1, f"--batch-size must be >= 1 (got {self.batch_size})"),
            (self.lr is None or self.lr > 0, f"--lr must be > 0 (got {self.lr})"),
            (0.0 < self.val_split < 1.0, f"--val-split must be strictly between 0 and 1 (got {self.val_split})"),
            (self.weight_decay is None or self.weight_decay >= 0,
             f"--weight-decay must be >= 0 (got {self.weight_decay})"),
            (self.momentum is None or 0 <= self.momentum < 1, f"--momentum must be in [0, 1) (got {self.momentum})"),
            (self.label_smoothing is None or 0 <= self.label_smoothing < 1,
             f"--label-smoothing must be in [0, 1) (got {self.label_smoothing})"),
            (self.warmup_epochs is None or self.warmup_epochs >= 0,
             f"--warmup-epochs must be >= 0 (got {self.warmup_epochs})"),
            (self.max_train_samples is None or self.max_train_samples >= 2,
             f"--max-train-samples must be >= 2 (got {self.max_train_samples})"),
            (self.img_size is None or self.img_size >= 4, f"--img-size must be >= 4 (got {self.img_size})"),
            (self.threads is None or self.threads >= 1, f"--threads must be >= 1 (got {self.threads})"),
            (self.backbone_lr_scale >= 0, f"--backbone-lr-scale must be >= 0 (got {self.backbone_lr_scale})"),
            (self.eval_batch_size >= 1, f"--eval-batch-size must be >= 1 (got {self.eval_batch_size})"),
            (self.optimizer in (None, "sgd", "adam", "adamw"),
             f"--optimizer must be sgd, adam or adamw (got {self.optimizer!r})"),
            (self.schedule in (None, "constant", "step", "cosine", "onecycle"),
             f"--schedule must be constant, step, cosine or onecycle (got {self.schedule!r})"),
            (self.augment is None or self.augment in ("auto", *AUGMENT_PRESETS),
             f"--augment must be one of auto, {', '.join(AUGMENT_PRESETS)} (got {self.augment!r})"),
            (self.device in ("auto", "cpu", "cuda"), f"--device must be auto, cpu or cuda (got {self.device!r})"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> TrainConfig:
        """Build from a dict; unknown keys raise :class:`ConfigError` naming ``source``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            from visionbench.errors import suggest

            raise ConfigError(f"{source}: unknown key {unknown[0]!r}{suggest(unknown[0], known)}")
        return cls(**data)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``), TOML (``.toml``) or JSON file into a flat dict of TrainConfig keys.

    Keys may use dashes or underscores (``batch-size`` or ``batch_size``).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file; give a .yaml, .toml or .json file")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif path.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib  # type: ignore[no-redef]
            data = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"--config {path}: unknown extension {path.suffix!r}; use .yaml, .toml or .json")
    except ConfigError:
        raise
    except Exception as exc:  # parse errors of three libraries
        raise ConfigError(f"--config {path}: cannot parse ({str(exc).splitlines()[0]}); fix the syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of options at the top level")
    return {str(k).replace("-", "_"): v for k, v in data.items()}
