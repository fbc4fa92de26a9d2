"""The one training pipeline: config -> fit -> evaluate -> run directory, for both engines.

Exact resume: every source of randomness in epoch ``e`` (shuffling, augmentation, dropout) is seeded from
``(seed, e)``, the learning rate is a pure function of the global step, and the checkpoint written after each epoch
holds the weights and the optimizer state. Resuming after epoch ``k`` therefore replays epochs ``k+1..n`` exactly as
an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from visionbench import costs
from visionbench.errors import ConfigError, RunError, met_by_every_rank
from visionbench.runs import (
    DirLock,
    Run,
    check_writable,
    checkpoint_path,
    claim_run_dir,
    lock_dir,
    read_run,
    remove_temporaries,
    run_name,
    write_history,
    write_json,
)
from visionbench.train import distributed
from visionbench.train.config import TrainConfig
from visionbench.train.distributed import Dist
from visionbench.train.probe import plan_time_budget
from visionbench.train.progress import EpochProgress
from visionbench.train.schedule import epoch_seed, lr_at
from visionbench.train.session import Session, build_session, resolve_device
from visionbench.train.trackers import Tracker, check_log_to, open_tracker

__all__ = ["TrainResult", "train", "evaluate_run", "plan_time_budget"]  # plan_time_budget: train/probe.py

log = logging.getLogger("visionbench.train")

#: The tracker of a run without ``--log-to`` (and of the ranks other than 0): it sends nothing.
NO_TRACKER = Tracker()


@dataclass
class TrainResult:
    """What :func:`train` returns: where the run is and how it ended."""

    run_dir: Path
    status: str  # "completed" | "diverged" | "interrupted" | "pruned"
    results: dict[str, Any]
    message: str = ""
    #: This process reports the run (False on the ranks other than 0 under torchrun: rank 0 speaks for them).
    primary: bool = True


def _setup_logging(run_dir: Path, quiet: bool) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("visionbench")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def _checkpoint_path(run_dir: Path, name: str, session: Session) -> Path:
    return checkpoint_path(run_dir, name, session.backend.checkpoint_suffix)


def _prepare_resume(resume: str | Path, cfg: TrainConfig | None, *,
                    trackers: bool = True) -> tuple[Run, TrainConfig]:
    """The run in ``resume`` and its saved configuration (``trackers=False``: without its ``--log-to``, for
    reading a finished run on a machine that lacks the tracker's package)."""
    run = read_run(resume)
    saved = {k: v for k, v in run.config.items() if k in {f.name for f in dataclasses.fields(TrainConfig)}}
    if not trackers:
        saved.pop("log_to", None)
    elif isinstance(saved.get("log_to"), (list, tuple)):  # the run keeps its trackers: no "drop --log-to" here
        try:
            check_log_to(tuple(str(n) for n in saved["log_to"]), droppable=False)
        except ConfigError as exc:
            raise ConfigError(f"--resume {run.path}: the run sends its epochs to a tracker, and {exc}") from None
    if cfg is not None and cfg.model != saved.get("model"):
        raise RunError(f"--resume {run.path}: that run trains {saved.get('model')!r}, not {cfg.model!r}; "
                       f"drop --model or start a new run")
    resumed = TrainConfig.from_dict(saved, source=str(run.path / "config.json"))
    if cfg is not None:
        resumed = dataclasses.replace(resumed, quiet=cfg.quiet)
    return run, resumed


def train(cfg: TrainConfig | None = None, *, resume: str | Path | None = None,
          on_start: Callable[[Path], None] | None = None,
          on_epoch: Callable[[dict[str, Any]], bool | None] | None = None) -> TrainResult:
    """Train a model as ``cfg`` says, or continue the run in ``resume``; returns the run directory and status.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) the processes train the run together, data-parallel, and rank 0 alone
    writes it (:mod:`visionbench.train.distributed`); resume it with the same command and ``--resume``.

    The run directory is locked while this process trains it (:func:`visionbench.runs.lock_dir`): a second
    process resuming it is refused, and readers see it as ``running``. A run killed at any moment (SIGKILL
    included) resumes from its last checkpoint to the same weights as a run never stopped.

    Args:
        cfg: the configuration (None only when resuming).
        resume: a run directory to continue from its last checkpoint.
        on_start: called with the run directory once it is made (or locked, when resuming), before training.
        on_epoch: called with each epoch's history row (validation metrics included) once the epoch is validated;
            returning True stops the run there with status ``pruned`` (a sweep's pruner): the epoch is
            checkpointed, and the run ends as a diverged one does (best weights on the test set, results.json).
    """
    dist = distributed.setup(cfg.device if cfg is not None else None)
    where: list[Path] = []  # the run directory, once known (for the message below)
    try:
        return _train(cfg, dist, resume, on_start, on_epoch, where)
    except Exception as exc:
        if dist.world > 1 and distributed.peer_lost(exc):
            hint = f"resume with: {_resume_command(dist, where[0])}" if where else "start it again"
            raise RunError(f"torchrun: another process of this run stopped ({distributed.first_line(exc)}); its "
                           f"last checkpoint is kept; {hint}") from exc
        raise
    finally:
        distributed.teardown(dist)


def _train(cfg: TrainConfig | None, dist: Dist, resume: str | Path | None,
           on_start: Callable[[Path], None] | None,
           on_epoch: Callable[[dict[str, Any]], bool | None] | None, where: list[Path]) -> TrainResult:
    """:func:`train` in one process of ``dist``: rank 0 reads and writes the run directory, and hands what it
    read (the resumed configuration, the run directory, the checkpoint) to the other ranks."""
    held: list[DirLock] = []  # the run's lock, held by rank 0 only; released however _train_locked ends
    try:
        return _train_locked(cfg, dist, resume, on_start, on_epoch, where, held)
    finally:
        for lock in held:
            lock.release()


def _train_locked(cfg: TrainConfig | None, dist: Dist, resume: str | Path | None,
                  on_start: Callable[[Path], None] | None,
                  on_epoch: Callable[[dict[str, Any]], bool | None] | None, where: list[Path],
                  held: list[DirLock]) -> TrainResult:
    run_dir: Path | None = None
    if resume is not None:
        def prepare() -> tuple[Path, TrainConfig]:
            run, saved = _prepare_resume(resume, cfg)
            check_writable(run.path, "--resume")
            held.append(lock_dir(run.path))
            return run.path, saved

        run_dir, cfg = dist.on_writer(prepare)
        where.append(run_dir)
    elif cfg is None:
        raise ValueError("train() needs a config or a run directory to resume")
    with met_by_every_rank():  # the same options on every rank: rank 0 alone says what is wrong with them
        if resume is None:
            cfg.validate()  # (a resumed run's saved config is validated by build_session)
        if dist.world > 1:
            distributed.check_engine(cfg.model)  # every rank knows the model: no collective needed to refuse it
    if resume is None:  # a read-only folder: one line before any data is read
        dist.on_writer(lambda: check_writable(cfg.output_dir))
    device = resolve_device(cfg.device)
    costs.reset_peak_memory(device)  # the run's own peak: data, model, optimiser and activations
    baseline_mb = costs.current_memory_mb(device)
    session = build_session(cfg)
    if dist.world > 1:
        session = dataclasses.replace(session, dist=dataclasses.replace(dist, device=session.device))
        with met_by_every_rank():
            session.dist.check_batches(len(session.train), int(session.cfg.batch_size or 0))
        session.backend.distribute(session.dist, sync_bn=session.cfg.sync_bn)
    if session.budget is None:  # a time budget: measure the speed, then fix the step count before step one
        session = plan_time_budget(session)
    if run_dir is None:
        def create() -> Path:
            path, lock = _create_run(session)
            held.append(lock)
            return path

        run_dir = session.dist.on_writer(create)
        where.append(run_dir)
        start_epoch, history, best = 1, [], _no_best(session)
    else:
        start_epoch, history, best = session.dist.on_writer(lambda: _resume_point(session, run_dir))
        session.backend.share(session.dist)  # rank 0 read the checkpoint
    if not session.dist.writer:  # its warnings (a Ctrl-C's) are rank 0's too: only rank 0 says them
        silent = logging.NullHandler()
        logging.getLogger("visionbench").addHandler(silent)
        try:
            return dataclasses.replace(_fit(session, run_dir, start_epoch, history, best, baseline_mb),
                                       primary=False)
        finally:
            logging.getLogger("visionbench").removeHandler(silent)
    if on_start is not None:
        on_start(run_dir)
    handler = _setup_logging(run_dir, session.cfg.quiet)
    tracker = open_tracker(session, run_dir, resumed=resume is not None)
    try:
        return _fit(session, run_dir, start_epoch, history, best, baseline_mb, on_epoch, tracker)
    finally:
        tracker.close()
        logging.getLogger("visionbench").removeHandler(handler)
        handler.close()


def _no_best(session: Session) -> dict[str, Any]:
    return {session.task.monitor: -1.0, "epoch": 0}


def _create_run(session: Session) -> tuple[Path, DirLock]:
    """Claim and lock a new run directory; write config.json and the epoch-0 checkpoint (the initial weights, so
    a run stopped during its first epoch resumes)."""
    cfg, backend, budget = session.cfg, session.backend, session.budget
    assert budget is not None
    run_dir, lock = claim_run_dir(cfg.output_dir, cfg.run_name or run_name(cfg.model, session.dataset.name))
    try:
        checkpoint_path(run_dir, "last").parent.mkdir(exist_ok=True)
        config_out = cfg.to_dict()
        config_out.update(
            dataset=session.dataset.name,
            engine=session.entry.engine,
            img_size=session.img_size,
            augment=session.augment,
            command=cfg.command or " ".join(shlex.quote(a) for a in sys.argv),
            dataset_info={"source": session.dataset.source, "classes": session.dataset.classes,
                          "train_size": len(session.train), "val_size": len(session.val),
                          "test_size": len(session.dataset.test), **session.dataset.info},
            normalization={"mean": session.mean.tolist(), "std": session.std.tolist()},
            budget={"steps": budget.steps, "steps_per_epoch": budget.steps_per_epoch, "epochs": budget.epochs,
                    "warmup_steps": budget.warmup_steps, "source": budget.source,
                    "time_budget": cfg.time_budget, "probe": session.probe},
        )
        if session.dist.world > 1:  # the launch that trained it (torchrun's own flags, as far as they are known)
            config_out["command"] = f"{session.dist.launcher()} {config_out['command']}"
            config_out["distributed"] = session.dist.info
        transfer = getattr(getattr(backend, "model", None), "transfer_info", None)
        if transfer:  # where pretrained weights came from and which tensors were not loaded
            config_out["transfer"] = transfer
        write_json(run_dir / "config.json", config_out)
        backend.save(_checkpoint_path(run_dir, "last", session),
                     {"epoch": 0, "best": _no_best(session), "history": []})
    except BaseException:
        lock.release()
        raise
    return run_dir, lock


def _resume_point(session: Session, run_dir: Path) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    """Load the last checkpoint of a run this process has locked: (first epoch to train, history, best so far)."""
    remove_temporaries(run_dir)  # a write cut short by a kill; the lock says no one else is writing here
    last = _checkpoint_path(run_dir, "last", session)
    if not last.is_file():
        if not (run_dir / "history.csv").exists() and not _checkpoint_path(run_dir, "best", session).exists():
            # Stopped after config.json, before the epoch-0 checkpoint: nothing trained, start from the beginning.
            log.info("run %s: no checkpoint yet, starting from the initial weights", run_dir.name)
            session.backend.save(last, {"epoch": 0, "best": _no_best(session), "history": []})
            return 1, [], _no_best(session)
        raise RunError(f"--resume {run_dir}: nothing to resume from: no checkpoint {last.name}, though the run has "
                       f"trained (it has a history or a best checkpoint); start a new run")
    meta = session.backend.load(last)
    missing = [k for k in ("epoch", "history", "best") if k not in meta]
    missing += [] if missing or session.task.monitor in meta["best"] else [f"best.{session.task.monitor}"]
    if missing:
        raise RunError(f"{last}: cannot resume from it: its meta lacks {missing[0]!r} (not written by this "
                       f"program's training); start a new run")
    return int(meta["epoch"]) + 1, meta["history"], meta["best"]


def _fit(session: Session, run_dir: Path, start_epoch: int, history: list[dict[str, Any]],
         best: dict[str, Any], baseline_mb: float | None = None,
         on_epoch: Callable[[dict[str, Any]], bool | None] | None = None,
         tracker: Tracker = NO_TRACKER) -> TrainResult:
    cfg, backend, budget, task, dist = session.cfg, session.backend, session.budget, session.task, session.dist
    assert budget is not None and cfg.batch_size and cfg.lr and cfg.schedule is not None
    writer = dist.writer  # only rank 0 writes the run directory (one process: always)
    n_train = len(session.train)
    steps_per_epoch, total_steps, n_epochs = budget.steps_per_epoch, budget.steps, budget.epochs
    history_path = run_dir / "history.csv"
    train_seconds = sum(float(r.get("seconds", 0.0)) for r in history)
    best_weights = None
    best_path = _checkpoint_path(run_dir, "best", session)
    resume_cmd = _resume_command(dist, run_dir)
    log.info("run %s: %s on %s, %d train / %d val, %d steps (%d epochs, budget from %s) from epoch %d%s",
             run_dir.name, cfg.model, session.dataset.name, n_train, len(session.val), total_steps, n_epochs,
             budget.source, start_epoch, f", {dist.world} processes ({dist.backend})" if dist.world > 1 else "")
    status, message = "completed", ""
    last_save, saved_epoch = time.monotonic(), start_epoch - 1
    progress = EpochProgress(enabled=not cfg.quiet and writer)
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, n_epochs + 1):
            order = np.random.default_rng(epoch_seed(cfg.seed, epoch, 0)).permutation(n_train)
            gen = torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch, 1))
            # Dropout: each rank its own masks (rank 0 draws what one process would).
            backend.reseed(epoch_seed(cfg.seed, epoch, 2, *((dist.rank,) if dist.rank else ())))
            backend.train_mode()
            loss_sum, seen, stats = 0.0, 0, {}
            t0 = time.perf_counter()
            epoch_steps = min(steps_per_epoch, total_steps - (epoch - 1) * steps_per_epoch)  # the last may be partial
            progress.start(epoch, n_epochs, epoch_steps)
            for step in range(epoch_steps):
                global_step = (epoch - 1) * steps_per_epoch + step
                lr = lr_at(global_step, total_steps, cfg.lr, cfg.schedule, budget.warmup_steps)
                backend.set_lr(lr)
                idx = np.sort(order[step * cfg.batch_size : (step + 1) * cfg.batch_size])
                x, y = task.batch(session, session.train, idx, gen)
                x, y = dist.shard(x), dist.shard(y)  # under torchrun: this rank's rows of the global batch
                loss, step_stats = backend.train_step(x, y, dist.loss_weight(len(y), len(idx)))
                loss, step_stats = dist.global_step(loss, step_stats, len(y), len(idx))
                if not math.isfinite(loss):
                    status = "diverged"
                    message = (f"training diverged: loss is {loss} at epoch {epoch}, step {step + 1}/"
                               f"{epoch_steps}, lr {lr:.3g}; lower --lr (or add --warmup-steps); the last "
                               f"good checkpoint is kept in {run_dir / 'checkpoints'}")
                    raise _Diverged
                loss_sum += loss * len(idx)
                seen += len(idx)
                for key, value in step_stats.items():
                    stats[key] = stats.get(key, 0.0) + value
                if progress.enabled:  # the text costs a format per step: only for a bar that shows it
                    progress.update(step + 1, task.progress(loss_sum / seen, stats, seen),
                                    seen / (time.perf_counter() - t0))
            seconds = time.perf_counter() - t0
            train_seconds += seconds
            val_metrics, _ = task.evaluate(session, session.val)
            row = {"epoch": epoch, **task.train_row(loss_sum, stats, seen), **task.val_row(val_metrics), "lr": lr,
                   "seconds": round(seconds, 4), "steps": epoch_steps, "images": seen}
            history.append(row)
            tracker.log_epoch(row)
            progress.finish(task.short(row), seconds)
            log.info("epoch %d/%d %s lr %.3g %.1fs", epoch, n_epochs, task.summary(row), lr, seconds)
            if row[task.monitor] > best[task.monitor]:
                best = {task.monitor: row[task.monitor], "epoch": epoch}
                best_weights = backend.weights()
                if writer:
                    backend.save(best_path, {"epoch": epoch, "best": best, "history": history})
            stop = dist.broadcast(on_epoch is not None and bool(on_epoch(row)))  # rank 0's hook decides
            now = time.monotonic()
            # Checkpoint at most every CHECKPOINT_EVERY_SECONDS (and after the last epoch): a tiny dataset runs
            # thousands of sub-second epochs, whose checkpoints would cost more than the training. Resume stays
            # exact: it replays from the last checkpointed epoch with the same per-epoch seeds.
            if writer and (stop or epoch == n_epochs or now - last_save >= CHECKPOINT_EVERY_SECONDS):
                write_history(history_path, history, task.history_fields)
                backend.save(_checkpoint_path(run_dir, "last", session),
                             {"epoch": epoch, "best": best, "history": history})
                last_save, saved_epoch = now, epoch
            if stop:
                status, message = "pruned", f"pruned after epoch {epoch} ({task.short(row)})"
                log.info(message)
                break
    except _Diverged:
        log.error(message)
    except KeyboardInterrupt:
        status = "interrupted"
        if dist.world > 1:  # the other ranks may have stopped anywhere: no collective from here on
            dist.alone = True
        kept = f"the checkpoint of epoch {saved_epoch} is kept" if saved_epoch else "the initial checkpoint is kept"
        kept += "; the test set is scored when the resumed run ends" if dist.world > 1 else ""
        message = f"interrupted during epoch {epoch}; {kept}; resume with: {resume_cmd}"
        log.warning(message)
    finally:
        progress.close()
        if writer:
            write_history(history_path, history, task.history_fields)  # every finished epoch, checkpointed or not
    if dist.alone and not writer:  # interrupted under torchrun: rank 0 evaluates and writes alone
        return TrainResult(run_dir, status, {}, message)
    results = _final_results(session, run_dir, status, history, best, best_weights, train_seconds, baseline_mb)
    if not writer:
        return TrainResult(run_dir, status, results, message)
    write_json(run_dir / "results.json", results)
    tracker.finish(status, results)
    return TrainResult(run_dir, status, results, message)


def _resume_command(dist: Dist, run_dir: Path) -> str:
    """The command that resumes the run (under torchrun, with the launch in front)."""
    command = f"visionbench train --resume {shlex.quote(str(run_dir))}"
    return f"{dist.launcher()} {command}" if dist.world > 1 else command


class _Diverged(Exception):
    pass


#: Seconds between two checkpoints of the last epoch (the final epoch is always checkpointed).
CHECKPOINT_EVERY_SECONDS = 10.0


def _final_results(session: Session, run_dir: Path, status: str, history: list[dict[str, Any]],
                   best: dict[str, Any], best_weights: Any, train_seconds: float,
                   baseline_mb: float | None = None) -> dict[str, Any]:
    """Evaluate the best-on-validation weights on the test set and gather every number of results.json."""
    cfg, backend, budget, task = session.cfg, session.backend, session.budget, session.task
    assert budget is not None  # planned before the first step
    results: dict[str, Any] = {
        "status": status, "model": cfg.model, "dataset": session.dataset.name, "engine": session.entry.engine,
        "seed": cfg.seed, "epochs": budget.epochs, "epochs_completed": len(history), "steps": budget.steps,
        "steps_completed": sum(int(r.get("steps", 0)) for r in history), "budget_source": budget.source,
        "time_budget": cfg.time_budget,
        "task": task.name, "best_epoch": best["epoch"] or None,
        task.best_key: best[task.monitor] if best["epoch"] else None,
    }
    # Interrupted under torchrun: no test scores now (torchrun kills what is still running 30 s after a Ctrl-C, and
    # one process scoring a big test set alone takes longer); the resumed run scores it when it ends.
    if best["epoch"] and not session.dist.alone:
        if best_weights is not None:
            backend.load_weights(best_weights)
        else:  # resumed run whose best epoch came before the interruption: rank 0 reads it, the others get it
            session.dist.on_writer(lambda: backend.load(_checkpoint_path(run_dir, "best", session), weights_only=True))
            backend.share(session.dist, weights_only=True)
        results.update(_test_results(session, run_dir))
    results["classes"] = session.dataset.classes
    n_epochs = len(history)
    results.update(
        train_seconds=round(train_seconds, 3),
        seconds_per_epoch=round(train_seconds / n_epochs, 3) if n_epochs else None,
        # Images actually seen (a step budget may end inside an epoch); older runs' history has no "images".
        train_images_per_second=(sum(int(r.get("images", len(session.train))) for r in history) / train_seconds
                                 if train_seconds > 0 else None),
    )
    if not session.dist.writer:  # another rank: its results are not written; the costs below are rank 0's
        return results
    total, trainable = backend.parameter_counts()
    results.update(params_total=total, params_trainable=trainable,
                   flops_per_image=backend.flops_per_image(session.input_shape),
                   peak_memory_mb=(peak := costs.peak_memory_mb(session.device)),
                   run_memory_mb=None if baseline_mb is None else round(max(0.0, peak - baseline_mb), 1),
                   versions=costs.versions(),
                   machine=costs.machine(session.device))
    if session.dist.world > 1:
        results["distributed"] = session.dist.info
    return results


def load_run_session(run_dir: str | Path, *, quiet: bool = True, threads: int | None = None,
                     load: bool = True) -> tuple[Run, Session, Path]:
    """A finished run's session rebuilt (same data, split, normalisation and model) and its best weights loaded.

    Args:
        run_dir: the run directory.
        quiet: hide progress output while the data load.
        threads: torch threads (None: the run's own setting).
        load: load the best weights now (False: the caller loads them later, e.g. under a lock).

    Returns:
        The run, the session and the best checkpoint's path.

    Raises:
        RunError: not a run, or no best checkpoint (the run ended before its first epoch).
    """
    run, cfg = _prepare_resume(run_dir, None, trackers=False)  # evaluation sends nothing to a tracker
    session = build_session(dataclasses.replace(cfg, quiet=quiet, threads=threads or cfg.threads))
    ckpt = _checkpoint_path(run.path, "best", session)
    if not ckpt.is_file():
        raise RunError(f"{run.path}: no checkpoint {ckpt.name}; the run ended before its first epoch (train it "
                       f"again, or resume it)")
    if load:
        session.backend.load(ckpt, weights_only=True)
    return run, session, ckpt


def evaluate_run(run_dir: str | Path, *, quiet: bool = True) -> dict[str, Any]:
    """Re-evaluate a run's best checkpoint on the test set, update its results.json and return the metrics."""
    run, session, ckpt = load_run_session(run_dir, quiet=quiet, load=False)
    path = run.path
    with lock_dir(path):  # results.json is rewritten: not while a process trains the run
        session.backend.load(ckpt, weights_only=True)
        results = run.results or {}
        results.update(_test_results(session, path))
        write_json(path / "results.json", results)
    return results


def _test_results(session: Session, run_dir: Path) -> dict[str, Any]:
    """The test-set entries of results.json for the weights loaded now: the task's metrics and the speed (and the
    task's test examples, written into the run directory)."""
    test, seconds = session.task.evaluate(session, session.dataset.test)
    if session.dist.writer:
        session.task.save_examples(run_dir, session.dataset.test, test)
    out = session.task.test_results(test)
    out["inference_images_per_second"] = len(session.dataset.test) / seconds if seconds > 0 else None
    out.update(session.task.extra_results(session))
    return out
