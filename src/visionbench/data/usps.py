"""USPS handwritten digits (16x16 grey, labels 0..9) in its three common formats.

- LIBSVM (``usps.bz2`` / ``usps.t.bz2``, or uncompressed ``usps`` / ``usps.t``): one line per image,
  ``label idx:value ...`` with labels 1..10 (label ``k`` is the digit ``k - 1``, as torchvision reads it) and
  256 pixel values in [-1, 1]; a missing index is the value 0, as LIBSVM's sparse format says.
- Kaggle ``usps.h5``: groups ``train`` and ``test``, each with ``data`` (N, 256) in [0, 1] and ``target`` (N,) 0..9.
- The course's ``USPS_train.txt`` / ``USPS_test.txt``: a header line, then one line per image, the label 0..9 first,
  then 256 pixel values in [0, 2].

Every format is mapped linearly to uint8 0..255 (``round((v - lo) / (hi - lo) * 255)``).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from visionbench.data._base import Dataset, Split
from visionbench.data._io import check_labels, one_line, read_bytes
from visionbench.data._search import Found
from visionbench.errors import DataError

__all__ = ["load_usps", "read_libsvm", "read_usps_h5", "read_course_txt"]

_PIXELS = 256
#: The most values an h5 split may declare: 2^28 (USPS holds 9,298 images of 256 pixels, 2.4 million values).
MAX_H5_VALUES = 2**28


def _to_uint8(values: np.ndarray, lo: float, hi: float, path: Path, fix: str) -> np.ndarray:
    """(N, 256) floats in [lo, hi] -> uint8 (N, 1, 16, 16)."""
    if values.size and (np.nanmin(values) < lo - 1e-3 or np.nanmax(values) > hi + 1e-3 or np.isnan(values).any()):
        raise DataError(
            f"{path}: pixel values span [{np.nanmin(values):.3g}, {np.nanmax(values):.3g}], expected [{lo:g}, {hi:g}]"
            f"; is this the right format? {fix}"
        )
    scaled = np.rint((values - lo) * (255.0 / (hi - lo))).clip(0, 255).astype(np.uint8)
    return scaled.reshape(-1, 1, 16, 16)  # (N, 1, 16, 16), rows of 16 pixels


def _parse_numbers(text: str) -> np.ndarray | None:
    """All whitespace-separated numbers of ``text`` with NumPy's C parser, or None if one is not a number."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fromstring only warns when it stops at a bad token
        try:
            return np.fromstring(text, dtype=np.float64, sep=" ")
        except (ValueError, DeprecationWarning):
            return None


def read_libsvm(path: Path, fix: str) -> Split:
    """A LIBSVM USPS file: labels 1..10 -> 0..9, 256 values in [-1, 1]."""
    text = read_bytes(path, fix).decode("ascii", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise DataError(f"{path}: empty file; {fix}")
    pairs_per_line = np.array([ln.count(":") for ln in lines], np.int64)
    flat = _parse_numbers(" ".join(lines).replace(":", " "))
    if flat is None or len(flat) != len(lines) + 2 * int(pairs_per_line.sum()):
        raise DataError(f"{path}: not LIBSVM text ('label index:value ...' on every line); {fix}")
    # Line i starts with its label at offset i + 2 * (pairs on the lines before it).
    starts = np.arange(len(lines)) + 2 * np.concatenate([[0], np.cumsum(pairs_per_line)[:-1]])
    is_label = np.zeros(len(flat), bool)
    is_label[starts] = True
    raw_labels = flat[starts]
    pairs = flat[~is_label].reshape(-1, 2)  # (total pairs, 2): index, value
    idx = pairs[:, 0]
    if idx.size and (idx.min() < 1 or idx.max() > _PIXELS or np.any(idx != np.round(idx))):
        raise DataError(f"{path}: feature indices must be integers in 1..{_PIXELS}; {fix}")
    rows = np.repeat(np.arange(len(lines)), pairs_per_line)
    # Within a line the indices must strictly increase (LIBSVM's own reader refuses the rest): a repeated index
    # would silently keep the last value.
    same_line = rows[1:] == rows[:-1]
    if np.any(same_line & (idx[1:] <= idx[:-1])):
        line = int(rows[1:][same_line & (idx[1:] <= idx[:-1])][0]) + 1
        raise DataError(f"{path}: line {line}: feature indices must increase strictly (a repeated or descending "
                        f"index); {fix}")
    values = np.zeros((len(lines), _PIXELS), np.float64)
    values[rows, idx.astype(np.int64) - 1] = pairs[:, 1]
    if np.any(raw_labels != np.round(raw_labels)):
        raise DataError(f"{path}: non-integer labels; {fix}")
    labels = check_labels(raw_labels.astype(np.int64) - 1, 10, path, fix + " (LIBSVM USPS labels are 1..10)")
    return Split(_to_uint8(values, -1.0, 1.0, path, fix), labels)


def read_usps_h5(path: Path, fix: str) -> tuple[Split, Split]:
    """The Kaggle ``usps.h5``: ``train``/``test`` groups of ``data`` (N, 256) in [0, 1] and ``target``."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({one_line(exc)}); {fix}") from exc
    with f:
        splits = []
        for group in ("train", "test"):
            where = f"{path}[{group}]"
            try:
                entries = f[group]["data"], f[group]["target"]
                declared = sum(math.prod(e.shape) for e in entries)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:  # ValueError: a dataset, not a group
                raise DataError(
                    f"{path}: missing {group}/data or {group}/target (expected groups train and test, each with "
                    f"data (N, 256) and target (N,)); {fix}"
                ) from exc
            if declared > MAX_H5_VALUES:  # checked before reading: an HDF5 file can declare terabytes it never stores
                raise DataError(f"{where}: declares {declared:,} values, more than any USPS file ({MAX_H5_VALUES:,})"
                                f"; {fix}")
            try:
                data = np.asarray(entries[0][()], np.float64)
                target = np.asarray(entries[1][()])
            except (TypeError, ValueError, OSError) as exc:
                raise DataError(f"{where}: data or target is not numbers ({one_line(exc)}); {fix}") from exc
            if data.ndim != 2 or data.shape[1] != _PIXELS:
                raise DataError(f"{where}: data has shape {data.shape}, expected (N, {_PIXELS}); {fix}")
            if target.shape != (len(data),):
                raise DataError(f"{where}: target has shape {target.shape}, expected ({len(data)},); {fix}")
            labels = check_labels(target, 10, Path(where), fix)
            splits.append(Split(_to_uint8(data, 0.0, 1.0, Path(where), fix), labels))
    return splits[0], splits[1]


def read_course_txt(path: Path, fix: str) -> Split:
    """The course's text file: a header line, then ``label p1 ... p256`` per line, pixels in [0, 2]."""
    lines = [ln for ln in read_bytes(path, fix).decode("ascii", errors="replace").splitlines() if ln.strip()]
    # The header is a line that is not 257 numbers (a title or "N 256"); data lines are.
    start = 1 if lines and len(lines[0].split()) != _PIXELS + 1 else 0
    first = lines[0].split() if lines else []
    if start and len(first) > 2 and _parse_numbers(lines[0]) is not None:  # a header fused with a row, a cut row
        raise DataError(f"{path}: line 1 holds {len(first)} numbers: neither an 'N 256' header nor a row of 257 "
                        f"numbers; the file is damaged, {fix}")
    counts = {len(ln.split()) for ln in lines[start:]}
    table = _parse_numbers(" ".join(lines[start:])) if counts == {_PIXELS + 1} else None
    if table is None:
        raise DataError(f"{path}: expected lines of 257 numbers (label then 256 pixels) after a header line; {fix}")
    table = table.reshape(-1, _PIXELS + 1)  # (N, 1 + 256)
    if table.ndim != 2 or table.shape[1] != _PIXELS + 1 or len(table) == 0:
        raise DataError(f"{path}: expected lines of 257 numbers (label then 256 pixels); {fix}")
    if np.any(table[:, 0] != np.round(table[:, 0])):
        raise DataError(f"{path}: non-integer labels in the first column; {fix}")
    head = lines[0].split() if start else []
    if len(head) == 2 and all(w.isdigit() for w in head):  # the course's "N 256" header: it must describe the rows
        n, width = int(head[0]), int(head[1])
        if (n, width) != (len(table), _PIXELS):
            raise DataError(f"{path}: the header says {n} images of {width} pixels but the file holds {len(table)} "
                            f"of {_PIXELS}; the file is cut or edited, {fix}")
    labels = check_labels(table[:, 0], 10, path, fix)
    return Split(_to_uint8(table[:, 1:], 0.0, 2.0, path, fix), labels)


def load_usps(found: Found, fix: str) -> Dataset:
    """The ``usps`` dataset from whichever of the three layouts was found."""
    f = found.files
    if found.format == "libsvm":
        train, test = read_libsvm(f["train"], fix), read_libsvm(f["test"], fix)
    elif found.format == "h5":
        train, test = read_usps_h5(f["h5"], fix)
    else:
        train, test = read_course_txt(f["train"], fix), read_course_txt(f["test"], fix)
    return Dataset(
        "usps", train, test, [str(i) for i in range(10)], source=str(found.folder), info={"format": found.format}
    )
