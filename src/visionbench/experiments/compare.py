"""``compare``: train several models and seeds under one budget into one comparison directory, then report.

A comparison directory ``comparisons/<YYYYmmdd-HHMMSS>-<dataset>/`` holds ``plan.json`` (what is to be trained),
``runs/`` (one run directory per model and seed) and the report (``comparison.csv``, ``comparison.md``, plots).
Running the same comparison with ``resume`` skips finished runs and resumes interrupted ones.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visionbench.errors import ConfigError, RunError
from visionbench.models import get_entry
from visionbench.report.build import build_comparison_report
from visionbench.runs import find_runs, read_run, unique_dir, write_json
from visionbench.train import TrainConfig, TrainResult, train

__all__ = ["MAIN_JOB_EPOCHS", "MAIN_JOB_MODELS", "CompareConfig", "ComparisonResult", "run_comparison", "compare_runs"]

# The main job (`visionbench compare` with no argument): one model of each family on digits, all for the same
# number of epochs, about two minutes on a 2-core CPU.
MAIN_JOB_MODELS = ("mlp", "cnn", "scratch_mlp", "scratch_cnn2d", "resnet20", "vit_tutorial")
MAIN_JOB_EPOCHS = 30


@dataclass
class CompareConfig:
    """A comparison: the same dataset, data budget and epochs for every model and seed.

    Attributes:
        dataset: dataset name.
        models: registered model names.
        seeds: one run per model and seed.
        epochs: the same number of epochs for every model (None: each model's recipe).
        output_dir: parent folder of the comparison directory.
        name: the comparison directory's name (default: ``<timestamp>-<dataset>``).
        train_overrides: TrainConfig fields applied to every run (data_dir, max_train_samples, device, threads...).
    """

    dataset: str = "digits"
    models: Sequence[str] = MAIN_JOB_MODELS
    seeds: Sequence[int] = (0,)
    epochs: int | None = None
    output_dir: str = "comparisons"
    name: str | None = None
    train_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class ComparisonResult:
    out_dir: Path
    runs: list[TrainResult | Path]
    report: dict[str, Any]


def _check(cc: CompareConfig) -> None:
    if not cc.models:
        raise ConfigError("--models: give at least one model name")
    if not cc.seeds:
        raise ConfigError("--seeds: give at least one seed")
    for name in cc.models:
        get_entry(name)  # unknown names fail here, before any training
    TrainConfig(dataset=cc.dataset, epochs=cc.epochs, **cc.train_overrides).validate()


def run_comparison(cc: CompareConfig, *, resume: str | Path | None = None,
                   on_run: Callable[[str, int, int, int], None] | None = None) -> ComparisonResult:
    """Train every (model, seed) of ``cc`` and build the report; with ``resume``, continue that comparison.

    Args:
        cc: the comparison (ignored when resuming: the plan saved in the directory is used).
        resume: an existing comparison directory.
        on_run: called as ``on_run(model, seed, index, total)`` before each run (for the CLI to print).
    """
    if resume is not None:
        out_dir = Path(resume)
        plan_path = out_dir / "plan.json"
        if not plan_path.is_file():
            raise RunError(f"--resume {out_dir}: not a comparison directory (no plan.json)")
        plan = json.loads(plan_path.read_text())
        known = {f.name for f in dataclasses.fields(CompareConfig)}
        cc = CompareConfig(**{k: v for k, v in plan.items() if k in known})
    _check(cc)
    if resume is None:
        out_dir = unique_dir(cc.output_dir, cc.name or f"{time.strftime('%Y%m%d-%H%M%S')}-{cc.dataset}")
        write_json(out_dir / "plan.json", dataclasses.asdict(cc) | {"models": list(cc.models),
                                                                   "seeds": list(cc.seeds)})
    runs_dir = out_dir / "runs"
    existing = {}
    for path in find_runs(runs_dir) if runs_dir.exists() else []:
        run = read_run(path)
        existing[(run.model, int(run.config.get("seed", -1)))] = run
    done: list[TrainResult | Path] = []
    total = len(cc.models) * len(cc.seeds)
    for i, (model, seed) in enumerate(((m, s) for m in cc.models for s in cc.seeds), start=1):
        if on_run:
            on_run(model, seed, i, total)
        prior = existing.get((model, seed))
        if prior is not None and prior.status == "completed":
            done.append(prior.path)
            continue
        if prior is not None and prior.status != "diverged":
            result = train(TrainConfig(model=model, quiet=cc.train_overrides.get("quiet", False)), resume=prior.path)
        else:
            cfg = TrainConfig(model=model, dataset=cc.dataset, seed=seed, epochs=cc.epochs, output_dir=str(runs_dir),
                              run_name=f"{model}-seed{seed}", **cc.train_overrides)
            result = train(cfg)
        done.append(result)
        if result.status == "interrupted":
            raise KeyboardInterrupt(f"comparison interrupted; resume with: visionbench compare --resume {out_dir}")
    report = build_comparison_report(find_runs(runs_dir), out_dir,
                                     title=f"{cc.dataset}: {', '.join(cc.models)}")
    return ComparisonResult(out_dir, done, report)


def compare_runs(run_dirs: Sequence[str | Path], *, output_dir: str = "comparisons",
                 name: str | None = None) -> ComparisonResult:
    """Compare existing run directories (or folders holding runs) without training."""
    paths: list[Path] = []
    for item in run_dirs:
        found = find_runs(item) if Path(item).is_dir() else []
        if not found:
            read_run(item)  # raises the one-line error naming the folder
        paths.extend(found)
    target = unique_dir(output_dir, name or f"{time.strftime('%Y%m%d-%H%M%S')}-runs")
    report = build_comparison_report(paths, target, title="comparison of existing runs")
    return ComparisonResult(target, list(paths), report)
