"""The ``visionbench`` command: parse arguments into config objects, call one library function, print.

Errors a user can fix (``VisionbenchError``) are printed as one line on stderr with exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from visionbench import _cli_views as views
from visionbench._cli_args import (
    COMPARE_KEYS,
    TRAIN_KEYS,
    Formatter,
    Parser,
    add_dataset_option,
    add_training_flags,
    int_list,
    name_list,
    number,
)
from visionbench._env import torchrun_rank, torchrun_world
from visionbench.errors import ConfigError, VisionbenchError, met_by_every_rank
from visionbench.train.config import BUDGET_OPTIONS, TrainConfig

__all__ = ["main", "build_parser"]


def _train_config(args: argparse.Namespace) -> Any:
    from visionbench.train.config import load_config_file

    if not args.model and not getattr(args, "config", None):
        raise ConfigError("--model is required (see `visionbench models`), or give --config FILE")
    values: dict[str, Any] = load_config_file(args.config) if getattr(args, "config", None) else {}
    for key in TRAIN_KEYS:
        value = getattr(args, key, None)
        if value is not None:
            values[key] = value
    model_kwargs = values.pop("model_kwargs", None) or {}
    if not isinstance(model_kwargs, dict):
        raise ConfigError(f"--config {args.config}: model_kwargs must be a mapping of builder arguments")
    model_kwargs = dict(model_kwargs)
    for key in ("weights", "init_from", "freeze"):
        if getattr(args, key, None) is not None:
            model_kwargs[key] = getattr(args, key)
    model_kwargs.update(dict(getattr(args, "model_arg", []) or []))
    values["model_kwargs"] = model_kwargs
    dataset_options = values.pop("dataset_options", None) or {}
    if not isinstance(dataset_options, dict):
        raise ConfigError(f"--config {args.config}: dataset_options must be a mapping, e.g. {{train_scenes: 2000}}")
    values["dataset_options"] = {**dataset_options, **dict(getattr(args, "dataset_option", []) or [])}
    values["command"] = args.command_line
    # A flag's budget replaces the config file's (--epochs on the command line beats steps: in the file).
    if any(getattr(args, k, None) is not None for k in BUDGET_OPTIONS):
        for k in BUDGET_OPTIONS:
            if getattr(args, k, None) is None:
                values.pop(k, None)
    TrainConfig(**{k: values.get(k) for k in BUDGET_OPTIONS}).check_budget_flags()
    return TrainConfig.from_dict(values, source=f"--config {args.config}" if getattr(args, "config", None)
                                 else "options")


def cmd_train(args: argparse.Namespace) -> int:
    from visionbench.train import train

    with met_by_every_rank():  # options: the same on every rank of a torchrun launch
        cfg = _resume_config(args) if args.resume else _train_config(args)
    return _report_run(train(cfg, resume=args.resume or None))


def _resume_config(args: argparse.Namespace) -> TrainConfig | None:
    """What `train --resume` may take besides the run: --model (checked against the run) and --quiet."""
    extra = [k for k in TRAIN_KEYS + ("config", "weights", "init_from", "freeze")
             if k not in ("quiet", "model") and getattr(args, k, None) is not None]
    extra += ["model_arg"] if args.model_arg else []
    extra += ["dataset_option"] if args.dataset_option else []
    if extra:
        flag = "--" + extra[0].replace("_", "-")
        raise ConfigError(f"--resume continues a run with its saved configuration; drop {flag} (or start a new "
                          f"run without --resume)")
    return TrainConfig(model=args.model, quiet=bool(args.quiet)) if args.model else None


def _report_run(result: Any) -> int:
    if not result.primary:  # a torchrun rank other than 0: rank 0 reports the run
        return {"completed": 0, "interrupted": 130}.get(result.status, 1)
    r = result.results
    if result.status == "completed":
        print(f"run: {result.run_dir}")
        print(f"{views.test_line(r)}  ({r['steps']} steps, {r['epochs_completed']} epochs, {r['train_seconds']:.1f}s)")
        return 0
    print(f"error: {result.message}", file=sys.stderr)
    return 130 if result.status == "interrupted" else 1


def cmd_evaluate(args: argparse.Namespace) -> int:
    from visionbench.train import evaluate_run

    r = evaluate_run(args.run_dir)
    print(f"{args.run_dir}: {views.test_line(r, top5=True)}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from visionbench.studies.compare import CompareConfig, compare_runs, run_comparison
    from visionbench.studies.main import MODELS as MAIN_JOB_MODELS

    console = views.console(args.wide)
    bare = not args.run_dirs and all(getattr(args, k, None) is None for k in ("dataset", "models", "resume",
                                                                              *COMPARE_KEYS)
                                     if k not in ("quiet", "output_dir")) and not args.dataset_option \
        and args.workers == 1
    if bare:  # the main job is the `main` study
        return _run_study(console, "main", seeds=args.seeds, out=args.output_dir or "studies", quiet=bool(args.quiet),
                          wide=args.wide, command=args.command_line)
    if args.run_dirs:
        bad = [k for k in ("dataset", "models", "seeds", "resume", *COMPARE_KEYS)
               if k not in ("output_dir", "quiet") and getattr(args, k, None) is not None]
        bad += ["dataset_option"] if args.dataset_option else []
        bad += ["workers"] if args.workers != 1 else []
        if bad:
            raise ConfigError(f"--{bad[0].replace('_', '-')} trains new runs; it cannot be combined with existing "
                              f"RUN_DIRs (compare those as they are, or drop the run directories)")
        result = compare_runs(args.run_dirs, output_dir=args.output_dir or "comparisons", allow_mixed=args.allow_mixed)
    else:
        cc = CompareConfig(
            dataset=args.dataset or "digits",
            models=args.models if args.models is not None else MAIN_JOB_MODELS,
            seeds=args.seeds or [0],
            epochs=args.epochs, steps=args.steps, time_budget=args.time_budget,
            output_dir=args.output_dir or "comparisons",
            isolate=args.isolate,
            train_overrides=_data_overrides(args, BUDGET_OPTIONS),  # the budget is the comparison's own
        )

        def announce(model: str, seed: int, i: int, total: int) -> None:
            console.print(f"[bold][{i}/{total}][/bold] {model} (seed {seed})", highlight=False)

        result = run_comparison(cc, resume=args.resume, on_run=announce, workers=args.workers)
    views.print_comparison(console, result.report, result.out_dir, args.wide)
    failed = [r for r in result.runs if getattr(r, "status", "completed") == "failed"]
    if failed:
        print(f"error: {len(failed)} of {len(result.runs)} runs failed (see the table and "
              f"{result.out_dir / 'comparison.md'})", file=sys.stderr)
        return 1
    return 0


def _data_overrides(args: argparse.Namespace, leave: Sequence[str] = ()) -> dict[str, Any]:
    """The training options a compare or sweep command gives every run: the data and run flags it was given
    (:data:`COMPARE_KEYS` but ``--output-dir``, which names the command's own folder, and ``leave``) and the
    ``--dataset-option`` pairs."""
    values = {k: getattr(args, k) for k in COMPARE_KEYS
              if k not in (*leave, "output_dir") and getattr(args, k) is not None}
    if args.dataset_option:
        values["dataset_options"] = dict(args.dataset_option)
    return values


def _run_study(console: Any, name: str, *, wide: bool = False, **options: Any) -> int:
    from visionbench.studies import run_study

    def on_part(part: str, done: bool) -> None:
        console.print(f"{part}: " + ("done earlier, kept" if done else "running"), highlight=False)

    result = run_study(name, on_part=on_part,
                       echo=lambda m: console.print(m, highlight=False, markup=False), **options)
    views.print_study(console, result.summary, result.out_dir, wide)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    console = views.console(getattr(args, "wide", False))
    if args.study_command == "list":
        from visionbench.studies import list_studies

        views.print_studies(console, list_studies())
        return 0
    if args.study_command == "report":
        from pathlib import Path

        from visionbench.studies import rebuild_study_report

        summary = rebuild_study_report(args.study_dir)
        views.print_study(console, summary, Path(args.study_dir), args.wide)
        return 0
    return _run_study(console, args.name, quick=args.quick, seeds=args.seeds, dataset=args.dataset,
                      data_dir=args.data_dir, out=args.out, resume=args.resume, quiet=args.quiet, wide=args.wide,
                      weights=args.weights, full=args.full, command=args.command_line, workers=args.workers)


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from visionbench.report import rebuild_report

    report = rebuild_report(args.comparison_dir, allow_mixed=True if args.allow_mixed else None)
    views.print_comparison(views.console(args.wide), report, Path(args.comparison_dir), args.wide)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from visionbench.sweep import SweepConfig, run_sweep

    base = _data_overrides(args)
    sc = SweepConfig(model=args.model, dataset=args.dataset, space=args.space, trials=args.trials,
                     storage=args.storage, study_name=args.study_name, seed=args.seed, out=args.out, base=base,
                     prune=args.prune, baseline=args.baseline)

    def on_trial(t: dict[str, Any]) -> None:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t["params"].items())
        value = t["value"] if t["state"] == "complete" else t["last_reported"]
        shown = "n/a" if value is None else f"{value:.4f}"
        print(f"trial {t['number']}: {t['state']} (val {shown}) {params}", flush=True)

    result = run_sweep(sc, on_trial=on_trial)
    print(f"study {result.study_name}: {len(result.trials)} trials in {result.storage}")
    if result.best is not None:
        print(f"best: trial {result.best['number']}, val {result.best['value']:.4f}"
              + (f" (default recipe: {result.baseline:.4f})" if result.baseline is not None else ""))
        print(f"config: {result.folder / 'best.yaml'}  (visionbench train --config {result.folder / 'best.yaml'})")
    print(f"report: {result.folder / 'sweep.html'}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from visionbench.models import list_models

    names = list_models(args.pattern)
    if not names:
        raise ConfigError(f"no model matches {args.pattern!r}; `visionbench models` lists them all")
    if args.dataset:
        return _models_for_dataset(names, args.dataset, args.data_dir, args.max_train_samples,
                                   dict(args.dataset_option) or None)
    views.print_models(views.console(), names)
    return 0


def _models_for_dataset(names: list[str], dataset: str, data_dir: str | None, cap: int | None,
                        options: dict[str, Any] | None = None) -> int:
    """The recipe each model actually gets on ``dataset``: budget in steps and passes, batch, lr, schedule."""
    from visionbench.data import dataset_status

    status = dataset_status(dataset, data_dir=data_dir, options=options)
    if status.train_size is None:
        raise ConfigError(f"--dataset {dataset}: its size is not known without its files; {status.how_to_get}")
    n_total = min(status.train_size, cap) if cap else status.train_size
    views.print_recipes(views.console(), names, status, n_total, TrainConfig.val_split)
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from visionbench.data import dataset_status, list_datasets

    views.print_datasets(views.console(),
                         [(name, dataset_status(name, data_dir=args.data_dir)) for name in list_datasets()])
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from visionbench.data import download_dataset

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


def cmd_export(args: argparse.Namespace) -> int:
    from visionbench.data.export import export_dataset

    written = export_dataset(args.name, args.out, data_dir=args.data_dir, options=dict(args.dataset_option) or None)
    for split, path in written.items():
        print(f"{split}: {path}")
    return 0


_EXAMPLES = {
    "train": "example:\n  visionbench train --model cnn --dataset fashion-mnist --epochs 5 --seed 1\n"
             "  visionbench train --resume runs/20260101-120000-cnn-fashion-mnist",
    "evaluate": "example:\n  visionbench evaluate runs/20260101-120000-cnn-digits",
    "compare": "examples:\n  visionbench compare                      # the main job: digits, the default models\n"
               "  visionbench compare --dataset fashion-mnist --models mlp,cnn --seeds 0,1,2\n"
               "  visionbench compare --models cnn,mlp,scratch_mlp --time-budget 30   # 30 s of training each\n"
               "  visionbench compare --models mlp,cnn --seeds 0,1,2 --workers 2   # two local workers\n"
               "  visionbench compare --join comparisons/20260101-120000-digits   # another worker on it\n"
               "  visionbench compare runs/a runs/b          # existing runs, no training",
    "report": "example:\n  visionbench report comparisons/20260101-120000-digits",
    "sweep": "examples (space.yaml: `lr: {low: 1e-4, high: 1, log: true}` and `batch_size: [32, 64, 128]`):\n"
             "  visionbench sweep --model cnn --space space.yaml --trials 20 --epochs 5 --study-name cnn-lr\n"
             "  visionbench sweep --model cnn --space space.yaml --trials 20 --epochs 5 --study-name cnn-lr   "
             "# a second process (or machine) joins\n"
             "  visionbench sweep ... --storage postgresql://user@host/optuna --study-name cnn-lr  # many machines\n"
             "  visionbench train --config sweeps/cnn-lr/best.yaml",
    "models": "examples:\n  visionbench models\n  visionbench models 'resnet*'\n"
              "  visionbench models --dataset fashion-mnist --max-train-samples 8000   # the budgets there",
    "datasets": "example:\n  visionbench datasets --data-dir ~/data",
    "download": "example:\n  visionbench download mnist --data-dir ~/data",
    "export": "example:\n  visionbench export scenes:fashion-mnist --out scenes-fmnist "
              "--dataset-option train_scenes=500",
    "study": "examples:\n  visionbench study list\n  visionbench study run diy-autoencoder\n"
             "  visionbench study run diy-nonlinear --quick --seeds 0,1,2\n"
             "  visionbench study run diy-autoencoder --resume studies/20260101-120000-diy-autoencoder\n"
             "  visionbench study run regnet --workers 2   # two local workers share the parts and their runs\n"
             "  visionbench study run regnet --join studies/20260101-120000-regnet   # another worker on it\n"
             "  visionbench study report studies/20260101-120000-diy-autoencoder",
}


def build_parser() -> argparse.ArgumentParser:
    from visionbench import __version__

    parser = Parser(
        prog="visionbench", formatter_class=Formatter,
        description="Build, train and compare image classifiers (NumPy engine and PyTorch) on the machine you have.",
        epilog="example:\n  visionbench compare          # train the default models on digits and compare them",
    )
    parser.add_argument("--version", action="version", version=f"visionbench {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show the full traceback of an error (for bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, epilog=_EXAMPLES[name], formatter_class=Formatter)

    p = add("train", "train one model on one dataset into a new run directory")
    p.add_argument("--model", help="registered model name (see `visionbench models`)")
    p.add_argument("--dataset", help="dataset name (see `visionbench datasets`), default digits")
    p.add_argument("--config", help="YAML, TOML or JSON file of options; flags override it")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--run-name", help="name of the run directory (default: timestamp-model-dataset)")
    add_training_flags(p, full=True)
    p.set_defaults(func=cmd_train)

    p = add("evaluate", "re-evaluate a run's best checkpoint on the test set")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=cmd_evaluate)

    p = add("compare", "train several models on one dataset, each with its own recipe (or the same --epochs, --steps "
                       "or --time-budget for all), and compare them; or compare existing runs")
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="existing runs to compare (no training)")
    p.add_argument("--dataset", help="dataset (default: digits)")
    p.add_argument("--models", type=name_list, help="comma-separated model names (default: the main job's models)")
    p.add_argument("--seeds", type=int_list, help="comma-separated seeds, e.g. 0,1,2 (default: 0)")
    p.add_argument("--resume", "--join", dest="resume", metavar="COMPARISON_DIR",
                   help="continue a comparison, or join the workers on it (here or on another machine sharing the "
                        "folder): each run is trained by one worker only")
    p.add_argument("--workers", type=number(int, "--workers"), default=1, metavar="N",
                   help="N local worker processes share the comparison's runs")
    p.add_argument("--allow-mixed", action="store_true",
                   help="compare runs whose data, budget or recipe differ, one row per configuration")
    p.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=True,
                   help="train each run in its own worker process, so its time, memory and crash are its own")
    p.add_argument("--wide", action="store_true", help="show every column of the table")
    add_training_flags(p, full=False)
    p.set_defaults(func=cmd_compare)

    p = add("report", "rebuild a comparison's report in place from its run directories")
    p.add_argument("comparison_dir", metavar="COMPARISON_DIR")
    p.add_argument("--allow-mixed", action="store_true", help="allow runs whose configurations differ")
    p.add_argument("--wide", action="store_true", help="show every column of the table")
    p.set_defaults(func=cmd_report)

    p = add("sweep", "search hyper-parameters with Optuna (TPE, pruning on the validation curve); each trial is a "
                     "run directory, the best trial's configuration is written to best.yaml")
    p.add_argument("--model", required=True, help="registered model name (see `visionbench models`)")
    p.add_argument("--dataset", default="digits", help="dataset name (see `visionbench datasets`)")
    p.add_argument("--space", required=True, metavar="FILE",
                   help="YAML, TOML or JSON file: TrainConfig fields -> {low, high, log, step} ranges or lists")
    p.add_argument("--trials", type=number(int, "--trials"), default=10, help="trials this process runs")
    p.add_argument("--storage", metavar="URL", help="an Optuna storage URL shared by several processes or machines "
                                                    "(default: sqlite:///<sweep folder>/optuna.db)")
    p.add_argument("--study-name", metavar="NAME", help="the study (and sweep folder) name; the same name and "
                                                        "storage join an existing study (default: stamp-model-dataset)")
    p.add_argument("--seed", type=number(int, "--seed"), default=0, help="seed of the sampler and of every trial")
    p.add_argument("--prune", action=argparse.BooleanOptionalAction, default=True,
                   help="stop trials whose validation accuracy falls below the median of earlier trials")
    p.add_argument("--baseline", action="store_true", help="also train the default recipe once, for the report")
    add_training_flags(p, full=False, out=("--out", "parent folder of the sweep folder (default: sweeps)"))
    p.set_defaults(func=cmd_sweep, out="sweeps")

    p = add("study", "run a study (an experiment of the seed documents) into a report beside the document's numbers")
    study_sub = p.add_subparsers(dest="study_command", metavar="ACTION", parser_class=Parser, required=True)
    q = study_sub.add_parser("list", help="the studies, what each reproduces and how long it takes",
                             formatter_class=Formatter)
    q = study_sub.add_parser("run", help="run a study into studies/<stamp>-NAME/", formatter_class=Formatter,
                             epilog=_EXAMPLES["study"])
    q.add_argument("name", metavar="NAME", help="a study name (see `visionbench study list`)")
    q.add_argument("--quick", action="store_true", help="the small variant (minutes; a smoke test, not the protocol)")
    q.add_argument("--full", action="store_true", help="the study's longest tier, where it has one (regnet: the "
                                                       "paper's CIFAR budget, for a GPU; see `visionbench study list`)")
    q.add_argument("--seeds", type=int_list, help="comma-separated seeds (default: the study's)")
    q.add_argument("--dataset", help="a dataset the study accepts (default: the study's choice)")
    q.add_argument("--data-dir", help="folder to search first for dataset files")
    q.add_argument("--weights", help="initial weights, for a study that takes them (lab2: 'imagenet' or "
                                     "'alexnet=FILE,vgg16=FILE'; see `visionbench study list`)")
    q.add_argument("--out", default="studies", help="parent folder of the study directory")
    q.add_argument("--resume", "--join", dest="resume", metavar="STUDY_DIR",
                   help="continue a study, or join the workers on it (here or on another machine sharing the "
                        "folder): finished parts are kept, each part is done by one worker")
    q.add_argument("--workers", type=number(int, "--workers"), default=1, metavar="N",
                   help="N local worker processes share the study's parts")
    q.add_argument("--quiet", action="store_true", help="no progress bars for the training runs")
    q.add_argument("--wide", action="store_true", help="show every column of the table")
    q = study_sub.add_parser("report", help="rebuild a study's summary.json, report.html and report.md in place",
                             formatter_class=Formatter)
    q.add_argument("study_dir", metavar="STUDY_DIR")
    q.add_argument("--wide", action="store_true", help="show every column of the table")
    p.set_defaults(func=cmd_study)

    p = add("models", "list the registered models, or the recipe each gets on a dataset")
    p.add_argument("pattern", nargs="?", help="shell pattern, e.g. 'resnet*'")
    p.add_argument("--dataset", help="show the budget (steps, epochs), batch, lr and schedule used on this dataset")
    p.add_argument("--data-dir", help="folder to search first for the dataset")
    p.add_argument("--max-train-samples", type=number(int, "--max-train-samples"), help="as for train")
    add_dataset_option(p, "as for train (scenes:NAME options)")
    p.set_defaults(func=cmd_models)

    p = add("datasets", "list the datasets: found where, or how to get them")
    p.add_argument("--data-dir", help="folder to search first")
    p.set_defaults(func=cmd_datasets)

    p = add("download", "download a dataset from its canonical URLs (checksums verified)")
    p.add_argument("name", help="dataset name")
    p.add_argument("--data-dir", help="destination (default: the user cache)")
    p.add_argument("--force", action="store_true", help="download again even if present")
    p.set_defaults(func=cmd_download)

    p = add("export", "write a detection dataset (scenes:NAME, coco:PATH) as PNG images + COCO JSON")
    p.add_argument("name", help="dataset name, e.g. scenes:digits")
    p.add_argument("--out", required=True, metavar="DIR", help="a new (or empty) folder")
    p.add_argument("--data-dir", help="folder holding the source dataset's files (searched first)")
    add_dataset_option(p, "as for train (scenes:NAME options)")
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``visionbench`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # What the run records as the command that made it: the arguments given, whoever calls main().
    args.command_line = shlex.join(["visionbench", *(sys.argv[1:] if argv is None else argv)])
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        if torchrun_world() > 1 and args.func is not cmd_train:
            raise ConfigError(f"`visionbench {args.command}` runs in one process; only `visionbench train` runs "
                              f"under torchrun (WORLD_SIZE={os.environ['WORLD_SIZE']})")
        return int(args.func(args))
    except VisionbenchError as exc:
        if args.verbose:
            raise
        rank = torchrun_rank()
        if not (rank and exc.every_rank):  # an error every rank meets is rank 0's to say
            print(f"error: {f'rank {rank}: ' if rank else ''}{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        if not torchrun_rank():  # a Ctrl-C reaches every rank: rank 0 says it
            print(f"interrupted{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback with --verbose
        if args.verbose:
            raise
        first = (str(exc).splitlines() or [""])[0]
        print(f"error: internal error ({type(exc).__name__}: {first}); run again with --verbose and report the "
              f"traceback", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
