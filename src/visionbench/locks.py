"""Folder locks: an ``flock`` on ``<folder>/.lock`` holding the owner's PID, freed by the kernel however the
process ends. One lock per run directory (a run being trained), per claimed unit of shared work (a comparison's
run, a study's part: ``.claims/<key>``), per dataset download folder. ``visionbench.runs`` re-exports these names."""

from __future__ import annotations

import os
import time
from pathlib import Path

from visionbench.errors import RunError

try:
    import fcntl
except ImportError:  # Windows: no flock; folders are not locked there
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "CLAIMS_DIR", "DirLock", "try_lock", "wait_for_lock", "try_claim", "lock_owner", "lock_dir",
           "holder"]

LOCK_NAME = ".lock"
_LOCK_TRIES = 20  # a reader probing the lock holds it for microseconds: try again for ~0.2 s before calling it busy


class DirLock:
    """A held lock on a folder (see :func:`try_lock`); release it with :meth:`release` or a ``with`` block."""

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder, self._fd = folder, fd

    def release(self) -> None:
        """Remove the lock file, then let go of the lock (the order keeps a newcomer from locking a dead file)."""
        if self._fd is None:
            return
        try:
            os.unlink(self.folder / LOCK_NAME)
        except OSError:  # gone, or the folder became read-only: the lock still ends with the descriptor
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> DirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_lock(folder: str | os.PathLike[str]) -> DirLock | None:
    """Take ``folder``'s lock (an ``flock`` on ``folder/.lock``, the PID written inside), or None if a live
    process holds it. The operating system releases it when the process ends, however it ends."""
    folder = Path(folder)
    path = folder / LOCK_NAME
    for _ in range(_LOCK_TRIES):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:  # a read-only or vanished folder: one line, as for any write
            from visionbench.runs import _WRITE_FIX  # (runs imports this module)

            raise RunError(f"{path}: cannot create the lock file ({exc.strerror or exc}); "
                           f"{_WRITE_FIX.get(exc.errno, _WRITE_FIX[0])}") from None
        if fcntl is None:
            return DirLock(folder, fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            time.sleep(0.01)
            continue
        try:  # the last holder may have removed the file between our open and our lock: ours would be on nothing
            current = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            current = False
        if not current:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return DirLock(folder, fd)
    return None


def wait_for_lock(folder: str | os.PathLike[str]) -> DirLock:
    """Take ``folder``'s lock, waiting for its turn: for locks held seconds at a time (a comparison's folder while its
    report is written, a study's while ``study.json`` is, an MLflow store's while it is created)."""
    while (lock := try_lock(folder)) is None:
        time.sleep(0.1)
    return lock


#: Where the workers of a comparison or a study claim their work: ``<home>/.claims/<key>/.lock``, held (``flock``) by
#: the worker doing it. A claim lives beside the work rather than in its folder: that folder may not exist yet, and the
#: process doing the work may lock it itself.
CLAIMS_DIR = ".claims"


def try_claim(home: str | os.PathLike[str], key: str) -> DirLock | None:
    """Take the claim ``<home>/.claims/<key>`` (folders made as needed), or None while a live process holds it."""
    folder = Path(home) / CLAIMS_DIR / key
    folder.mkdir(parents=True, exist_ok=True)
    return try_lock(folder)


def lock_owner(folder: str | os.PathLike[str]) -> int | None:
    """The PID of the live process holding ``folder``'s lock (0 if it has not written it yet), None when none
    does: no lock file, or one left by a process that died."""
    if fcntl is None:
        return None
    try:
        fd = os.open(Path(folder) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def lock_dir(folder: str | os.PathLike[str], doing: str = "training this run") -> DirLock:
    """:func:`try_lock`, or a :class:`RunError` naming the folder and the process that holds it."""
    lock = try_lock(folder)
    if lock is None:
        raise RunError(f"{folder}: {holder(lock_owner(folder))} is {doing} now ({LOCK_NAME} is locked); wait "
                       f"for it to finish or stop it, then try again")
    return lock


def holder(pid: int | None) -> str:
    return f"process {pid}" if pid else "another process"
