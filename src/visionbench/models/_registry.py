"""One model registry for both engines (PyTorch and the NumPy ``scratch`` engine).

A registered name encodes its variant (``resnet20``, ``vit_tiny_patch4``, ``scratch_cnn1d``); a variant is data: a
builder plus a dict of keyword arguments. Each entry carries a default training :class:`Recipe`, so that
``visionbench train --model M --dataset D`` with no other flag gives a strong result in reasonable time on a CPU.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from visionbench.data._catalog import list_datasets
from visionbench.errors import ConfigError, suggest
from visionbench.recipe import SIZE_KEYS, Recipe

__all__ = [
    "Recipe",
    "ModelEntry",
    "register_model",
    "create_model",
    "list_models",
    "get_entry",
    "Task",
]

Engine = Literal["torch", "scratch"]
#: What a model does: ``classification`` (logits per image) or ``detection`` (boxes, labels and scores per image).
Task = Literal["classification", "detection"]


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
        min_img_size: smallest input side the architecture accepts; smaller inputs are resized up by the pipeline.
        description: one line shown by ``visionbench models``.
        task: ``classification`` or ``detection``; decides the training task, its metrics and its run files.
    """

    name: str
    family: str
    builder: Callable[..., Any]
    kwargs: dict[str, Any]
    engine: Engine = "torch"
    recipe: Recipe = field(default_factory=Recipe)
    min_img_size: int = 1
    description: str = ""
    task: Task = "classification"


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    builder: Callable[..., Any],
    *,
    family: str,
    engine: Engine = "torch",
    recipe: Recipe | None = None,
    min_img_size: int = 1,
    description: str = "",
    task: Task = "classification",
    **kwargs: Any,
) -> ModelEntry:
    """Register a model variant; registering the same name twice, or a recipe override for a dataset that does not
    exist, raises ``ValueError``."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered (by family {_REGISTRY[name].family!r})")
    known = {*list_datasets(), *SIZE_KEYS}
    for key in (recipe.per_dataset if recipe else {}):
        if key not in known:
            raise ValueError(f"model {name!r}: recipe override for {key!r}, which is no dataset nor size class"
                             f"{suggest(key, known)}")
    entry = ModelEntry(
        name=name,
        family=family,
        builder=builder,
        kwargs=dict(kwargs),
        engine=engine,
        recipe=recipe or Recipe(),
        min_img_size=min_img_size,
        description=description,
        task=task,
    )
    _REGISTRY[name] = entry
    return entry


def get_entry(name: str) -> ModelEntry:
    """Return the entry of ``name``; an unknown name raises :class:`ConfigError` with close names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}{suggest(name, _REGISTRY)}; `visionbench models` lists them"
        ) from None


def list_models(pattern: str | None = None, *, engine: Engine | None = None, task: Task | None = None) -> list[str]:
    """Registered names, sorted, optionally filtered by a shell pattern (``resnet*``), engine and task."""
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    if engine:
        names = [n for n in names if _REGISTRY[n].engine == engine]
    if task:
        names = [n for n in names if _REGISTRY[n].task == task]
    return names


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
    try:
        return entry.builder(num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kwargs)
    except TypeError as exc:
        # A misspelled or foreign --model-arg surfaces as a TypeError from the builder or the class it calls.
        match = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if match and match.group(1) in overrides:
            raise ConfigError(f"--model-arg {match.group(1)}: model {name!r} takes no such argument; its variant "
                              f"arguments are {', '.join(sorted(entry.kwargs)) or 'none'}") from None
        if overrides:
            raise ConfigError(f"--model-arg: model {name!r} cannot be built with {overrides} "
                              f"({str(exc).splitlines()[0]}); fix the value") from None
        raise
    except ValueError as exc:
        if overrides:
            raise ConfigError(f"--model-arg: model {name!r} refused {overrides} ({str(exc).splitlines()[0]}); "
                              f"fix the value") from None
        raise
