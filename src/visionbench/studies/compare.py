"""``compare``: train several models and seeds under the same rules into one comparison directory, then report.

A comparison directory ``comparisons/<YYYYmmdd-HHMMSS>-<dataset>/`` holds ``plan.json`` (what is to be trained),
``runs/`` (one run directory per model and seed) and the report (``comparison.csv``, ``comparison.md``, plots).
Running the same comparison with ``resume`` skips finished runs, resumes interrupted or killed ones from their
checkpoints in their own folders, and trains again a run that diverged or failed after moving the old folder to
``retired/`` (the report reads ``runs/`` only, so each model and seed counts once).

The unit of work is the run, not the comparison: several processes on one comparison directory (``--workers N``
here, or ``--resume DIR`` on other machines sharing the folder) each claim the next run nobody holds
(``.claims/<model>-seed<N>/.lock``, an ``flock`` that dies with its process), bring it to an end and go on; a run a
live process is training is never touched, and one whose worker died is resumed by another.

Each (model, seed) trains in its own worker process by default, so its time and peak memory are its own and a run
that crashes (even in native code) is reported as failed while the others go on.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visionbench.errors import ConfigError, RunError, VisionbenchError
from visionbench.models import get_entry
from visionbench.report.build import build_comparison_report
from visionbench.runs import (
    RETIRED_DIR,
    Run,
    attempt_rank,
    check_writable,
    find_runs,
    holder,
    latest_attempt,
    read_run,
    slug,
    try_claim,
    unique_dir,
    wait_for_lock,
    write_json,
)
from visionbench.studies._jobs import run_result, run_workers, train_job, worker_context
from visionbench.studies.main import MODELS as MAIN_JOB_MODELS
from visionbench.train import TrainConfig, TrainResult
from visionbench.train.config import OWN_OPTIONS

__all__ = ["CompareConfig", "ComparisonResult", "plan_comparison", "run_comparison", "compare_runs", "train_job",
           "worker_context"]


@dataclass
class CompareConfig:
    """A comparison: the same dataset, data and budget rule for every model and seed.

    Attributes:
        dataset: dataset name.
        models: registered model names (default: the main study's).
        seeds: one run per model and seed.
        epochs: the same number of passes for every model (None: each model's recipe).
        steps: the same number of optimiser steps for every model (None: each model's recipe).
        time_budget: the same seconds of training for every model; each gets the steps that fit (None: recipes).
        output_dir: parent folder of the comparison directory.
        name: the comparison directory's name (default: ``<timestamp>-<dataset>``).
        isolate: train each run in its own worker process (its own time, memory and crash); False runs in-process.
        train_overrides: TrainConfig fields applied to every run (data_dir, max_train_samples, device, threads...).
    """

    dataset: str = "digits"
    models: Sequence[str] = MAIN_JOB_MODELS
    seeds: Sequence[int] = (0,)
    epochs: int | None = None
    steps: int | None = None
    time_budget: float | None = None
    output_dir: str = "comparisons"
    name: str | None = None
    isolate: bool = True
    train_overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class ComparisonResult:
    out_dir: Path
    runs: list[TrainResult | Path]
    report: dict[str, Any]
    pending: list[str] = field(default_factory=list)  # runs other workers still held when the report was built


def _base_config(cc: CompareConfig, model: str, seed: int) -> TrainConfig:
    return TrainConfig(model=model, dataset=cc.dataset, seed=seed, epochs=cc.epochs, steps=cc.steps,
                       time_budget=cc.time_budget, **cc.train_overrides)


def _check(cc: CompareConfig) -> None:
    """Everything that can be checked before the comparison directory is made (so a mistake leaves nothing)."""
    if not cc.models:
        raise ConfigError("--models: give at least one model name")
    if not cc.seeds:
        raise ConfigError("--seeds: give at least one seed")
    if len(set(cc.models)) != len(cc.models):
        raise ConfigError("--models: a model is named twice; name each once")
    for name in cc.models:
        get_entry(name)  # unknown names fail here, before any training
    unknown = sorted(set(cc.train_overrides) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ConfigError(f"compare: unknown training option {unknown[0]!r}")
    base = _base_config(cc, cc.models[0], cc.seeds[0])
    base.check_budget_flags()
    base.validate()
    check_writable(cc.output_dir)
    from visionbench.data import dataset_status

    status = dataset_status(cc.dataset, data_dir=cc.train_overrides.get("data_dir"),
                            options=cc.train_overrides.get("dataset_options") or None)
    if not status.found and not cc.train_overrides.get("download"):
        raise ConfigError(f"--dataset {cc.dataset}: not found; {status.how_to_get}")


def _dataset_slug(dataset: str) -> str:
    # imagefolder:/data/x -> imagefolder-x : a folder name, never a path
    if ":" in dataset:
        kind, path = dataset.split(":", 1)
        dataset = f"{kind}-{path.rstrip('/').rsplit('/', 1)[-1]}"
    return slug(dataset).strip(".") or "dataset"


def run_comparison(cc: CompareConfig, *, resume: str | Path | None = None,
                   on_run: Callable[[str, int, int, int], None] | None = None, workers: int = 1,
                   wait: bool = True, report: bool = True, retry: bool = True) -> ComparisonResult:
    """Train every (model, seed) of ``cc`` and build the report; with ``resume``, join or continue that comparison.

    Several processes (here, or on other machines sharing the folder) may work on one comparison directory at once:
    each takes the next run that is neither finished nor claimed by a live process (see :func:`_train_missing`), so no
    run is trained twice, and a run whose worker died is resumed by another from its checkpoint.

    Args:
        cc: the comparison. When resuming, the plan saved in the directory is used, with this worker's own
            :data:`OWN_OPTIONS`; any other option of ``cc`` that is neither its default nor the plan's is refused
            (:class:`ConfigError`, one line naming the flags to drop), never ignored.
        resume: an existing comparison directory: continue it, or join the workers already on it.
        on_run: called as ``on_run(model, seed, index, total)`` before each run this process trains or resumes.
        workers: start this many local worker processes on the comparison (the plan is written once first) and
            wait for them; 1 works in this process.
        wait: while runs are held by other workers, wait for them (taking over any whose worker dies) instead of
            ending; a report built before they finish names them in ``pending`` and says they are still training.
        report: build the report at the end (under the comparison folder's lock: one writer at a time).
        retry: train again a run that diverged or failed before this worker started (False: it is final; a study
            worker that helps with another worker's comparison leaves that choice to it).
    """
    if workers < 1:
        raise ConfigError(f"--workers {workers}: give 1 or more worker processes")
    own = {k: v for k, v in cc.train_overrides.items() if k in OWN_OPTIONS}
    if resume is not None:
        out_dir = Path(resume)
        planned = _read_plan(out_dir, own)
        _refuse_changes(cc, planned, out_dir)
        cc = planned
        check_writable(out_dir, "--resume")
        _check(cc)
    else:
        out_dir = plan_comparison(cc)
    if workers > 1:
        run_workers(out_dir, workers, _join_worker, (str(out_dir), own), what="comparison",
                    again=f"visionbench compare --resume {out_dir}")
        done: list[TrainResult | Path] = [run_result(p) for p in find_runs(out_dir / "runs")]
        pending: list[str] = []
    else:
        done, pending = _train_missing(cc, out_dir, on_run, wait=wait, retry=retry)
    result = ComparisonResult(out_dir, done, {}, pending)
    if report:
        with wait_for_lock(out_dir):  # held only while a report is written (seconds)
            result.report = build_comparison_report(find_runs(out_dir / "runs"), out_dir,
                                                    title=f"{cc.dataset}: {', '.join(cc.models)}")
    return result


def plan_comparison(cc: CompareConfig) -> Path:
    """Check ``cc``, make its comparison directory and write ``plan.json`` there, training nothing: workers then
    join it with ``run_comparison(..., resume=DIR)``. Returns the directory."""
    _check(cc)
    out_dir = unique_dir(cc.output_dir, cc.name or f"{time.strftime('%Y%m%d-%H%M%S')}-{_dataset_slug(cc.dataset)}")
    write_json(out_dir / "plan.json", dataclasses.asdict(cc) | {"models": list(cc.models), "seeds": list(cc.seeds)})
    return out_dir


#: Training options that are each worker's own choice, not the plan's: a worker joining a comparison (``resume``, or
#: one of ``--workers N``) hides its progress bars or not, and logs the runs it trains to its own ``--log-to``.


def _read_plan(out_dir: Path, own: dict[str, Any]) -> CompareConfig:
    """The CompareConfig saved in ``out_dir/plan.json``, with this worker's ``own`` choices (:data:`OWN_OPTIONS`)."""
    plan_path = out_dir / "plan.json"
    if not plan_path.is_file():
        raise RunError(f"--resume {out_dir}: not a comparison directory (no plan.json); give a folder made by "
                       f"`visionbench compare`")
    try:
        plan = json.loads(plan_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{plan_path}: unreadable ({exc}); the comparison directory is damaged") from None
    known = {f.name for f in dataclasses.fields(CompareConfig)}
    cc = CompareConfig(**{k: v for k, v in plan.items() if k in known})
    cc.train_overrides.update(own)
    return cc


#: What a comparison keeps from its plan, whoever joins it (a worker's own choices are :data:`OWN_OPTIONS`; where the
#: plan was made, ``output_dir`` and ``name``, is the directory being resumed).
PLANNED = ("dataset", "models", "seeds", "epochs", "steps", "time_budget", "isolate")


def _refuse_changes(given: CompareConfig, planned: CompareConfig, out_dir: Path) -> None:
    """A comparison keeps the options it was planned with: refuse, in one line, every option of ``given`` (and every
    training option but :data:`OWN_OPTIONS`) whose value is neither the default nor the plan's: it would be ignored."""
    def ignored(value: Any, default: Any, plan: Any) -> bool:
        return not _same(value, default) and not _same(value, plan)

    default, run_default = CompareConfig(), TrainConfig().to_dict()
    changed = [k for k in PLANNED if ignored(getattr(given, k), getattr(default, k), getattr(planned, k))]
    changed += [k for k, v in given.train_overrides.items() if k not in OWN_OPTIONS
                and ignored(v, run_default.get(k), planned.train_overrides.get(k, run_default.get(k)))]
    if changed:
        flags = ", ".join(_flag(k, getattr(given, k, None)) for k in changed)
        raise ConfigError(f"{flags}: the comparison in {out_dir} keeps the options it was planned with; drop {flags} "
                          f"(or start a new comparison without --resume/--join)")


def _same(a: Any, b: Any) -> bool:
    # A plan read back from JSON has lists where the caller may give tuples.
    return (list(a) if isinstance(a, tuple) else a) == (list(b) if isinstance(b, tuple) else b)


def _flag(key: str, value: Any) -> str:
    if key == "isolate":
        return "--isolate" if value else "--no-isolate"
    return "--dataset-option" if key == "dataset_options" else f"--{key.replace('_', '-')}"


def _existing_runs(runs_dir: Path) -> dict[tuple[str, int], Run]:
    """The runs already in ``runs_dir`` by (model, seed): a completed one first, else one being trained, else the
    last by name (:func:`~visionbench.runs.attempt_rank`)."""
    existing: dict[tuple[str, int], Run] = {}
    for path in find_runs(runs_dir) if runs_dir.exists() else []:
        try:
            run = read_run(path)
        except RunError:
            if path.exists():
                raise
            continue  # another worker moved it to retired/ while we looked
        key = (run.model, int(run.config.get("seed", -1)))
        if key not in existing or attempt_rank(run) >= attempt_rank(existing[key]):
            existing[key] = run
    return existing


def _prior(runs_dir: Path, model: str, seed: int) -> Run | None:
    """What earlier attempts left for one (model, seed): only its folders are read (``<model>-seed<N>``, ``-2``...,
    the names its runs are given), not the whole comparison, which every claim of every pass would read again."""
    return latest_attempt(runs_dir, f"{model}-seed{seed}")


# A comparison's workers claim runs as ``<comparison>/.claims/<model>-seed<N>/.lock`` (runs.CLAIMS_DIR), held by the
# worker that is bringing that run to an end. A claim lives beside the run's folder rather than in it because the
# training process locks the run's folder itself (it may be another process: see :func:`train_job`), and a folder
# must exist before it can be locked, while a new run's folder is only made by the training.

#: Seconds between two looks at runs held by other workers (a dead worker's run is taken over within this time).
POLL_SECONDS = 1.0


def _train_missing(cc: CompareConfig, out_dir: Path, on_run: Callable[[str, int, int, int], None] | None, *,
                   wait: bool = True, retry: bool = True) -> tuple[list[TrainResult | Path], list[str]]:
    """Bring each (model, seed) of the plan to an end, taking turns with any other worker on ``out_dir``.

    A run is taken only under its claim (:func:`visionbench.runs.try_claim`), and its state is read after the claim is
    held, so two workers never train one run. A run that diverged or failed before this worker started is trained
    again (once: its folder moves to ``retired/``); one that ended so while it works is final. Returns what this
    worker did or found finished, and the runs other workers still hold (empty unless ``wait`` is False).
    """
    runs_dir = out_dir / "runs"
    plan = [(m, s) for m in cc.models for s in cc.seeds]
    retried = {_identity(r.path) for r in _existing_runs(runs_dir).values()
               if r.status not in ("completed", "running", *RESUMABLE)} if retry else set()
    results: dict[tuple[str, int], TrainResult | Path] = {}
    while True:
        held: list[str] = []
        for i, (model, seed) in enumerate(plan, start=1):
            if (model, seed) in results:
                continue
            claim = try_claim(out_dir, f"{slug(model)}-seed{seed}")
            if claim is None:
                held.append(f"{model}-seed{seed}")
                continue
            with claim:
                prior = _prior(runs_dir, model, seed)
                if prior is not None and prior.status == "running":  # trained outside the claims (by hand)
                    held.append(prior.path.name)
                    continue
                if prior is not None and (prior.status == "completed" or prior.status not in RESUMABLE and
                                          _identity(prior.path) not in retried):
                    results[(model, seed)] = prior.path  # done, or it failed after this worker started: not again
                    continue
                if on_run:
                    on_run(model, seed, i, len(plan))
                cfg = dataclasses.replace(_base_config(cc, model, seed), output_dir=str(runs_dir),
                                          run_name=f"{model}-seed{seed}")
                result = run_once(prior, cfg, out_dir, quiet=cc.train_overrides.get("quiet", False),
                                  isolate=cc.isolate)
            results[(model, seed)] = result
            if isinstance(result, TrainResult) and result.status == "interrupted":
                raise KeyboardInterrupt(f"comparison interrupted; resume with: visionbench compare --resume {out_dir}")
        if not held or not wait:
            return [results[k] for k in plan if k in results], held
        time.sleep(POLL_SECONDS)


def _identity(path: Path) -> tuple[int, int] | None:
    # A run folder's identity: a run trained again gets a new folder (the old one moves to retired/, same inode).
    try:
        st = path.stat()
    except OSError:  # moved to retired/ by another worker meanwhile
        return None
    return st.st_dev, st.st_ino


def _join_worker(out_dir: str, own: dict[str, Any]) -> None:
    # One of --workers N (its own process): a worker like any other on the comparison, with the choices of the process
    # that started it (OWN_OPTIONS); one line per run it takes.
    def announce(model: str, seed: int, i: int, total: int) -> None:
        print(f"[{i}/{total}] {model} (seed {seed}) - worker {os.getpid()}", flush=True)

    run_comparison(CompareConfig(train_overrides=dict(own)), resume=out_dir, on_run=announce, report=False)


#: Statuses of a run that continues from its checkpoint: stopped by Ctrl-C, or killed (no results.json written).
RESUMABLE = ("interrupted", "incomplete")


def _busy(run: Run) -> RunError:
    return RunError(f"{run.path}: {holder(run.locked_by)} is training this run now; let it finish (or stop it), "
                    f"then resume again")


def run_once(prior: Run | None, cfg: TrainConfig, home: Path, *, quiet: bool, isolate: bool) -> TrainResult | Path:
    """Bring one planned run to an end, whatever an earlier attempt left (a comparison's or a study's run).

    Args:
        prior: the run an earlier attempt made for this plan (None: none).
        cfg: the plan, its ``output_dir`` and ``run_name`` set.
        home: the comparison or study directory; a diverged or failed ``prior`` moves to ``home/retired/``.
        quiet: hide the progress bar of a resumed run.
        isolate: train in a worker process (see :func:`train_job`).

    Returns:
        ``prior.path`` when it completed; otherwise the result of resuming it (stopped or killed) or of training
        ``cfg`` afresh (none, diverged or failed: one folder per plan either way).

    Raises:
        RunError: ``prior`` is being trained by a live process.
    """
    if prior is not None:
        if prior.status == "completed":
            return prior.path
        if prior.status == "running":
            raise _busy(prior)
        if prior.status in RESUMABLE:
            return train_job({"resume": str(prior.path), "quiet": quiet}, isolate=isolate)
        _retire(prior.path, home)
    return train_job({"config": cfg.to_dict()}, isolate=isolate)


def _retire(path: Path, out_dir: Path) -> Path:
    """Move a run out of ``runs/`` into ``retired/`` (never overwriting an earlier one) and return where it went."""
    target = unique_dir(out_dir / RETIRED_DIR, path.name)
    target.rmdir()  # the name is ours: put the run there
    path.rename(target)
    return target


def compare_runs(run_dirs: Sequence[str | Path], *, output_dir: str = "comparisons",
                 name: str | None = None, allow_mixed: bool = False) -> ComparisonResult:
    """Compare existing run directories (or folders holding runs) without training.

    Runs of one model that differ in what makes them comparable (data, budget, recipe) are refused unless
    ``allow_mixed``; then each configuration gets its own row.
    """
    paths: list[Path] = []
    for item in run_dirs:
        found = find_runs(item) if Path(item).is_dir() else []
        if not found:
            read_run(item)  # raises the one-line error naming the folder
        paths.extend(found)
    target = unique_dir(output_dir, name or f"{time.strftime('%Y%m%d-%H%M%S')}-runs")
    try:
        report = build_comparison_report(paths, target, title="comparison of existing runs", allow_mixed=allow_mixed)
    except VisionbenchError:
        _remove_empty_tree(target)
        raise
    return ComparisonResult(target, list(paths), report)


def _remove_empty_tree(path: Path) -> None:
    """Remove a folder this command just made, if nothing but empty folders is in it (never user files)."""
    for sub in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if sub.is_dir() and not any(sub.iterdir()):
            sub.rmdir()
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()
