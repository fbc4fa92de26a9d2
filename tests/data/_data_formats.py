"""Writers of the real file formats for the data tests (a uniquely named module, unlike conftest)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) in the IDX format: magic 0x000008<ndim>, big-endian uint32 dims, payload."""
    array = np.ascontiguousarray(array, np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx_set(
    folder: Path,
    n_train: int = 40,
    n_test: int = 20,
    *,
    gz: bool = True,
    test_prefix: str = "t10k",
    size: int = 28,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Write the four MNIST files into ``folder``; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        f"{test_prefix}-images-idx3-ubyte": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        f"{test_prefix}-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, arr in arrays.items():
        data = idx_bytes(arr)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays
