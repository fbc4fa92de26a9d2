"""MNIST-family IDX files (``mnist``, ``fashion-mnist``, ``kmnist``), gzipped or raw.

An IDX file is a big-endian header, magic ``00 00 <type> <ndim>`` then ``ndim`` uint32 sizes, then the payload. The
images are type 0x08 (unsigned byte), 3 dims (N, 28, 28), magic 0x00000803; the labels 1 dim (N,), magic 0x00000801.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from visionbench.data._base import Dataset, Split
from visionbench.data._io import check_labels, read_capped
from visionbench.data._search import FileSet, Found
from visionbench.errors import DataError

#: The largest IDX payload accepted (2 GiB; MNIST's training images are 47 MB, EMNIST's largest set 640 MB).
MAX_IDX_BYTES = 2 * 2**30

__all__ = ["read_idx", "idx_count", "idx_filesets", "load_idx", "IDX_ROLES"]

_UBYTE = 0x08
IDX_ROLES = ("train_images", "train_labels", "test_images", "test_labels")


def _names(prefixes: tuple[str, ...], kind: str, ndim: int) -> tuple[str, ...]:
    stems = [f"{p}-{kind}-idx{ndim}-ubyte" for p in prefixes] + [f"{p}-{kind}.idx{ndim}-ubyte" for p in prefixes]
    return tuple(n for s in stems for n in (s + ".gz", s))


def idx_filesets() -> tuple[FileSet, ...]:
    """The four files, ``.gz`` or raw; the test files as ``t10k-*`` (standard) or ``test-*``."""
    roles = (
        ("train_images", _names(("train",), "images", 3)),
        ("train_labels", _names(("train",), "labels", 1)),
        ("test_images", _names(("t10k", "test"), "images", 3)),
        ("test_labels", _names(("t10k", "test"), "labels", 1)),
    )
    return (FileSet("idx", roles),)


def read_idx(path: Path, ndim: int, fix: str) -> np.ndarray:
    """Read an unsigned-byte IDX file with ``ndim`` dimensions.

    Raises:
        DataError: corrupt gzip, wrong magic number, or a payload whose length disagrees with the header.
    """
    expected = (_UBYTE << 8) | ndim
    header = 4 + 4 * ndim
    dims: tuple[int, ...] = ()

    def parse(head: bytes) -> tuple[int, int]:
        nonlocal dims
        if len(head) < 4:
            raise DataError(f"{path}: truncated IDX file ({len(head)} bytes, no header); {fix}")
        magic = struct.unpack(">I", head[:4])[0]
        if magic != expected:
            raise DataError(
                f"{path}: wrong IDX magic number 0x{magic:08x} (expected 0x{expected:08x} for a {ndim}-d "
                f"unsigned-byte array; is this the right file?); {fix}"
            )
        if len(head) < header:
            raise DataError(f"{path}: truncated IDX header ({len(head)} bytes); {fix}")
        dims = struct.unpack(f">{ndim}I", head[4:header])
        size = math.prod(dims)  # Python integers: no wrap-around however absurd the header
        if size > MAX_IDX_BYTES:
            raise DataError(f"{path}: the header announces {'x'.join(map(str, dims))} = {size:,} bytes, more than "
                            f"any dataset of this kind ({MAX_IDX_BYTES:,}); {fix}")
        return header, size

    data = read_capped(path, fix, parse, header)
    size = len(data) - header
    # A copy, so the arrays are writable (torch.from_numpy warns on read-only buffers).
    return np.frombuffer(data, np.uint8, size, header).reshape(dims).copy()


def idx_count(path: Path) -> int | None:
    """The first dimension from the header only (cheap, for ``dataset_status``), or None if unreadable."""
    try:
        with path.open("rb") as f:
            head = f.read(2)
            f.seek(0)
            stream = gzip.GzipFile(fileobj=f) if head == b"\x1f\x8b" else f
            raw = stream.read(8)
        return int(struct.unpack(">I", raw[4:8])[0]) if len(raw) == 8 and raw[:2] == b"\0\0" else None
    except (OSError, EOFError, zlib.error):
        return None


def _split(images_path: Path, labels_path: Path, num_classes: int, fix: str) -> Split:
    images = read_idx(images_path, 3, fix)
    labels = read_idx(labels_path, 1, fix)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path}: {len(images)} images but {labels_path.name} has {len(labels)} labels; the files do not "
            f"belong together; {fix}"
        )
    labels = check_labels(labels, num_classes, labels_path, fix)
    return Split(images[:, None], labels)  # (N, 1, H, W)


def load_idx(name: str, found: Found, classes: list[str], fix: str) -> Dataset:
    """The dataset from its four IDX files."""
    f = found.files
    train = _split(f["train_images"], f["train_labels"], len(classes), fix)
    test = _split(f["test_images"], f["test_labels"], len(classes), fix)
    if train.images.shape[2:] != test.images.shape[2:]:
        raise DataError(
            f"{f['test_images']}: images are {test.images.shape[2:]} but training images are {train.images.shape[2:]}"
            f"; {fix}"
        )
    return Dataset(name, train, test, list(classes), source=str(found.folder), info={"format": "idx"})
