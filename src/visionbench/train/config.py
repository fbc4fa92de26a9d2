"""The training configuration: one dataclass, resolved against the model's default recipe, validated up front."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from visionbench.data._base import AugmentChoice
from visionbench.errors import ConfigError, suggest
from visionbench.recipe import Optimizer, Recipe, Schedule
from visionbench.train.trackers import check_log_to

__all__ = ["TrainConfig", "load_config_file", "field_types", "BUDGET_OPTIONS", "OWN_OPTIONS", "RECIPE_FIELDS",
           "BUDGET_FIELDS"]

#: Recipe fields that plan the budget (see ``train/budget.py``) rather than fill a TrainConfig field one to one.
BUDGET_FIELDS = ("steps", "min_epochs", "max_epochs", "warmup_steps")
#: The fields that are each worker's own when several processes share a comparison or a sweep: where the data is,
#: the cores, the progress bar, the trackers. They change where and how a run is trained, not what is trained.
OWN_OPTIONS = ("quiet", "log_to", "data_dir", "threads")
#: The ways a user states a run's length; a configuration names at most one of them.
BUDGET_OPTIONS = ("epochs", "steps", "time_budget")
#: Recipe fields that :meth:`TrainConfig.resolve` copies into a config's ``None`` fields.
RECIPE_FIELDS = tuple(f.name for f in fields(Recipe) if f.name not in ("per_dataset", *BUDGET_FIELDS))
Device = Literal["auto", "cpu", "cuda"]


@dataclass
class TrainConfig:
    """Everything a run needs; ``None`` hyper-parameters are taken from the model's recipe by :meth:`resolve`.

    Attributes:
        model: registered model name.
        dataset: dataset name (``digits``, ``fashion-mnist``, ``cifar10``, ``imagefolder:PATH``, ``scenes:BASE``,
            ``coco:PATH``...).
        dataset_options: options of a generated dataset (for ``scenes:BASE``: the
            :class:`~visionbench.data.scenes.SceneConfig` fields, such as ``train_scenes`` or ``canvas``).
        data_dir: where to look for the dataset's files first.
        download: fetch the dataset from its canonical URLs when it is not found.
        epochs: full passes over the training split (None: the recipe's budget, counted in steps).
        steps: optimiser steps in all (None: from ``epochs``, ``time_budget`` or the recipe); when set, it wins
            over both. A run directory's config.json always holds the planned steps, so a resumed run keeps its
            budget.
        time_budget: seconds of training: a few probe steps measure the speed, then ``steps`` is set to fit.
        warmup_steps: linear warm-up steps (None: the recipe's, at most a fifth of the run).
        batch_size, optimizer, lr, momentum, nesterov, weight_decay, schedule, label_smoothing, augment:
            hyper-parameters (None: the recipe's).
        val_split: fraction of the training set held out for validation (stratified, seeded).
        seed: seed of everything random (split, initialisation, shuffling, augmentation, dropout).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        amp: mixed precision (CUDA only; ignored on the CPU).
        sync_bn: under torchrun, BatchNorm normalises with the statistics of the global batch, as one process
            would (False: each process's share; faster, and the run is no longer one process's).
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
        log_to: experiment trackers that get a copy of the run (``tensorboard``, ``mlflow``; optional packages, see
            :mod:`visionbench.train.trackers`); not part of what makes runs comparable.
    """

    model: str = "cnn"
    dataset: str = "digits"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None
    download: bool = False
    epochs: int | None = None
    steps: int | None = None
    time_budget: float | None = None
    batch_size: int | None = None
    optimizer: Optimizer | None = None
    lr: float | None = None
    momentum: float | None = None
    nesterov: bool | None = None
    weight_decay: float | None = None
    schedule: Schedule | None = None
    warmup_steps: int | None = None
    label_smoothing: float | None = None
    augment: AugmentChoice | None = None
    val_split: float = 0.1
    seed: int = 0
    device: Device = "auto"
    amp: bool = False
    sync_bn: bool = True
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
    log_to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A config file's list (or "tensorboard,mlflow") and config.json's list: one tuple of names, each once.
        if isinstance(self.log_to, str):
            self.log_to = tuple(n.strip() for n in self.log_to.split(","))
        if isinstance(self.log_to, (list, tuple)) and all(isinstance(n, str) for n in self.log_to):
            self.log_to = tuple(dict.fromkeys(n for n in self.log_to if n))

    def resolve(self, recipe: Recipe, dataset: str | None = None, img_size: int | None = None) -> TrainConfig:
        """A copy whose ``None`` hyper-parameters are filled from ``recipe`` (with its dataset overrides)."""
        rec = recipe.for_dataset(dataset or self.dataset, img_size).as_dict()
        values = {name: rec[name] for name in RECIPE_FIELDS if getattr(self, name) is None}
        return dataclasses.replace(self, **values)

    def check_budget_flags(self) -> None:
        """A user's configuration names at most one budget: ``epochs``, ``steps`` or ``time_budget``."""
        given = [name for name in BUDGET_OPTIONS if getattr(self, name) is not None]
        if len(given) > 1:
            raise ConfigError(f"give one budget: --{given[0].replace('_', '-')} or --{given[1].replace('_', '-')}, "
                              f"not both")

    def validate(self) -> None:
        """Raise :class:`ConfigError` for a value of the wrong type or out of range, before any work is done."""
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name))
        checks: list[tuple[bool, str]] = [
            (self.epochs is None or self.epochs >= 1, f"--epochs must be >= 1 (got {self.epochs})"),
            (self.steps is None or self.steps >= 1, f"--steps must be >= 1 (got {self.steps})"),
            (self.time_budget is None or 0 < self.time_budget < 1e7,
             f"--time-budget must be a positive number of seconds (got {self.time_budget})"),
            (self.batch_size is None or self.batch_size >= 1, f"--batch-size must be >= 1 (got {self.batch_size})"),
            (self.lr is None or self.lr > 0, f"--lr must be a positive number (got {self.lr})"),
            (0.0 < self.val_split < 1.0, f"--val-split must be strictly between 0 and 1 (got {self.val_split})"),
            (self.weight_decay is None or self.weight_decay >= 0,
             f"--weight-decay must be >= 0 (got {self.weight_decay})"),
            (self.momentum is None or 0 <= self.momentum < 1, f"--momentum must be in [0, 1) (got {self.momentum})"),
            (self.label_smoothing is None or 0 <= self.label_smoothing < 1,
             f"--label-smoothing must be in [0, 1) (got {self.label_smoothing})"),
            (self.warmup_steps is None or self.warmup_steps >= 0,
             f"--warmup-steps must be >= 0 (got {self.warmup_steps})"),
            (self.max_train_samples is None or self.max_train_samples >= 2,
             f"--max-train-samples must be >= 2 (got {self.max_train_samples})"),
            (self.img_size is None or 4 <= self.img_size <= 4096,
             f"--img-size must be between 4 and 4096 (got {self.img_size})"),
            (self.threads is None or self.threads >= 1, f"--threads must be >= 1 (got {self.threads})"),
            (self.backbone_lr_scale >= 0, f"--backbone-lr-scale must be >= 0 (got {self.backbone_lr_scale})"),
            (self.eval_batch_size >= 1, f"--eval-batch-size must be >= 1 (got {self.eval_batch_size})"),
            (self.seed >= 0, f"--seed must be >= 0 (got {self.seed})"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        check_log_to(self.log_to)  # names, and their packages installed: before any data is loaded

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> TrainConfig:
        """Build from a dict; unknown keys raise :class:`ConfigError` naming ``source``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r}{suggest(unknown[0], known)}")
        cfg = cls(**data)
        try:
            cfg.validate()
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        return cfg


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def field_types(name: str) -> tuple[Any, ...]:
    """The types a TrainConfig field's annotation admits, ``None`` left out (``int | None`` -> ``(int,)``)."""
    hint = _HINTS[name]
    options = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
    return tuple(o for o in options if o is not type(None))


def _check_type(name: str, value: Any) -> None:
    """Raise ConfigError unless ``value`` fits the field's annotation (None, bool, int, float, str, Literal, dict)."""
    options = field_types(name)
    if value is None and type(None) in get_args(_HINTS[name]):
        return  # an Optional field
    for opt in options:
        if get_origin(opt) is Literal:
            if isinstance(value, str) and value in get_args(opt):
                return
            if isinstance(value, str):
                raise ConfigError(f"{_flag(name)} must be one of {', '.join(get_args(opt))} (got {value!r})"
                                  f"{suggest(value, get_args(opt))}")
            continue
        if opt is bool and isinstance(value, bool):
            return
        if opt is int and isinstance(value, int) and not isinstance(value, bool):
            if -(2**63) <= value < 2**63:  # every count and seed ends up in a NumPy or torch int64
                return
            raise ConfigError(f"{_flag(name)} must fit in 64 bits (got {value})")
        if opt is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value):
                return
            raise ConfigError(f"{_flag(name)} must be a finite number (got {value})")
        if opt is str and isinstance(value, str):
            return
        if get_origin(opt) is dict and isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return
        if get_origin(opt) is tuple and isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
            return
    wanted = " or ".join(_type_word(o) for o in options)
    raise ConfigError(f"{_flag(name)} must be {wanted} (got {type(value).__name__} {value!r})")


def _type_word(hint: Any) -> str:
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(get_args(hint))
    if get_origin(hint) is dict:
        return "a mapping"
    if get_origin(hint) is tuple:
        return "a list of names"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


_HINTS = get_type_hints(TrainConfig)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``), TOML (``.toml``) or JSON file into a flat dict of TrainConfig keys.

    Keys may use dashes or underscores (``batch-size`` or ``batch_size``).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file; give a .yaml, .toml or .json file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"--config {path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read ({exc.strerror}); check the path and permissions") from None
    if not text.strip():
        raise ConfigError(f"--config {path}: the file is empty; write the options in it, or drop --config")
    try:
        if path.suffix in (".yaml", ".yml"):
            data = _load_yaml(text)
        elif path.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib  # type: ignore[no-redef]
            data = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text, object_pairs_hook=_unique_keys)
        else:
            raise ConfigError(f"--config {path}: unknown extension {path.suffix!r}; use .yaml, .toml or .json")
    except ConfigError:
        raise
    except Exception as exc:  # parse errors of three libraries
        raise ConfigError(f"--config {path}: cannot parse ({str(exc).splitlines()[0]}); fix the syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of options at the top level")
    keys = [str(k).replace("-", "_") for k in data]
    if len(set(keys)) != len(keys):  # batch-size and batch_size both given
        twice = next(k for k in keys if keys.count(k) > 1)
        raise ConfigError(f"--config {path}: option {twice!r} is given twice; keep one")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def _unique_keys(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    """A JSON object or YAML mapping whose keys appear once: JSON and PyYAML keep the last of a repeated key, so an
    option written twice would silently take the second value."""
    out: dict[Any, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"option {key!r} is given twice")
        out[key] = value
    return out


def _load_yaml(text: str) -> Any:
    """``yaml.safe_load`` refusing repeated keys."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        loader.flatten_mapping(node)
        return _unique_keys([(loader.construct_object(k, deep=deep), loader.construct_object(v, deep=deep))
                             for k, v in node.value])

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
