"""The run directory: create it (never overwrite), write files atomically, read it back, list runs.

Layout of ``runs/<YYYYmmdd-HHMMSS>-<model>-<dataset>/``::

    config.json          the fully resolved TrainConfig, the recipe it came from, dataset facts
    history.csv          one row per epoch: epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,steps
    results.json         status and final metrics (see docs/architecture.md for the keys)
    checkpoints/last.pt  (or last.npz for the NumPy engine) enough to resume exactly
    checkpoints/best.pt  the weights of the epoch with the best validation accuracy
    train.log            the log of the run
    plots/*.png
    .lock                while a process trains the run: locked by it (``flock``), its PID inside; gone when it ends

A live run is told from a dead one by its lock, not by its files: the operating system releases a ``flock`` when
the process that holds it dies, however it dies (SIGKILL, the OOM killer), so a locked run is ``running`` and an
unlocked one without results is ``incomplete`` and can be resumed.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionbench.errors import RunError, first_line
from visionbench.locks import (  # re-exported: the locks are part of what a run directory is
    CLAIMS_DIR,
    LOCK_NAME,
    DirLock,
    holder,
    lock_dir,
    lock_owner,
    try_claim,
    try_lock,
    wait_for_lock,
)

__all__ = [
    "HISTORY_FIELDS",
    "CHECKPOINT_NAMES",
    "checkpoint_path",
    "Run",
    "atomic_write_bytes",
    "atomic_write_text",
    "write_json",
    "write_history",
    "new_run_dir",
    "run_name",
    "slug",
    "unique_dir",
    "claim_run_dir",
    "check_writable",
    "DirLock",
    "LOCK_NAME",
    "lock_dir",
    "try_lock",
    "wait_for_lock",
    "CLAIMS_DIR",
    "try_claim",
    "lock_owner",
    "remove_temporaries",
    "read_run",
    "is_run_dir",
    "find_runs",
    "attempt_rank",
    "latest_attempt",
    "RETIRED_DIR",
]

#: Checkpoint names of a run, in the order a reader prefers them for its weights (best on validation first).
CHECKPOINT_NAMES = ("best", "last")


def checkpoint_path(run_dir: str | os.PathLike[str], name: str, suffix: str = ".pt") -> Path:
    """``run_dir/checkpoints/<name><suffix>``: ``name`` is ``best`` or ``last``, ``suffix`` the engine's
    (``.pt`` for PyTorch, ``.npz`` for the NumPy engine)."""
    if name not in CHECKPOINT_NAMES:
        raise ValueError(f"checkpoint name must be one of {CHECKPOINT_NAMES}, got {name!r}")
    return Path(run_dir) / "checkpoints" / f"{name}{suffix}"


HISTORY_FIELDS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "steps"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets the mode of an ordinary ``open(path, "w")`` (0o666 less the umask), not ``mkstemp``'s 0o600, so run
    directories stay readable by whoever may read the folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # a full disk, a read-only or vanished folder: one line, the old file kept
            raise RunError(f"{path}: cannot write ({exc.strerror or exc}); {_WRITE_FIX.get(exc.errno, _WRITE_FIX[0])}"
                           ) from None
        raise


_WRITE_FIX = {
    # Every writer shares these words (a training run, a report, an export): the resume hint says where it applies.
    errno.ENOSPC: "free some disk space and run the command again (a training run or a comparison continues with "
                  "--resume); the previous version of the file is unchanged",
    errno.EDQUOT: "free some of your quota and run the command again (a training run or a comparison continues with "
                  "--resume); the previous version of the file is unchanged",
    errno.EROFS: "the folder is read-only: choose another output folder",
    errno.EACCES: "the folder is not writable: choose another output folder or fix its permissions",
    0: "check the folder and the disk; the previous version of the file is unchanged",
}


def _umask() -> int:
    # The process's umask, read without changing it where Linux shows it (os.umask can only set it, and setting it
    # even for an instant would race with other threads creating files).
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays, paths
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_history(path: str | os.PathLike[str], rows: list[dict[str, Any]],
                  fields: Sequence[str] = HISTORY_FIELDS) -> None:
    """Write the per-epoch history as CSV, atomically (the whole file each time); ``fields`` are the task's columns
    (the classification ones by default)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())


def slug(text: str) -> str:
    """``text`` as a safe folder-name part: anything but letters, digits, ``.``, ``_`` and ``-`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def _candidates(parent: str | os.PathLike[str], name: str) -> Iterator[Path]:
    """``parent/name``, ``parent/name-2``, ``-3``... (``parent`` created); a RunError when all are taken."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        yield parent / (name if i == 1 else f"{name}-{i}")
    raise RunError(f"could not create a new folder under {parent}: too many runs named {name!r}")


def unique_dir(parent: str | os.PathLike[str], name: str) -> Path:
    """Create and return ``parent/name``, or ``parent/name-2``, ``-3``... if it exists: never reuse a folder."""
    for candidate in _candidates(parent, name):
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")  # _candidates raises when it runs out


def run_name(model: str, dataset: str) -> str:
    """The default name of a run directory: ``<YYYYmmdd-HHMMSS>-<model>-<dataset>``."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug(model)}-{slug(dataset)}"


def new_run_dir(output_dir: str | os.PathLike[str], model: str, dataset: str) -> Path:
    """Create a fresh ``<output_dir>/<YYYYmmdd-HHMMSS>-<model>-<dataset>`` folder (suffixed if it exists)."""
    return unique_dir(output_dir, run_name(model, dataset))


def is_run_dir(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` holds a ``config.json`` written by a run."""
    return (Path(path) / "config.json").is_file()


# --- locks: a live process's folder is never taken for a finished or dead one ------------------------------------

#: The lock file of a run (or comparison) directory.
def remove_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete what atomic writes cut short left in ``folder`` and below (``.<name>.*.tmp``); returns them.

    Only for a folder whose lock this process holds: nobody else can be writing there.
    """
    stale = [p for p in Path(folder).rglob(".*.tmp") if _is_temporary(p)]
    for p in stale:
        p.unlink()
    return stale


def _unstarted(folder: Path) -> bool:
    """True for a run folder whose process died before it wrote config.json: nothing in it but its lock file, an
    empty ``checkpoints/`` and temporary files."""
    for p in folder.iterdir():
        if p.name == "checkpoints" and p.is_dir():
            if not all(_is_temporary(c) for c in p.iterdir()):
                return False
        elif not (p.name == LOCK_NAME or _is_temporary(p)):
            return False
    return True


def _is_temporary(path: Path) -> bool:
    # The names atomic_write_bytes (and the write probe) give their temporary files: .<name>.<random>.tmp
    return path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file()


def claim_run_dir(parent: str | os.PathLike[str], name: str) -> tuple[Path, DirLock]:
    """Create ``parent/name`` (``-2``, ``-3``... if taken) and lock it; a folder of that name left by a run killed
    before it wrote its config.json is reused, so restarting the same command never leaves two folders."""
    for candidate in _candidates(parent, name):
        try:
            candidate.mkdir()
        except FileExistsError:
            if not candidate.is_dir() or is_run_dir(candidate) or not _unstarted(candidate):
                continue
        lock = try_lock(candidate)
        if lock is None:  # another process took it between our mkdir and our lock
            continue
        if is_run_dir(candidate) or not _unstarted(candidate):
            lock.release()
            continue
        remove_temporaries(candidate)
        return candidate, lock
    raise AssertionError("unreachable")  # _candidates raises when it runs out


def _probe_write(folder: Path) -> None:
    # Create and delete a file: the only test that tells a read-only mount, a full quota or a permission apart
    # from a writable folder for every user (root passes os.access on folders it cannot write on a read-only mount).
    fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.", suffix=".tmp")
    os.close(fd)
    os.unlink(probe)


def check_writable(folder: str | os.PathLike[str], option: str = "--output-dir") -> None:
    """Raise a one-line :class:`RunError` unless files can be written in ``folder`` (or, if it does not exist yet,
    in its nearest existing parent, where it would be created). Nothing is created. ``option`` names what the user
    gave: ``--output-dir`` (the fix: another folder) or ``--resume`` (the fix: resume a copy)."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RunError(f"{option} {folder}: {existing} is a file, not a folder; choose another output folder")
    try:
        _probe_write(existing)
    except OSError as exc:
        why = exc.strerror or str(exc)
        fix = (_WRITE_FIX.get(exc.errno, _WRITE_FIX[errno.EACCES]) if option != "--resume" else
               "copy the folder somewhere writable and resume the copy")
        raise RunError(f"{option} {folder}: cannot write in {existing} ({why}); {fix}") from None


@dataclass
class Run:
    """A run directory read back."""

    path: Path
    config: dict[str, Any]
    history: list[dict[str, float]]
    results: dict[str, Any] | None
    locked_by: int | None = None  # the PID of the live process training it when it was read (0: not yet known)

    @property
    def model(self) -> str:
        return str(self.config.get("model", "?"))

    @property
    def dataset(self) -> str:
        return str(self.config.get("dataset", "?"))

    @property
    def status(self) -> str:
        """``running`` while a live process holds the run's lock, else results.json's status (``completed``,
        ``diverged``, ``interrupted``, ``failed``, ``pruned`` by a sweep), else ``incomplete`` (stopped before it
        wrote results: resumable)."""
        if self.locked_by is not None:
            return "running"
        return str((self.results or {}).get("status", "incomplete"))


def read_run(path: str | os.PathLike[str]) -> Run:
    """Read a run directory; raises :class:`RunError` naming the folder when it is not a run."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run directory; give a folder made by `visionbench train`")
    if not is_run_dir(path):
        if any(path.iterdir()) and _unstarted(path):  # a run killed before its first file, or one starting now
            pid = lock_owner(path)
            raise RunError(f"{path}: {holder(pid)} is starting this run now; wait for it" if pid is not None else
                           f"{path}: nothing to resume, the run was stopped before it wrote config.json; start it "
                           f"again (with the same --run-name it reuses this folder) or delete the folder")
        raise RunError(f"{path}: not a run directory (no config.json); give a folder made by `visionbench train`")
    config = _json_object(path / "config.json", "the run directory is damaged")
    hist_path = path / "history.csv"
    history = _history(hist_path) if hist_path.is_file() else []
    res_path = path / "results.json"
    results = _json_object(res_path, f"re-run `visionbench evaluate {path}`") if res_path.is_file() else None
    return Run(path=path, config=config, history=history, results=results, locked_by=lock_owner(path))


def _json_object(file: Path, fix: str) -> dict[str, Any]:
    """A run file that must hold one JSON object (UTF-8); anything else is one line naming it."""
    try:
        obj = json.loads(file.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RunError(f"{file}: unreadable ({first_line(exc)}); "
                       f"{fix}") from None
    if not isinstance(obj, dict):
        raise RunError(f"{file}: holds a JSON {type(obj).__name__}, not an object; {fix}")
    return obj


def _history(file: Path) -> list[dict[str, float]]:
    """history.csv as one dict of numbers per epoch; a damaged line is one error naming its number."""
    rows: list[dict[str, float]] = []
    line = 1
    try:
        with file.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            for row in reader:
                line = reader.line_num
                if None in row or None in row.values():
                    raise ValueError("a row with more or fewer cells than the header")
                rows.append({k: float(v) for k, v in row.items() if v != ""})
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise RunError(f"{file}: line {line}: unreadable ({first_line(exc)}); the run directory is "
                       f"damaged") from None
    return rows


#: The folder of a comparison directory (one holding plan.json) where runs trained again are kept, out of reports.
RETIRED_DIR = "retired"


def find_runs(root: str | os.PathLike[str]) -> list[Path]:
    """Every run directory at or below ``root``, sorted by path; runs a comparison retired (its ``retired/``
    folder) are left out unless ``root`` is that folder or inside it."""
    root = Path(root)
    if is_run_dir(root):
        return [root]
    return sorted(p.parent for p in root.rglob("config.json")
                  if is_run_dir(p.parent) and not _retired(p.parent, root))


def attempt_rank(run: Run) -> int:
    """How much a run counts among the attempts at one planned run: completed (2) over running (1) over anything else
    (0); among equals, the later attempt."""
    return {"completed": 2, "running": 1}.get(run.status, 0)


def latest_attempt(runs_dir: str | os.PathLike[str], name: str) -> Run | None:
    """The attempt that counts among the runs ``runs_dir/<name>``, ``<name>-2``, ``-3``... (the names
    :func:`claim_run_dir` gives one run name's attempts): a completed one, else one being trained, else the last, by
    number (``-10`` after ``-9``); None when there is none. A folder gone while it is read (moved to ``retired/`` by
    another worker) is not an attempt."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return None
    pattern = re.compile(rf"{re.escape(name)}(?:-(\d+))?")
    attempts = sorted((int(m.group(1) or 1), p) for p in runs_dir.iterdir()
                      if (m := pattern.fullmatch(p.name)) and is_run_dir(p))
    best: Run | None = None
    for _, path in attempts:
        try:
            run = read_run(path)
        except RunError:
            if path.exists():
                raise
            continue
        if best is None or attempt_rank(run) >= attempt_rank(best):
            best = run
    return best


def _retired(run: Path, root: Path) -> bool:
    return any(a.name == RETIRED_DIR and (a.parent / "plan.json").is_file()
               for a in run.parents if root in a.parents)
