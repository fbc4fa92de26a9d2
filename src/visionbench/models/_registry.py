"""One model registry for both engines (PyTorch and the NumPy ``scratch`` engine).

A registered name encodes its variant (``resnet20``, ``vit_tiny_patch4``, ``scratch_cnn1d``); a variant is data: a
builder plus a dict of keyword arguments. Each entry carries a default training :class:`Recipe`, so that
``visionbench train --model M --dataset D`` with no other flag gives a strong result in reasonable time on a CPU.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from visionbench.errors import ConfigError, suggest

__all__ = [
    "Recipe",
    "ModelEntry",
    "register_model",
    "create_model",
    "list_models",
    "get_entry",
    "default_models",
]

Engine = Literal["torch", "scratch"]


@dataclass(frozen=True)
class Recipe:
    """Default training hyper-parameters of a model; flags and ``--config`` override them.

    Attributes:
        per_dataset: field overrides keyed by dataset name (``{"digits": {"epochs": 30}}``); the key ``"small"``
            applies to any dataset with at most 16x16 pixels, ``"large"`` to 32x32 and above.
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: Literal["sgd", "adam", "adamw"] = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: Literal["constant", "step", "cosine", "onecycle"] = "cosine"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    augment: Literal["auto", "none", "shift", "flip", "shift-flip", "crop-flip"] = "auto"
    per_dataset: dict[str, dict[str, Any]] = field(default_factory=dict)

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


@dataclass(frozen=True)
class ModelEntry:
    """A registered model variant.

    Attributes:
        name: registered name.
        family: family name (``resnet``, ``vit``, ``scratch``...), one per model file.
        builder: callable ``builder(*, num_classes, in_chans, img_size, **kwargs)`` returning the model.
        kwargs: the variant's arguments passed to ``builder``.
        engine: ``torch`` (returns an ``nn.Module``) or ``scratch`` (returns a NumPy-engine model).
        recipe: default training recipe.
        default: part of the main job (``visionbench compare`` with no argument).
        min_img_size: smallest input side the architecture accepts; smaller inputs are resized up by the pipeline.
        description: one line shown by ``visionbench models``.
    """

    name: str
    family: str
    builder: Callable[..., Any]
    kwargs: dict[str, Any]
    engine: Engine = "torch"
    recipe: Recipe = field(default_factory=Recipe)
    default: bool = False
    min_img_size: int = 1
    description: str = ""


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    builder: Callable[..., Any],
    *,
    family: str,
    engine: Engine = "torch",
    recipe: Recipe | None = None,
    default: bool = False,
    min_img_size: int = 1,
    description: str = "",
    **kwargs: Any,
) -> ModelEntry:
    """Register a model variant; registering the same name twice raises ``ValueError``."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered (by family {_REGISTRY[name].family!r})")
    entry = ModelEntry(
        name=name,
        family=family,
        builder=builder,
        kwargs=dict(kwargs),
        engine=engine,
        recipe=recipe or Recipe(),
        default=default,
        min_img_size=min_img_size,
        description=description,
    )
    _REGISTRY[name] = entry
    return entry


def _ensure_loaded() -> None:
    # The families register themselves on import; importing the package does it once.
    import visionbench.models  # noqa: F401


def get_entry(name: str) -> ModelEntry:
    """Return the entry of ``name``; an unknown name raises :class:`ConfigError` with close names."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}{suggest(name, _REGISTRY)}; `visionbench models` lists them"
        ) from None


def list_models(pattern: str | None = None, *, engine: Engine | None = None) -> list[str]:
    """Registered names, sorted, optionally filtered by a shell pattern (``resnet*``) and engine."""
    _ensure_loaded()
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    if engine:
        names = [n for n in names if _REGISTRY[n].engine == engine]
    return names


def default_models() -> list[str]:
    """The models of the main job, in registration order."""
    _ensure_loaded()
    return [n for n, e in _REGISTRY.items() if e.default]


def create_model(name: str, *, num_classes: int, in_chans: int, img_size: int, **overrides: Any) -> Any:
    """Build the registered model ``name`` for inputs of shape (in_chans, img_size, img_size).

    Args:
        name: a registered name (see :func:`list_models`).
        num_classes: number of output classes.
        in_chans: input channels.
        img_size: input side in pixels.
        **overrides: keyword arguments that replace the variant's own.

    Returns:
        An ``nn.Module`` for torch models, a NumPy-engine model for scratch ones.
    """
    entry = get_entry(name)
    kwargs = {**entry.kwargs, **overrides}
    return entry.builder(num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kwargs)
