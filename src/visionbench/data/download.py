"""Opt-in download of the datasets from their canonical URLs, verified by checksum, resumable and atomic.

Each file is fetched into ``<name>.part`` (continued with an HTTP ``Range`` request when a partial file is there),
its MD5 is checked (the checksums torchvision publishes for the same URLs), then it is renamed into place, so a
crash never leaves a file that looks complete. A mismatch removes the partial file. The base URL can be replaced
by a mirror (``mirror=`` or ``$VISIONBENCH_MIRROR``): the files are then fetched from ``<mirror>/<file name>``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from visionbench.data._io import one_line
from visionbench.data._search import ENV_CACHE, cache_root
from visionbench.errors import ConfigError, DataError, RunError, suggest
from visionbench.locks import DirLock, holder, lock_owner, try_lock

__all__ = ["Resource", "RESOURCES", "ENV_MIRROR", "download_dataset", "downloadable", "file_digest"]

ENV_MIRROR = "VISIONBENCH_MIRROR"
Progress = Callable[[str, int, "int | None"], None]


@dataclass(frozen=True)
class Resource:
    """One file to fetch: its name, base URL and checksum (MD5 and/or SHA-256, hex)."""

    filename: str
    base_url: str
    md5: str = ""
    sha256: str = ""


def _set(base: str, pairs: tuple[tuple[str, str], ...]) -> tuple[Resource, ...]:
    return tuple(Resource(name, base, md5=md5) for name, md5 in pairs)


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_KMNIST = "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"
_TORONTO = "https://www.cs.toronto.edu/~kriz/"
_LIBSVM = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"

RESOURCES: dict[str, tuple[Resource, ...]] = {
    "mnist": _set(
        _MNIST,
        (
            ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
    ),
    "fashion-mnist": _set(
        _FASHION,
        (
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
    ),
    "kmnist": _set(
        _KMNIST,
        (
            ("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
            ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
            ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
            ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"),
        ),
    ),
    "usps": _set(
        _LIBSVM, (("usps.bz2", "ec16c51db3855ca6c91edd34d0e9b197"), ("usps.t.bz2", "8ea070ee2aca1ac39742fdd1ef5ed118"))
    ),
    "cifar10": _set(_TORONTO, (("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),)),
    "cifar100": _set(_TORONTO, (("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),)),
}


def downloadable() -> list[str]:
    """Names :func:`download_dataset` accepts."""
    return list(RESOURCES)


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _verify(path: Path, res: Resource) -> tuple[bool, str]:
    """(ok, what was found) for the checksum(s) the resource carries."""
    for algo, want in (("sha256", res.sha256), ("md5", res.md5)):
        if want:
            got = file_digest(path, algo)
            if got != want.lower():
                return False, f"{algo} {got}, expected {want}"
    return True, ""


def _fetch(url: str, part: Path, progress: Progress | None, timeout: float) -> None:
    """Fetch ``url`` into ``part``, continuing a partial file with a Range request when the server allows it."""
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "visionbench"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        resp = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as exc:
        if exc.code == 416 and start:  # nothing left to fetch: the partial file is whole, the checksum decides
            return
        raise DataError(f"{url}: download failed (HTTP {exc.code} {exc.reason}); {_NET_FIX}") from exc
    except (URLError, OSError) as exc:
        raise DataError(f"{url}: download failed ({one_line(exc)}); {_NET_FIX}") from exc
    with resp:
        resumed = bool(start) and resp.status == 206
        length = resp.headers.get("Content-Length")
        total = (int(length) + (start if resumed else 0)) if length and length.isdigit() else None
        done = start if resumed else 0
        try:
            with part.open("ab" if resumed else "wb") as f:
                while chunk := resp.read(1 << 16):
                    f.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(part.name[: -len(".part")], done, total)
        except (OSError, HTTPException) as exc:  # the partial file stays: the next call resumes it
            raise DataError(f"{url}: download interrupted ({one_line(exc)}); run the command again to resume") from exc
    if total is not None and done < total:  # the server closed early without an error: keep what came, resume later
        raise DataError(f"{url}: download interrupted (connection closed after {done:,} of {total:,} bytes); run "
                        f"the command again to resume")


_NET_FIX = "check the network, set $VISIONBENCH_MIRROR to a mirror, or copy the files by hand into --data-dir"


def download_dataset(
    key: str,
    dest: str | Path | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
    mirror: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download one entry of :data:`RESOURCES` into ``dest`` (default: the user cache, ``<cache>/datasets/<key>``).

    This module knows files and URLs, not dataset names: :func:`visionbench.data.download_dataset` takes any
    catalogue name or alias (``fmnist``, ``cifar100-coarse``) and passes its key here.

    Args:
        key: one of :func:`downloadable` (case is ignored).
        dest: target folder, created if needed.
        force: fetch again even when a verified copy is there.
        progress: called as ``progress(file_name, bytes_done, bytes_total_or_None)``.
        mirror: base URL replacing the canonical ones (default ``$VISIONBENCH_MIRROR``).
        timeout: seconds before a stalled connection fails.

    Returns:
        The folder holding the files.

    Raises:
        ConfigError: unknown key.
        DataError: network failure, checksum mismatch (the partial file is then removed), or a folder this process
            cannot write when a file is missing (a complete, verified folder is only read).
    """
    name, key = key, key.strip().lower()
    if key not in RESOURCES:
        raise ConfigError(
            f"cannot download {name!r}{suggest(key, RESOURCES)}; downloadable: {', '.join(RESOURCES)} "
            "(digits is bundled with scikit-learn, imagefolder trees are your own)"
        )
    folder = Path(dest).expanduser() if dest is not None else cache_root() / key
    todo, said = _to_fetch(key, folder, force), False
    # One downloader per folder: the ranks of a torchrun launch, compare workers and other shells asking for the
    # same dataset wait while one fetches, then find the files verified (each checks them itself, not under the
    # lock). A folder already complete is never locked, so a read-only copy of the files serves as it is.
    while todo:
        lock = _lock(folder)
        if lock is None:
            said = _wait_for_holder(folder, said)
            todo = _to_fetch(key, folder, force)
            continue
        try:
            _fetch_all(todo, folder, force, progress, mirror, timeout)
        finally:
            lock.release()
        break
    return folder


#: Seconds a caller waits for another process's download before it says so (once).
WAIT_NOTICE_SECONDS = 2.0
_POLL_SECONDS = 0.2
log = logging.getLogger("visionbench.data")


def _to_fetch(key: str, folder: Path, force: bool) -> list[Resource]:
    """The files of ``key`` that are missing from ``folder`` or fail their checksum (all of them with ``force``)."""
    if force:
        return list(RESOURCES[key])
    return [res for res in RESOURCES[key] if not ((folder / res.filename).is_file() and _verify(folder / res.filename,
                                                                                                res)[0])]


def _lock(folder: Path) -> DirLock | None:
    """``folder``'s lock (made if needed), None while another process holds it; a folder that cannot be written is
    one DataError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return try_lock(folder)
    except (OSError, RunError) as exc:
        cause = exc.__context__ if isinstance(exc.__context__, OSError) else exc  # try_lock's RunError hides it
        reason = getattr(cause, "strerror", None) or one_line(cause)
        raise DataError(f"{folder}: cannot download into this folder ({reason}); choose a writable one: --data-dir "
                        f"DIR, or ${ENV_CACHE} for the cache") from None


def _wait_for_holder(folder: Path, said: bool) -> bool:
    """Wait, however long it takes, until no live process holds ``folder``'s lock; unless ``said``, say who is
    awaited after :data:`WAIT_NOTICE_SECONDS`. Returns whether it is said. Ctrl-C stops the wait (this process holds
    nothing yet)."""
    start = time.monotonic()
    try:
        while (pid := lock_owner(folder)) is not None:
            if not said and time.monotonic() - start >= WAIT_NOTICE_SECONDS:
                log.warning("waiting for %s, which is downloading into %s", holder(pid), folder)
                said = True
            time.sleep(_POLL_SECONDS)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"stopped waiting for the download into {folder}; nothing was fetched by this "
                                f"process") from None
    return said


def _fetch_all(todo: list[Resource], folder: Path, force: bool, progress: Progress | None, mirror: str | None,
               timeout: float) -> None:
    base_override = mirror or os.environ.get(ENV_MIRROR) or ""
    for res in todo:  # checked again under the lock: another process may have fetched it since
        final = folder / res.filename
        part = folder / (res.filename + ".part")
        if final.exists() and not force and _verify(final, res)[0]:
            continue
        if force and part.exists():
            part.unlink()
        url = (base_override.rstrip("/") + "/" if base_override else res.base_url) + res.filename
        _fetch(url, part, progress, timeout)
        ok, found = _verify(part, res)
        if not ok:
            part.unlink(missing_ok=True)
            raise DataError(
                f"{url}: checksum mismatch ({found}); the partial file was removed; retry, or use another mirror"
            )
        os.replace(part, final)
