"""Reading a whole file that may be gzip- or bzip2-compressed, with one-line errors naming the file."""

from __future__ import annotations

import bz2
import gzip
import zlib
from pathlib import Path

import numpy as np

from visionbench.errors import DataError

__all__ = ["read_bytes", "check_labels", "one_line"]


def one_line(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def read_bytes(path: Path, fix: str) -> bytes:
    """The (decompressed) content of ``path``; compression is detected from the magic bytes, not the name.

    Args:
        path: the file.
        fix: the hint appended to error messages ("re-download it with `visionbench download mnist`").

    Raises:
        DataError: unreadable file or corrupt compressed stream.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({one_line(exc)}); {fix}") from exc
    try:
        if raw[:2] == b"\x1f\x8b":
            return gzip.decompress(raw)
        if raw[:3] == b"BZh":
            return bz2.decompress(raw)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        kind = "gzip" if raw[:2] == b"\x1f\x8b" else "bzip2"
        raise DataError(f"{path}: corrupt {kind} stream ({one_line(exc)}); {fix}") from exc
    if path.suffix in (".gz", ".bz2"):
        # A name that promises compression on a file that is not compressed means a broken or HTML download.
        raise DataError(f"{path}: not a {path.suffix[1:]} file (bad magic bytes {raw[:4]!r}); {fix}")
    return raw


def check_labels(labels: np.ndarray, num_classes: int, path: Path, fix: str) -> np.ndarray:
    """``labels`` as int64 after checking they are in ``[0, num_classes)``."""
    labels = np.asarray(labels).astype(np.int64, copy=False)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise DataError(f"{path}: label {int(bad)} is out of range 0..{num_classes - 1}; {fix}")
    return labels
