"""Kill-and-resume harness (issue 13, item 3): train in a child process, SIGKILL it at seeded random moments (one
kill lands inside a checkpoint write), resume with ``--resume`` until it finishes, then compare every tensor and the
history with a run never stopped.

Each child runs the command line's ``main()`` exactly as ``python -m visionbench train ...`` does. Children fork from
a forkserver that imported the pipeline once, so a restart costs milliseconds rather than the ~4 s a new interpreter
spends importing torch. In the child a checkpoint is written after every epoch (``CHECKPOINT_EVERY_SECONDS = 0``;
the product writes one at most every 10 s), so kills land before, between, inside and after checkpoints; when asked,
the child waits ``SLOW_WRITE`` seconds between a checkpoint's temporary file and its rename, and the parent kills it
at a random moment after the temporary file appears.

Used by ``tests/train/test_kill_resume.py`` (two trials per engine) and ``benchmarks/kill_resume.py`` (five).
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The runs the harness kills: a few seconds at most, one thread; the NumPy engine with dropout and BatchNorm, the
#: PyTorch one with BatchNorm, augmentation and its optimiser's state.
ENGINES = {
    "numpy": ["--model", "scratch_mlp", "--model-arg", "batch_norm=true"],
    "torch": ["--model", "mlp_small", "--augment", "shift"],
}
COMMON = ["--dataset", "digits", "--epochs", "8", "--batch-size", "32", "--max-train-samples", "300", "--threads", "1",
          "--seed", "5", "--quiet"]
SLOW_WRITE = 0.15  # seconds between a checkpoint's temporary file and its rename, in the child that is killed there
MAX_ATTEMPTS = 30


def _child(argv: list[str], log_path: str, slow_write: float, die_before: str | None) -> None:
    """The child process: ``visionbench <argv>`` with a checkpoint every epoch; when asked, slow renames of the
    ``last`` checkpoint, or death by SIGKILL at the first atomic write of a file named ``die_before`` (its temporary
    file written, not yet renamed)."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from visionbench import cli
    from visionbench.train import loop

    loop.CHECKPOINT_EVERY_SECONDS = 0.0
    rename = os.replace

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if str(src).endswith(".tmp") and Path(dst).name == die_before:
            os.kill(os.getpid(), signal.SIGKILL)
        if slow_write and str(src).endswith(".tmp") and Path(dst).name.startswith("last."):
            time.sleep(slow_write)
        rename(src, dst, *args, **kwargs)

    os.replace = replace  # type: ignore[assignment]  # this child only: atomic writes rename through it
    code = cli.main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


def start(argv: list[str], log: Path, slow_write: float = 0.0, die_before: str | None = None) -> Any:
    """Start ``visionbench <argv>`` in a child (see :func:`_child`), its output appended to ``log``."""
    from visionbench.studies.compare import worker_context  # the forkserver comparisons use, same preload

    proc = worker_context().Process(target=_child, args=(argv, str(log), slow_write, die_before), daemon=True)
    proc.start()
    return proc


def fresh_argv(engine: str, out: Path) -> list[str]:
    """The command line of ``engine``'s run, into ``out/run``."""
    return ["train", *ENGINES[engine], *COMMON, "--output-dir", str(out), "--run-name", "run"]


def resume_argv(run_dir: Path) -> list[str]:
    return ["train", "--resume", str(run_dir), "--quiet"]


def _kill(proc: Any) -> bool:
    """SIGKILL ``proc`` if it is still running; True when it was."""
    if not proc.is_alive():
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    return proc.exitcode == -signal.SIGKILL


def _kill_inside_write(proc: Any, run_dir: Path, rng: np.random.Generator) -> bool:
    """Kill ``proc`` a random moment after the temporary file of its n-th ``last`` checkpoint appears (n in 1..5: the
    first is the epoch-0 checkpoint of a new run)."""
    wanted, seen = int(rng.integers(1, 6)), set()
    while proc.is_alive():
        seen.update(p.name for p in (run_dir / "checkpoints").glob(".last.*.tmp"))
        if len(seen) >= wanted:
            time.sleep(rng.uniform(0.0, 0.8 * SLOW_WRITE))
            return _kill(proc)
        time.sleep(0.001)
    return False


@dataclass
class Trial:
    """How one trial went."""

    kills: int = 0  # SIGKILLs that hit a live child
    kills_in_write: int = 0  # of which inside a checkpoint write (its temporary file present, not yet renamed)
    fresh_starts: int = 0  # children started without --resume (no config.json yet: killed before it was written)
    children: int = 0
    landed: list[str] = field(default_factory=list)  # where each kill left the run (see _where)
    differences: list[str] = field(default_factory=list)  # empty: bit-identical to the uninterrupted run
    errors: list[str] = field(default_factory=list)  # a child that exited with an error, with its log's last line


def _nothing() -> None:
    pass


def reference(engine: str, out: Path) -> tuple[Path, float]:
    """Train ``engine``'s run once without a kill (in a child, as the trials do); its folder and the child's seconds."""
    out.mkdir(parents=True, exist_ok=True)
    from visionbench.studies.compare import worker_context

    warm = worker_context().Process(target=_nothing)  # the forkserver's own start (imports) is not the run's time
    warm.start()
    warm.join()
    t0 = time.perf_counter()
    proc = start(fresh_argv(engine, out), out / "log")
    proc.join()
    seconds = time.perf_counter() - t0
    if proc.exitcode != 0:
        raise RuntimeError(f"the reference run failed ({proc.exitcode}): {(out / 'log').read_text()[-500:]}")
    return out / "run", seconds


def trial(engine: str, out: Path, ref: Path, lifetime: float, seed: int, kills: int = 3) -> Trial:
    """Kill ``engine``'s new run inside one of its first checkpoint writes, then up to ``kills`` times at random
    moments in [0, ``lifetime`` / 2] s after each restart; resume until it completes; compare with ``ref``."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    run_dir, log, t = out / "run", out / "log", Trial()
    while t.children < MAX_ATTEMPTS:
        old = _temporaries(run_dir)
        started = (run_dir / "config.json").is_file()  # else start again: the same --run-name reuses the folder
        argv = resume_argv(run_dir) if started else fresh_argv(engine, out)
        t.fresh_starts += not started
        proc = start(argv, log, SLOW_WRITE if t.children == 0 else 0.0)
        t.children += 1
        if t.children == 1:
            hit = _kill_inside_write(proc, run_dir, rng)
            t.kills_in_write += hit
        elif t.kills <= kills:  # a resumed child has less to do: aim within the first half of a whole run
            proc.join(rng.uniform(0.0, 0.5 * lifetime))
            hit = _kill(proc)
        else:
            hit = False
        t.kills += hit
        if hit:
            t.landed.append(_where(run_dir, old))
        proc.join()
        if proc.exitcode == 0 and not hit:
            t.differences = compare(ref, run_dir, out)
            return t
        if not hit:
            lines = log.read_text().strip().splitlines() if log.is_file() else []
            t.errors.append(f"exit {proc.exitcode}: {lines[-1] if lines else '(no output)'}")
            if len(t.errors) > 2:
                break
    t.differences = [f"the run did not complete after {t.children} children"]
    return t


def _temporaries(run_dir: Path) -> set[Path]:
    return {p for p in run_dir.rglob(".*.tmp")} if run_dir.is_dir() else set()


def _where(run_dir: Path, old: set[Path]) -> str:
    """Where a kill left a run, from its files: before its folder or config.json, inside a write (a temporary file
    that was not there before), before the first checkpoint, after results.json, or after epoch k of its history
    (the state it was in: a kill during a resumed child's start-up counts where the run stood)."""
    if not run_dir.is_dir():
        return "before the run folder"
    if not (run_dir / "config.json").is_file():
        return "before config.json"
    if _temporaries(run_dir) - old:
        return "inside a write"
    if not any((run_dir / "checkpoints").glob("last.*")):
        return "before the first checkpoint"
    if (run_dir / "results.json").is_file():
        return "after results.json"
    rows = (run_dir / "history.csv").read_text().count("\n") - 1 if (run_dir / "history.csv").is_file() else 0
    return f"after epoch {max(rows, 0)}"


# --- what must be identical ---------------------------------------------------------------------------------------


def _arrays(path: Path) -> dict[str, np.ndarray]:
    """Every tensor or array of a checkpoint (weights, optimiser state, BatchNorm statistics), its meta left out."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files if k != "meta"}
    import torch

    out: dict[str, np.ndarray] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            out[prefix] = value.numpy()
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}/{k}", v)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(f"{prefix}/{i}", v)
        elif prefix not in ("/meta", "/digest"):
            out[prefix] = np.asarray(value)

    walk("", torch.load(path, map_location="cpu", weights_only=True))
    return out


def _history(path: Path) -> list[dict[str, str]]:
    """history.csv without its ``seconds`` column (wall-clock time, the one column no two runs share)."""
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


RESULT_KEYS = ("status", "epochs_completed", "steps_completed", "best_epoch", "test_accuracy", "test_loss",
               "test_macro_f1", "confusion_matrix")


def compare(ref: Path, run: Path, out: Path) -> list[str]:
    """What differs between the uninterrupted run ``ref`` and the killed-and-resumed ``run`` (empty: nothing), and
    anything left behind in ``out``: a temporary file, a lock file, a second run folder."""
    diffs: list[str] = []
    for ckpt in sorted((ref / "checkpoints").iterdir()):
        other = run / "checkpoints" / ckpt.name
        if not other.is_file():
            diffs.append(f"{other} missing")
            continue
        a, b = _arrays(ckpt), _arrays(other)
        if a.keys() != b.keys():
            diffs.append(f"{ckpt.name}: entries differ: {sorted(a.keys() ^ b.keys())[:3]}")
        diffs += [f"{ckpt.name}: {k} differs" for k in sorted(a.keys() & b.keys())
                  if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes()]
    if _history(ref / "history.csv") != _history(run / "history.csv"):
        diffs.append("history.csv differs")
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (ref, run))
    diffs += [f"results.json: {k} {ra.get(k)!r} != {rb.get(k)!r}" for k in RESULT_KEYS if ra.get(k) != rb.get(k)]
    left = [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name == ".lock"]
    left += [p for p in out.iterdir() if p.is_dir() and p.name != "run"]
    diffs += [f"left behind: {p.relative_to(out)}" for p in left]
    return diffs
