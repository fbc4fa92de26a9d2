"""Training one planned run as a job, in this process or in a worker process of its own (a comparison's and a
study's runs): the worker's own time, peak memory and crash, a failure recorded as a run with status ``failed``, and
a worker that ends with the process that started it. And :func:`run_workers`: N local worker processes on one
comparison or study directory.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from visionbench.errors import RunError, VisionbenchError
from visionbench.runs import claim_run_dir, is_run_dir, read_run, write_json
from visionbench.train import TrainConfig, TrainResult, train

__all__ = ["train_job", "worker_context", "run_workers", "run_result", "WORKER_PRELOAD"]


def _run_job(job: dict[str, Any], on_start: Callable[[Path], None] | None = None) -> TrainResult:
    """Train one run in this process: a new run from ``job["config"]`` or a resumed one from ``job["resume"]``;
    ``on_start`` gets the run directory as soon as it exists."""
    if "resume" in job:
        return train(TrainConfig(model=read_run(job["resume"]).model, quiet=job["quiet"]), resume=job["resume"],
                     on_start=on_start)
    return train(TrainConfig.from_dict(job["config"]), on_start=on_start)


def _failure(exc: BaseException) -> dict[str, Any]:
    """How a run that raised is reported: the user's one-line error, or for a bug its first line and traceback."""
    if isinstance(exc, VisionbenchError):
        return {"status": "failed", "message": str(exc)}
    return {"status": "failed", "message": f"{type(exc).__name__}: {exc}".splitlines()[0],
            "traceback": traceback.format_exc()}


def train_job(job: dict[str, Any], *, isolate: bool = True) -> TrainResult:
    """Train one job (``{"config": TrainConfig fields, ...}`` as a comparison plans it) in a worker process
    (``isolate``: its own time, memory and crash) or in this one; a failure becomes a run with status ``failed``."""
    return _run_isolated(job) if isolate else _run_in_process(job)


def _run_in_process(job: dict[str, Any]) -> TrainResult:
    """:func:`_run_job` without a worker: a run that raises is recorded as failed and the comparison goes on."""
    started: list[Path] = []
    try:
        return _run_job(job, started.append)
    except Exception as exc:  # a bug in one run must not lose the others
        return _record_failure(job, _failure(exc), started[-1] if started else None)


def _worker(job: dict[str, Any], conn: Any, parent: int | None = None) -> None:
    # Runs in the child process: report how the run ended as plain data through the pipe.
    if parent is not None:
        _end_with(parent)
    try:
        result = _run_job(job, lambda run_dir: conn.send({"started": str(run_dir)}))
        conn.send({"run_dir": str(result.run_dir), "status": result.status, "message": result.message})
    except KeyboardInterrupt:
        conn.send({"status": "interrupted", "message": "interrupted before the run started"})
    except BaseException as exc:
        conn.send(_failure(exc))
    finally:
        conn.close()


#: What the worker processes' forkserver imports once: the pipeline, and scikit-learn (digits and the stratified
#: splits use it; importing it costs a worker seconds).
WORKER_PRELOAD = ["visionbench.train.loop", "visionbench.models", "visionbench.data", "visionbench.cli",
                  "sklearn.datasets", "sklearn.model_selection", "sklearn.metrics"]


def worker_context() -> Any:
    """The multiprocessing context of training workers: forkserver, whose children fork from a server that has
    imported the pipeline once (fast start, no torch threads forked); spawn where there is no forkserver (Windows)."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(WORKER_PRELOAD)
        return ctx
    return mp.get_context("spawn")


def run_workers(folder: Path, n: int, fn: Callable[..., None], args: tuple[Any, ...], *, what: str,
                again: str) -> None:
    """Run ``fn(*args)`` in ``n`` worker processes (``fn`` a module-level function that works on ``folder``, a
    comparison or study directory) and wait for them.

    Args:
        what: the folder's kind, for the messages (``comparison``, ``study``).
        again: the command that continues the work (``visionbench compare --resume DIR``).

    Raises:
        KeyboardInterrupt: Ctrl-C (it reached the workers too; each was let end its run cleanly).
        RunError: every worker stopped early.
    """
    ctx = worker_context()
    procs = [ctx.Process(target=_worker_main, args=(fn, args), daemon=False) for _ in range(n)]
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.join()
    except KeyboardInterrupt:  # Ctrl-C reached the workers too: each lets its run save its checkpoint
        for proc in procs:
            proc.join(60.0)
        raise KeyboardInterrupt(f"{what} interrupted; resume with: {again}") from None
    if all(proc.exitcode for proc in procs):
        raise RunError(f"{folder}: every worker process stopped early (exit statuses "
                       f"{', '.join(str(p.exitcode) for p in procs)}); continue with {again}")


def _worker_main(fn: Callable[..., None], args: tuple[Any, ...]) -> None:
    # One of run_workers' processes: a user's error is one line on stderr and exit status 2; Ctrl-C (which the parent
    # reports with the command that resumes) exit status 130, without a traceback.
    try:
        fn(*args)
    except VisionbenchError as exc:
        print(f"error: worker {os.getpid()}: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


def _end_with(parent: int) -> None:
    """End this training process as soon as ``parent``, the process that started it, dies: that process holds the
    run's claim, which dies with it, and the run must not go on unclaimed while another worker resumes it. (Not the
    forkserver's death: it lives on while any of its children does.)"""
    if os.name != "posix":
        return

    def watch() -> None:
        try:
            fd = os.pidfd_open(parent)  # Linux: readable once the process has ended
        except (AttributeError, OSError):
            fd = None
        if fd is not None:
            select.select([fd], [], [])
        else:
            while _alive(parent):
                time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)  # as if killed with it: the run's lock ends, its checkpoint stays

    threading.Thread(target=watch, name="end-with-worker", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _run_isolated(job: dict[str, Any]) -> TrainResult:
    """Train one run in a worker process; a crash becomes a run directory with status ``failed`` and its reason."""
    ctx = worker_context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(job, child, os.getpid()), daemon=False)
    proc.start()
    child.close()
    interrupted, started = False, {}
    try:
        reply = _reply(parent, proc, started)
    except KeyboardInterrupt:
        # Ctrl-C reaches the worker too (same process group): let it save its checkpoint and say so.
        interrupted, reply = True, _reply(parent, proc, started, patience=60.0)
    proc.join()
    if interrupted:
        return TrainResult(Path(reply["run_dir"]) if reply and "run_dir" in reply else Path("."), "interrupted",
                           {}, (reply or {}).get("message", "interrupted"))
    if reply is None:
        code = proc.exitcode
        why = (f"killed by signal {-code}" + (" (out of memory?)" if code == -9 else "") if code and code < 0
               else f"exit status {code}")
        reply = {"status": "failed", "message": f"the worker process died without a result ({why})"}
    if "run_dir" in reply:
        return run_result(reply["run_dir"], reply["status"], reply.get("message", ""))
    return _record_failure(job, reply, Path(started["started"]) if "started" in started else None)


def run_result(run_dir: str | Path, status: str | None = None, message: str | None = None) -> TrainResult:
    """A run directory read back as a :class:`TrainResult`: its own status and message unless the process that
    trained it reported them."""
    run = read_run(run_dir)
    results = run.results or {}
    return TrainResult(run.path, status or run.status, results,
                       str(results.get("message", "")) if message is None else message)


def _reply(conn: Any, proc: Any, started: dict[str, str], patience: float | None = None) -> dict[str, Any] | None:
    """The worker's report, or None when it ended without one (waits for ever, or ``patience`` seconds); the run
    directory it announced on the way is put in ``started``."""
    deadline = None if patience is None else time.monotonic() + patience
    while proc.is_alive() or conn.poll():
        if conn.poll(0.2):
            try:
                message = conn.recv()
            except EOFError:  # the worker closed its end without a word
                return None
            if "started" not in message:
                return message
            started.update(message)
        if deadline is not None and time.monotonic() > deadline:
            return None
    return None


def _record_failure(job: dict[str, Any], reply: dict[str, Any], started: Path | None = None) -> TrainResult:
    """A run that failed before or while training: make sure a run directory says so (reports read only those).

    ``started`` is the run directory the job made before it failed: the failure is written there, never into a
    second folder for the same run.
    """
    if "resume" in job:
        path = Path(job["resume"])
    elif started is not None and is_run_dir(started):
        path = started
    else:
        cfg = job["config"]
        path, lock = claim_run_dir(cfg["output_dir"], cfg["run_name"] or f"{cfg['model']}-seed{cfg['seed']}")
        with lock:
            write_json(path / "config.json", cfg)
    results = dict(read_run(path).results or {}) if (path / "results.json").is_file() else {}
    results.update(status="failed", message=reply["message"])
    write_json(path / "results.json", results)
    if reply.get("traceback"):
        (path / "failure.log").write_text(reply["traceback"])
    return TrainResult(path, "failed", results, reply["message"])
