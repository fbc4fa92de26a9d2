"""Several workers on one study directory: each goes through the study's parts, doing those nobody holds, until every
part is done; the last one to end builds the report.

A worker says it is alive with a lock in ``<study>/.workers/<host>-<pid>/`` (it dies with the process), claims each
part it does (:meth:`StudyRun.part`), and while parts it cannot do are held by others, trains runs of their
comparisons (:func:`_help`) or waits a pass. ``study.json`` is read and written under the study folder's lock, so no
worker clobbers another's status or time.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from visionbench import _env
from visionbench.runs import CLAIMS_DIR, LOCK_NAME, DirLock, lock_dir, lock_owner, slug, wait_for_lock, write_json
from visionbench.studies._runner import (
    STUDY_FILE,
    StudyResult,
    _load_parts,
    _read_json,
    build_summary,
    rebuild_study_report,
    run_study,
)
from visionbench.studies._study import PartHeld, Study, StudyRun, WorkerMemo

__all__ = ["work", "study_worker", "WORKERS_DIR", "POLL_SECONDS"]

#: Where a study's workers say they are alive: ``<study>/.workers/<host>-<pid>/.lock``, held for a worker's life.
WORKERS_DIR = ".workers"
#: Seconds between two passes of a worker waiting for parts other workers hold.
POLL_SECONDS = 1.0


def study_worker(name: str, out_dir: str, quiet: bool) -> None:
    # One of --workers N (its own process): a worker like any other on the study; one line per part it does.
    def say(message: str) -> None:
        print(f"{message} (worker {os.getpid()})", flush=True)

    run_study(name, resume=out_dir, quiet=quiet, echo=say,
              on_part=lambda part, done: None if done else say(f"{part}: running"))


def work(study: Study, out_dir: Path, *, joined: str, on_part: Callable[[str, bool], None] | None,
         echo: Callable[[str], None] | None, quiet: bool, wait: bool) -> StudyResult:
    """One worker on the study directory ``out_dir``: passes through the study until every part is done (or, without
    ``wait``, until this worker can do nothing more), then its share of ``study.json`` and, if last, the report."""
    with wait_for_lock(out_dir):  # study.json is read and written by one worker at a time
        me = _register(out_dir)
        meta = _read_json(out_dir / STUDY_FILE, "study record")
        base = float(meta.get("seconds") or 0.0)
        meta.update(status="running", software=_env.software(), hardware=_env.hardware())
        if joined:
            meta.setdefault("resumed_with", []).append(joined)
        write_json(out_dir / STUDY_FILE, meta)
    options = {"quick": bool(meta.get("quick")), "full": bool(meta.get("full")),
               "seeds": meta.get("seeds") or list(study.seeds), "dataset": meta.get("dataset"),
               "data_dir": meta.get("data_dir"), "weights": meta.get("weights")}
    start, memo = time.perf_counter(), WorkerMemo()
    status: str | None = "failed"
    held: list[str] = []
    summary: dict[str, Any] = {}
    try:
        while True:
            runner = StudyRun(study, out_dir, on_part=on_part, echo=echo, quiet=quiet, memo=memo, **options)
            try:
                study.run(runner)
            except PartHeld:
                pass  # a step between two parts needs a held part: the rest of this pass waits with it
            held = runner.held
            if not held:
                status = "completed"
                break
            _help(out_dir, quiet, runner)
            if not wait:
                status = None
                break
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        status = "interrupted"
        raise KeyboardInterrupt(f"study interrupted; resume with: visionbench study run {study.name} "
                                f"--resume {out_dir}") from None
    finally:
        summary = _finish(study, out_dir, me, status, base + time.perf_counter() - start)
    return StudyResult(out_dir, summary, held)


def _register(out_dir: Path) -> DirLock:
    """Say this worker is alive (its lock dies with it); folders of dead workers are removed (under the study's lock,
    so no worker registers meanwhile)."""
    _live_workers(out_dir)
    folder = out_dir / WORKERS_DIR / f"{slug(socket.gethostname())}-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return lock_dir(folder, "working on this study")


def _live_workers(out_dir: Path, me: DirLock | None = None) -> list[Path]:
    """The folders of the live workers other than ``me``; a dead worker's is removed (call under the study's lock)."""
    live = []
    for folder in sorted((out_dir / WORKERS_DIR).glob("*")):
        if me is not None and folder == me.folder:
            continue
        if lock_owner(folder) is not None:
            live.append(folder)
            continue
        with contextlib.suppress(OSError):  # killed: its lock file stayed
            (folder / LOCK_NAME).unlink(missing_ok=True)
            folder.rmdir()
    return live


def _finish(study: Study, out_dir: Path, me: DirLock, status: str | None, seconds: float) -> dict[str, Any]:
    """Record how this worker ended in ``study.json`` without clobbering the others, and build the report if it is
    the last worker and every part is done. Returns the summary (empty unless every part is done)."""
    with wait_for_lock(out_dir):
        meta = _read_json(out_dir / STUDY_FILE, "study record")
        meta["seconds"] = round(max(float(meta.get("seconds") or 0.0), seconds), 1)  # wall time, not a sum
        others = _live_workers(out_dir, me)
        if status == "completed" or (status is not None and not others and meta.get("status") != "completed"):
            meta.update(status=status, finished=time.strftime("%Y-%m-%d %H:%M:%S %z"))
        write_json(out_dir / STUDY_FILE, meta)
        me.release()
        with contextlib.suppress(OSError):
            me.folder.rmdir()
        if meta.get("status") != "completed":
            return {}
        if others:  # the last of them builds the report
            return build_summary(study, meta, _load_parts(out_dir))
        return rebuild_study_report(out_dir)


def _help(out_dir: Path, quiet: bool, runner: StudyRun) -> None:
    """Train runs of the comparisons other workers' parts are running: a comparison folder of the study (one with a
    ``plan.json``) in which a live process holds a run's claim. Its runs are claimed as in any comparison, so none is
    trained twice; a run that failed is left to the part's own worker."""
    from visionbench.studies.compare import CompareConfig, run_comparison

    for plan in sorted(out_dir.glob("*/plan.json")):
        claims = plan.parent / CLAIMS_DIR
        if not claims.is_dir() or all(lock_owner(c) is None for c in claims.iterdir()):
            continue

        def announce(model: str, seed: int, i: int, total: int, where: str = plan.parent.name) -> None:
            runner.echo(f"{where} [{i}/{total}] {model} (seed {seed}), helping the worker of its part")

        run_comparison(CompareConfig(train_overrides={"quiet": quiet}), resume=plan.parent, on_run=announce,
                       wait=False, report=False, retry=False)
