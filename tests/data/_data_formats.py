"""Writers of the real file formats for the data tests (a uniquely named module, unlike conftest)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
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


# ------------------------------------------------------------------------------------------------------------ USPS

def usps_pixels(n: int, seed: int) -> np.ndarray:
    """(n, 256) values on the 0..255 grid divided by 255, so every USPS format round-trips exactly."""
    return np.random.default_rng(seed).integers(0, 256, (n, 256)).astype(np.float64) / 255.0  # in [0, 1]


def usps_expected(pixels01: np.ndarray) -> np.ndarray:
    """What a loader must return for ``pixels01``: uint8 (N, 1, 16, 16)."""
    return np.rint(pixels01 * 255).astype(np.uint8).reshape(-1, 1, 16, 16)


def libsvm_bytes(pixels01: np.ndarray, labels: np.ndarray) -> bytes:
    """LIBSVM USPS text: ``label idx:value ...``, labels 1..10, values in [-1, 1]."""
    lines = []
    for row, y in zip(pixels01, labels):
        feats = " ".join(f"{j + 1}:{v * 2 - 1:.10f}" for j, v in enumerate(row))  # [-1, 1]
        lines.append(f"{y + 1} {feats}")  # labels 1..10
    return ("\n".join(lines) + "\n").encode()


def course_txt(pixels01: np.ndarray, labels: np.ndarray) -> str:
    """The course's USPS text: an ``N 256`` header, then ``label p1 ... p256`` with pixels in [0, 2]."""
    rows = [" ".join([f"{y}", *(f"{v * 2:.10f}" for v in row)]) for row, y in zip(pixels01, labels)]
    return f"{len(rows)} 256\n" + "\n".join(rows) + "\n"


def write_usps_h5(folder: Path, data: np.ndarray, target: np.ndarray,
                  test: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """``folder/usps.h5`` with groups train (``data``, ``target``) and test (the same, unless ``test`` is given)."""
    import h5py

    path = folder / "usps.h5"
    with h5py.File(path, "w") as f:
        for group, (x, y) in (("train", (data, target)), ("test", test or (data, target))):
            f.create_group(group).create_dataset("data", data=x)
            f[group].create_dataset("target", data=y)
    return path


# ----------------------------------------------------------------------------------------------------------- CIFAR

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def cifar_pickle(obj: dict) -> bytes:
    """Pickled like the real files, whose arrays name numpy.core (they predate NumPy 2)."""
    raw = pickle.dumps(obj, protocol=2)
    return raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def cifar_batch(n: int, seed: int, label_keys: dict[str, int]) -> dict:
    rng = np.random.default_rng(seed)
    out = {"batch_label": "batch", "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8)}
    out.update({k: [int(v) for v in rng.integers(0, m, n)] for k, m in label_keys.items()})
    out["filenames"] = [f"img{i}.png" for i in range(n)]
    return out


def cifar10_files(n: int = 4) -> dict[str, bytes]:
    """The seven CIFAR-10 files (five training batches, the test batch, batches.meta) of ``n`` images each."""
    files = {f"data_batch_{i}": cifar_pickle(cifar_batch(n, i, {"labels": 10})) for i in range(1, 6)}
    files["test_batch"] = cifar_pickle(cifar_batch(n, 9, {"labels": 10}))
    files["batches.meta"] = cifar_pickle({"label_names": CIFAR10_NAMES, "num_cases_per_batch": n, "num_vis": 3072})
    return files


def cifar100_files(n: int = 6) -> dict[str, bytes]:
    keys = {"fine_labels": 100, "coarse_labels": 20}
    return {
        "train": cifar_pickle(cifar_batch(n, 1, keys)),
        "test": cifar_pickle(cifar_batch(n, 2, keys)),
        "meta": cifar_pickle(
            {"fine_label_names": [f"f{i}" for i in range(100)], "coarse_label_names": [f"c{i}" for i in range(20)]}
        ),
    }


def write_cifar(folder: Path, files: dict[str, bytes], top: str, as_tar: str | None) -> None:
    """``files`` under ``folder/top/`` (extracted) or in ``folder/as_tar`` (a tar.gz, members under ``top/``)."""
    folder.mkdir(parents=True, exist_ok=True)
    if as_tar is None:
        (folder / top).mkdir()
        for name, raw in files.items():
            (folder / top / name).write_bytes(raw)
        return
    with tarfile.open(folder / as_tar, "w:gz") as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))


# ----------------------------------------------------------------------------------------------------- ImageFolder

def write_image_tree(root: Path, per_class: int = 5, classes: tuple[str, ...] = ("cat", "dog"), mode: str = "RGB",
                     ext: str = ".png", size: tuple[int, int] = (20, 12)) -> None:
    """``root/<class>/<i><ext>``: uniform images whose colour encodes the class and the index."""
    from PIL import Image

    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            value = 40 * c + 10 * i
            color = (value, 0, 255 - value) if mode == "RGB" else value
            Image.new(mode, size, color).save(root / name / f"{i}{ext}")


def png_claiming(width: int, height: int) -> bytes:
    """A 60-byte PNG whose header claims ``width x height`` grey pixels (a decompression bomb's calling card)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")
