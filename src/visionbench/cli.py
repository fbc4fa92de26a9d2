"""The ``visionbench`` command: parse arguments into config objects, call one library function, print.

Errors a user can fix (``VisionbenchError``) are printed as one line on stderr with exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from visionbench.data._base import AUGMENT_PRESETS
from visionbench.errors import ConfigError, VisionbenchError

__all__ = ["main", "build_parser"]


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def _model_kwarg(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--model-arg {text!r}: expected KEY=VALUE, e.g. --model-arg dropout=0.1")
    key, value = text.split("=", 1)
    try:
        return key.replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.replace("-", "_"), value


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 0,1,2, got {text!r}") from None


def _add_training_flags(p: argparse.ArgumentParser, *, full: bool) -> None:
    g = p.add_argument_group("data and budget")
    g.add_argument("--data-dir", help="folder holding the dataset's files (searched first)")
    g.add_argument("--download", action="store_true", default=None, help="download the dataset if not found")
    g.add_argument("--epochs", type=int, help="epochs (default: the model's recipe)")
    g.add_argument("--max-train-samples", type=int, help="cap on training examples, for quick runs")
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train (default auto)")
    g.add_argument("--threads", type=int, help="torch CPU threads")
    g.add_argument("--output-dir", help="parent folder of the run directories")
    g.add_argument("--quiet", action="store_true", default=None, help="no progress bar")
    if not full:
        return
    h = p.add_argument_group("hyper-parameters (default: the model's recipe)")
    h.add_argument("--batch-size", type=int)
    h.add_argument("--optimizer", choices=["sgd", "adam", "adamw"])
    h.add_argument("--lr", type=float, help="peak learning rate")
    h.add_argument("--momentum", type=float)
    h.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None)
    h.add_argument("--weight-decay", type=float)
    h.add_argument("--schedule", choices=["constant", "step", "cosine", "onecycle"])
    h.add_argument("--warmup-epochs", type=float)
    h.add_argument("--label-smoothing", type=float)
    h.add_argument("--augment", choices=["auto", *AUGMENT_PRESETS])
    h.add_argument("--val-split", type=float, help="fraction of the training set held out (default 0.1)")
    h.add_argument("--seed", type=int, help="seed of everything random (default 0)")
    h.add_argument("--amp", action="store_true", default=None, help="mixed precision (CUDA only)")
    h.add_argument("--img-size", type=int, help="resize inputs to this side")
    h.add_argument("--eval-batch-size", type=int)
    t = p.add_argument_group("model and transfer learning")
    t.add_argument("--weights", help="'imagenet' or a torchvision-format state dict file (AlexNet/VGG)")
    t.add_argument("--init-from", help="initialise from an earlier run directory of the same architecture")
    t.add_argument("--freeze", help="none | features | all-but-last-K")
    t.add_argument("--backbone-lr-scale", type=float, help="lr factor for all but the classifier head")
    t.add_argument("--model-arg", action="append", type=_model_kwarg, default=[], metavar="KEY=VALUE",
                   help="extra model builder argument (JSON value), repeatable")


_TRAIN_KEYS = ("dataset", "data_dir", "download", "epochs", "batch_size", "optimizer", "lr", "momentum", "nesterov",
               "weight_decay", "schedule", "warmup_epochs", "label_smoothing", "augment", "val_split", "seed",
               "device", "amp", "threads", "max_train_samples", "img_size", "backbone_lr_scale", "output_dir",
               "eval_batch_size", "quiet", "run_name")


def _train_config(args: argparse.Namespace) -> Any:
    from visionbench.train import TrainConfig, load_config_file

    values: dict[str, Any] = load_config_file(args.config) if getattr(args, "config", None) else {}
    for key in _TRAIN_KEYS + ("model",):
        value = getattr(args, key, None)
        if value is not None:
            values[key] = value
    model_kwargs = dict(values.pop("model_kwargs", {}) or {})
    for key in ("weights", "init_from", "freeze"):
        if getattr(args, key, None) is not None:
            model_kwargs[key] = getattr(args, key)
    model_kwargs.update(dict(getattr(args, "model_arg", []) or []))
    values["model_kwargs"] = model_kwargs
    values["command"] = "visionbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return TrainConfig.from_dict(values, source=f"--config {args.config}" if getattr(args, "config", None)
                                 else "options")


def cmd_train(args: argparse.Namespace) -> int:
    from visionbench.train import train

    if args.resume:
        from visionbench.train import TrainConfig

        extra = [k for k in _TRAIN_KEYS + ("config", "weights", "init_from", "freeze")
                 if k != "quiet" and getattr(args, k, None) is not None] + (["model_arg"] if args.model_arg else [])
        if extra:
            flag = "--" + extra[0].replace("_", "-")
            raise ConfigError(f"--resume continues a run with its saved configuration; drop {flag} (or start a new "
                              f"run without --resume)")
        cfg = TrainConfig(model=args.model, quiet=bool(args.quiet)) if args.model else None
        result = train(cfg, resume=args.resume)
    else:
        if not args.model and not args.config:
            raise ConfigError("--model is required (see `visionbench models`), or give --config FILE")
        result = train(_train_config(args))
    return _report_run(result)


def _report_run(result: Any) -> int:
    r = result.results
    if result.status == "completed":
        print(f"run: {result.run_dir}")
        print(f"test accuracy {r['test_accuracy']:.2%}  macro-F1 {r['test_macro_f1']:.2%}  loss {r['test_loss']:.4f}"
              f"  ({r['epochs_completed']} epochs, {r['train_seconds']:.1f}s)")
        return 0
    print(f"error: {result.message}", file=sys.stderr)
    return 130 if result.status == "interrupted" else 1


def cmd_evaluate(args: argparse.Namespace) -> int:
    from visionbench.train import evaluate_run

    r = evaluate_run(args.run_dir)
    top5 = f"  top-5 {r['test_top5_accuracy']:.2%}" if r.get("test_top5_accuracy") is not None else ""
    print(f"{args.run_dir}: test accuracy {r['test_accuracy']:.2%}  macro-F1 {r['test_macro_f1']:.2%}  "
          f"loss {r['test_loss']:.4f}{top5}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from visionbench.experiments.compare import (
        MAIN_JOB_EPOCHS,
        MAIN_JOB_MODELS,
        CompareConfig,
        compare_runs,
        run_comparison,
    )
    from visionbench.report.build import render_table_rich

    console = _console()
    if args.run_dirs:
        result = compare_runs(args.run_dirs, output_dir=args.output_dir or "comparisons")
    else:
        overrides = {k: getattr(args, k) for k in ("data_dir", "download", "max_train_samples", "device", "threads",
                                                    "quiet") if getattr(args, k) is not None}
        cc = CompareConfig(
            dataset=args.dataset or "digits",
            models=[m.strip() for m in args.models.split(",") if m.strip()] if args.models else MAIN_JOB_MODELS,
            seeds=args.seeds or [0],
            # The main job (no --models) has a fixed budget; an explicit list uses each model's recipe by default.
            epochs=args.epochs if args.epochs is not None or args.models else MAIN_JOB_EPOCHS,
            output_dir=args.output_dir or "comparisons",
            train_overrides=overrides,
        )

        def announce(model: str, seed: int, i: int, total: int) -> None:
            console.print(f"[bold][{i}/{total}][/bold] {model} (seed {seed})", highlight=False)

        result = run_comparison(cc, resume=args.resume, on_run=announce)
    console.print(render_table_rich(result.report["summary"]))
    console.print(f"report: {result.out_dir / 'comparison.md'}", highlight=False)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from rich.table import Table

    from visionbench.models import get_entry, list_models

    table = Table(title="registered models")
    for col in ("name", "family", "engine", "recipe", "description"):
        table.add_column(col)
    names = list_models(args.pattern)
    if not names:
        raise ConfigError(f"no model matches {args.pattern!r}; `visionbench models` lists them all")
    for name in names:
        e = get_entry(name)
        r = e.recipe
        table.add_row(name, e.family, e.engine, f"{r.epochs} ep, {r.optimizer} lr {r.lr:g}, {r.schedule}",
                      e.description)
    _console().print(table)
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from rich.table import Table

    from visionbench.data import dataset_status, list_datasets

    table = Table(title="datasets")
    for col in ("name", "status", "where / how to get it", "train", "test", "classes", "shape"):
        table.add_column(col)
    for name in list_datasets():
        s = dataset_status(name, data_dir=args.data_dir)
        table.add_row(name, "found" if s.found else "not found", str(s.path) if s.found else s.how_to_get,
                      _fmt(s.train_size), _fmt(s.test_size), _fmt(s.num_classes),
                      "x".join(map(str, s.image_shape)) if s.image_shape else "")
    _console().print(table)
    return 0


def _console() -> Any:
    from rich.console import Console

    # Piped output (CI, files) gets a wide table instead of rich's 80-column default.
    return Console() if sys.stdout.isatty() else Console(width=160)


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def cmd_download(args: argparse.Namespace) -> int:
    from visionbench.data.download import download_dataset

    last = {"file": "", "shown": -1}

    def progress(file: str, done: int, total: int | None) -> None:
        percent = int(100 * done / total) if total else -1
        if file != last["file"] or percent // 10 != last["shown"] // 10:
            size = f"{done / 2**20:.1f} MiB" + (f" of {total / 2**20:.1f} MiB" if total else "")
            print(f"  {file}: {size}", file=sys.stderr)
            last.update(file=file, shown=percent)

    path = download_dataset(args.name, dest=args.data_dir, force=args.force, progress=progress)
    print(f"{args.name}: ready in {path}")
    return 0


_EXAMPLES = {
    "train": "example:\n  visionbench train --model cnn --dataset fashion-mnist --epochs 5 --seed 1\n"
             "  visionbench train --resume runs/20260101-120000-cnn-fashion-mnist",
    "evaluate": "example:\n  visionbench evaluate runs/20260101-120000-cnn-digits",
    "compare": "examples:\n  visionbench compare                      # the main job: digits, the default models\n"
               "  visionbench compare --dataset fashion-mnist --models mlp,cnn --epochs 5 --seeds 0,1,2\n"
               "  visionbench compare runs/a runs/b          # existing runs, no training",
    "models": "examples:\n  visionbench models\n  visionbench models 'resnet*'",
    "datasets": "example:\n  visionbench datasets --data-dir ~/data",
    "download": "example:\n  visionbench download mnist --data-dir ~/data",
}


def build_parser() -> argparse.ArgumentParser:
    from visionbench import __version__

    parser = argparse.ArgumentParser(
        prog="visionbench", formatter_class=_Formatter,
        description="Build, train and compare image classifiers (NumPy engine and PyTorch) on the machine you have.",
        epilog="example:\n  visionbench compare          # train the default models on digits and compare them",
    )
    parser.add_argument("--version", action="version", version=f"visionbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, epilog=_EXAMPLES[name], formatter_class=_Formatter)

    p = add("train", "train one model on one dataset into a new run directory")
    p.add_argument("--model", help="registered model name (see `visionbench models`)")
    p.add_argument("--dataset", help="dataset name (see `visionbench datasets`), default digits")
    p.add_argument("--config", help="YAML, TOML or JSON file of options; flags override it")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--run-name", help="name of the run directory (default: timestamp-model-dataset)")
    _add_training_flags(p, full=True)
    p.set_defaults(func=cmd_train)

    p = add("evaluate", "re-evaluate a run's best checkpoint on the test set")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=cmd_evaluate)

    p = add("compare", "train several models under one budget and compare them, or compare existing runs")
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="existing runs to compare (no training)")
    p.add_argument("--dataset", help="dataset (default digits)")
    p.add_argument("--models", help="comma-separated model names (default: the main job's models)")
    p.add_argument("--seeds", type=_int_list, help="comma-separated seeds, e.g. 0,1,2 (default 0)")
    p.add_argument("--resume", metavar="COMPARISON_DIR", help="continue an interrupted comparison")
    _add_training_flags(p, full=False)
    p.set_defaults(func=cmd_compare)

    p = add("models", "list the registered models")
    p.add_argument("pattern", nargs="?", help="shell pattern, e.g. 'resnet*'")
    p.set_defaults(func=cmd_models)

    p = add("datasets", "list the datasets: found where, or how to get them")
    p.add_argument("--data-dir", help="folder to search first")
    p.set_defaults(func=cmd_datasets)

    p = add("download", "download a dataset from its canonical URLs (checksums verified)")
    p.add_argument("name", help="dataset name")
    p.add_argument("--data-dir", help="destination (default: the user cache)")
    p.add_argument("--force", action="store_true", help="download again even if present")
    p.set_defaults(func=cmd_download)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``visionbench`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args))
    except VisionbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"interrupted{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
