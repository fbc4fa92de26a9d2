"""The ``visionbench`` command's argument machinery: the parser classes (one-line errors), the argument types and the
training flags derived from :class:`~visionbench.train.config.TrainConfig`'s fields."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from typing import Any, Literal, NoReturn, get_args, get_origin

from visionbench.train.config import RECIPE_FIELDS, TrainConfig, field_types


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows a default only where there is one worth showing (never "(default: None)")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" not in text and action.default not in (None, False, [], argparse.SUPPRESS) \
                and action.option_strings:
            text += f" (default: {action.default})"
        return text


class Parser(argparse.ArgumentParser):
    """An argument error is one line naming the option and the fix, exit status 2 (not the whole usage)."""

    def error(self, message: str) -> NoReturn:
        hint = f"; see `{self.prog} --help`"
        self.exit(2, f"error: {message}{hint}\n")


def key_value(example: str) -> Any:
    """A parser of ``KEY=VALUE`` arguments (the value read as JSON when it is JSON, else kept as text)."""

    def parse(text: str) -> tuple[str, Any]:
        if "=" not in text or not text.split("=", 1)[0].strip():
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, e.g. {example} (got {text!r})")
        key, value = text.split("=", 1)
        try:
            return key.strip().replace("-", "_"), json.loads(value)
        except json.JSONDecodeError:
            return key.strip().replace("-", "_"), value

    parse.__name__ = "KEY=VALUE"
    return parse


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 0,1,2, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 0,1,2, got {text!r}")
    return values


# The training flags, derived from TrainConfig's fields: each field listed here becomes --field-name, with its
# type and choices read from the field's annotation (one source for both). Group, then help text.
DATA, HYPER = "data and budget", "hyper-parameters (default: the model's recipe)"
MODEL = "model and transfer learning"
FLAG_HELP: dict[str, tuple[str, str]] = {
    "data_dir": (DATA, "folder holding the dataset's files (searched first)"),
    "download": (DATA, "download the dataset if it is not found"),
    "epochs": (DATA, "full passes over the training split (default: the recipe's budget, in steps)"),
    "steps": (DATA, "optimiser steps in all (default: the recipe's budget; `visionbench models --dataset D` shows "
                     "it)"),
    "time_budget": (DATA, "seconds of training: the steps that fit are measured and planned first"),
    "max_train_samples": (DATA, "cap on training examples (stratified), for quick runs"),
    "device": (DATA, "where to train: auto picks CUDA when there is a GPU"),
    "threads": (DATA, "CPU threads for PyTorch and NumPy (default: all)"),
    "output_dir": (DATA, "parent folder of the run directories"),
    "quiet": (DATA, "no progress bar"),
    "sync_bn": (DATA, "under torchrun: BatchNorm statistics over the global batch, as in one process (--no-sync-bn: "
                      "each process's share; faster, but no longer the one-process run)"),
    "log_to": (DATA, "also send every epoch's metrics, the configuration and the results to tensorboard and/or "
                     "mlflow, comma-separated (optional: pip install 'visionbench[tensorboard,mlflow]')"),
    "batch_size": (HYPER, "examples per optimiser step"),
    "optimizer": (HYPER, "optimiser"),
    "lr": (HYPER, "peak learning rate"),
    "momentum": (HYPER, "SGD momentum"),
    "nesterov": (HYPER, "Nesterov momentum (SGD)"),
    "weight_decay": (HYPER, "weight decay (not applied to biases and normalisation)"),
    "schedule": (HYPER, "learning-rate schedule over the run's steps"),
    "warmup_steps": (HYPER, "linear warm-up steps"),
    "label_smoothing": (HYPER, "label smoothing of the cross-entropy"),
    "augment": (HYPER, "augmentation preset; auto picks one for the dataset"),
    "val_split": (HYPER, "fraction of the training set held out for validation"),
    "seed": (HYPER, "seed of everything random"),
    "amp": (HYPER, "mixed precision (CUDA only)"),
    "img_size": (HYPER, "resize inputs to this side"),
    "eval_batch_size": (HYPER, "batch size for validation and test"),
    "backbone_lr_scale": (MODEL, "learning-rate factor for all but the classifier head"),
}
#: TrainConfig fields the CLI sets from flags (everything but what the program fills in itself).
TRAIN_KEYS = tuple(f.name for f in dataclasses.fields(TrainConfig)
                    if f.name not in ("model_kwargs", "dataset_options", "command"))
#: The flags `compare` takes: the data and budget group (the recipes' hyper-parameters stay per model).
COMPARE_KEYS = tuple(k for k, (group, _) in FLAG_HELP.items() if group == DATA)


def _add_field_flag(g: Any, name: str, help_: str) -> None:
    base = field_types(name)[0]
    default = next(f.default for f in dataclasses.fields(TrainConfig) if f.name == name)
    if default not in (None, False, ()) and name not in RECIPE_FIELDS:
        help_ = f"{help_} (default: {default})"
    flag = "--" + name.replace("_", "-")
    if base is bool:
        if name in ("nesterov", "sync_bn"):
            g.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_)
        else:
            g.add_argument(flag, action="store_true", default=None, help=help_)
    elif get_origin(base) is Literal:
        g.add_argument(flag, choices=get_args(base), default=None, help=help_)
    elif get_origin(base) is tuple:  # names, comma-separated; TrainConfig.validate checks each
        g.add_argument(flag, type=name_list, default=None, help=help_, metavar="NAME[,NAME]")
    else:
        g.add_argument(flag, type=number(base, flag), default=None, help=help_,
                       metavar={int: "N", float: "X", str: "PATH" if "dir" in name else "TEXT"}.get(base, "V"))


def name_list(text: str) -> tuple[str, ...]:
    """``a,b`` -> ``("a", "b")`` (empty: none)."""
    return tuple(n.strip() for n in text.split(",") if n.strip())


def number(kind: Any, flag: str) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            word = {int: "an integer", float: "a number"}.get(kind, "a value")
            raise argparse.ArgumentTypeError(f"expected {word}, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        return value

    parse.__name__ = {int: "integer", float: "number"}.get(kind, "value")
    return parse


_COMPARE_OUT = ("--output-dir", "parent folder of the comparison directory (default: comparisons)")


def add_training_flags(p: argparse.ArgumentParser, *, full: bool, out: tuple[str, str] = _COMPARE_OUT) -> None:
    """The training flags: all of them (``full``), or the data and budget group, whose output folder is then the
    flag and help in ``out`` (a comparison's or a sweep's folder, not a run's)."""
    groups: dict[str, Any] = {}
    for name, (group, help_) in FLAG_HELP.items():
        if not full and group != DATA:
            continue
        if group not in groups:
            groups[group] = p.add_argument_group(group)
        if not full and name == "output_dir":  # compare (sweep) writes a comparison (sweep) folder, not a run's
            groups[group].add_argument(out[0], metavar="PATH", help=out[1])
            continue
        _add_field_flag(groups[group], name, help_)
    add_dataset_option(groups[DATA])
    if not full:
        return
    t = groups[MODEL]
    t.add_argument("--weights", help="'imagenet' (AlexNet, VGG, a detector's backbone), 'coco' (torchvision's "
                   "detectors) or a torchvision-format state dict file")
    t.add_argument("--init-from", metavar="RUN_DIR", help="initialise from an earlier run of the same architecture")
    t.add_argument("--freeze", help="none | features | all-but-last-K")
    t.add_argument("--model-arg", action="append", type=key_value("--model-arg dropout=0.1"), default=[],
                   metavar="KEY=VALUE", help="extra model builder argument (JSON value), repeatable")


_DATASET_OPTION_HELP = "option of a generated dataset, e.g. train_scenes=2000 for scenes:NAME (JSON value), repeatable"


def add_dataset_option(p: Any, help_: str = _DATASET_OPTION_HELP) -> None:
    """``--dataset-option KEY=VALUE`` (repeatable), collected as ``args.dataset_option``."""
    p.add_argument("--dataset-option", action="append", type=key_value("--dataset-option train_scenes=2000"),
                   default=[], metavar="KEY=VALUE", help=help_)
