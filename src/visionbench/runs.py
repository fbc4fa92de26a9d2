"""The run directory: create it (never overwrite), write files atomically, read it back, list runs.

Layout of ``runs/<YYYYmmdd-HHMMSS>-<model>-<dataset>/``::

    config.json          the fully resolved TrainConfig, the recipe it came from, dataset facts
    history.csv          one row per epoch: epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,steps
    results.json         status and final metrics (see docs/architecture.md for the keys)
    checkpoints/last.pt  (or last.npz for the NumPy engine) enough to resume exactly
    checkpoints/best.pt  the weights of the epoch with the best validation accuracy
    train.log            the log of the run
    plots/*.png
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionbench.errors import RunError

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
    "slug",
    "unique_dir",
    "read_run",
    "is_run_dir",
    "find_runs",
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
    errno.ENOSPC: "free some disk space and continue (`--resume`); the previous version of the file is unchanged",
    errno.EDQUOT: "free some of your quota and continue (`--resume`); the previous version of the file is unchanged",
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


def unique_dir(parent: str | os.PathLike[str], name: str) -> Path:
    """Create and return ``parent/name``, or ``parent/name-2``, ``-3``... if it exists: never reuse a folder."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        candidate = parent / (name if i == 1 else f"{name}-{i}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise RunError(f"could not create a new folder under {parent}: too many runs named {name!r}")


def new_run_dir(output_dir: str | os.PathLike[str], model: str, dataset: str) -> Path:
    """Create a fresh ``<output_dir>/<YYYYmmdd-HHMMSS>-<model>-<dataset>`` folder (suffixed if it exists)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return unique_dir(output_dir, f"{stamp}-{slug(model)}-{slug(dataset)}")


def is_run_dir(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` holds a ``config.json`` written by a run."""
    return (Path(path) / "config.json").is_file()


@dataclass
class Run:
    """A run directory read back."""

    path: Path
    config: dict[str, Any]
    history: list[dict[str, float]]
    results: dict[str, Any] | None

    @property
    def model(self) -> str:
        return str(self.config.get("model", "?"))

    @property
    def dataset(self) -> str:
        return str(self.config.get("dataset", "?"))

    @property
    def status(self) -> str:
        return str((self.results or {}).get("status", "incomplete"))


def read_run(path: str | os.PathLike[str]) -> Run:
    """Read a run directory; raises :class:`RunError` naming the folder when it is not a run."""
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run directory; give a folder made by `visionbench train`")
    if not is_run_dir(path):
        raise RunError(f"{path}: not a run directory (no config.json); give a folder made by `visionbench train`")
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"{path / 'config.json'}: unreadable ({exc}); the run directory is damaged") from None
    history: list[dict[str, float]] = []
    hist_path = path / "history.csv"
    if hist_path.is_file():
        with hist_path.open(newline="") as f:
            for row in csv.DictReader(f):
                history.append({k: float(v) for k, v in row.items() if v not in ("", None)})
    results = None
    res_path = path / "results.json"
    if res_path.is_file():
        try:
            results = json.loads(res_path.read_text())
        except json.JSONDecodeError as exc:
            raise RunError(f"{res_path}: unreadable ({exc}); re-run `visionbench evaluate {path}`") from None
    return Run(path=path, config=config, history=history, results=results)


def find_runs(root: str | os.PathLike[str]) -> list[Path]:
    """Every run directory at or below ``root``, sorted by path."""
    root = Path(root)
    if is_run_dir(root):
        return [root]
    return sorted(p.parent for p in root.rglob("config.json") if is_run_dir(p.parent))
