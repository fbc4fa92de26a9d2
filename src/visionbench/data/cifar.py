"""CIFAR-10 and CIFAR-100, the python-version pickled batches, read from the ``.tar.gz`` or the extracted folder.

Each batch is a pickled dict: ``data`` uint8 (N, 3072) (1024 red, 1024 green, 1024 blue values, row-major 32x32) and
``labels`` (CIFAR-10) or ``fine_labels`` + ``coarse_labels`` (CIFAR-100). Class names come from ``batches.meta``
(``label_names``) or ``meta`` (``fine_label_names``, ``coarse_label_names``).

The pickles are read with an unpickler that only builds NumPy arrays and plain containers, so a hostile file cannot
run code.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from visionbench.data._base import Dataset, Split
from visionbench.data._io import check_labels, one_line
from visionbench.data._search import Found
from visionbench.errors import DataError

__all__ = ["load_cifar", "read_batch"]

_SAFE = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE:
            if module.startswith("numpy.core.") and np.lib.NumpyVersion(np.__version__) >= "2.0.0":
                module = "numpy._core." + module[len("numpy.core.") :]  # the real files predate NumPy 2's rename
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _unpickle(raw: bytes, where: str, fix: str) -> dict[str, Any]:
    try:
        obj = _ArrayUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as exc:  # a corrupt pickle can raise almost anything; all mean "bad file"
        raise DataError(f"{where}: not a CIFAR python batch ({one_line(exc)}); {fix}") from exc
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a pickled dict, found {type(obj).__name__}; {fix}")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def read_batch(raw: bytes, where: str, label_key: str, num_classes: int, fix: str) -> Split:
    """One pickled batch -> Split (N, 3, 32, 32)."""
    batch = _unpickle(raw, where, fix)
    if "data" not in batch or label_key not in batch:
        raise DataError(f"{where}: wrong structure: keys {sorted(batch)}, expected 'data' and '{label_key}'; {fix}")
    data = np.asarray(batch["data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{where}: 'data' is {data.dtype} {data.shape}, expected uint8 (N, 3072); {fix}")
    labels = np.asarray(batch[label_key])
    if labels.shape != (len(data),):
        raise DataError(f"{where}: {len(data)} images but '{label_key}' has shape {labels.shape}; {fix}")
    labels = check_labels(labels, num_classes, Path(where), fix)
    return Split(data.reshape(-1, 3, 32, 32), labels)  # (N, 3, 32, 32): planes R, G, B of 32 rows


class _Reader:
    """Reads member files from the extracted folder or straight out of the tar.gz (no extraction)."""

    def __init__(self, found: Found, fix: str) -> None:
        self.found, self.fix = found, fix
        self.members: dict[str, bytes] = {}
        if found.format == "tar":
            archive = found.files["archive"]
            try:
                self._read_archive(archive)
            except DataError:
                raise
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise DataError(f"{archive}: corrupt or unreadable tar.gz ({one_line(exc)}); {fix}") from exc

    def _read_archive(self, archive: Path) -> None:
        """One pass through the archive: the CIFAR members are kept, everything else is skipped; a gzip stream is
        read to its end, where gzip keeps its CRC (random access into a tar.gz never gets there, so a flipped bit
        would load as other pixels)."""
        with archive.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with (gzip.open(archive, "rb") if gzipped else archive.open("rb")) as stream:
            with tarfile.open(fileobj=stream, mode="r|" if gzipped else "r|*") as tar:
                for m in tar:
                    name = m.name.rsplit("/", 1)[-1]
                    if not m.isfile() or name not in MEMBERS:
                        continue  # only the files a CIFAR set is made of are read, nothing else is held
                    if m.size > MAX_MEMBER_BYTES:
                        raise DataError(f"{archive}: member {m.name} is {m.size:,} bytes, more than any CIFAR "
                                        f"file ({MAX_MEMBER_BYTES:,}); {self.fix}")
                    fobj = tar.extractfile(m)
                    if fobj is not None:
                        self.members[name] = fobj.read()
            while stream.read(1 << 22):  # to the end: gzip checks its CRC and length there
                pass

    def read(self, name: str) -> tuple[bytes, str]:
        if self.found.format == "tar":
            archive = self.found.files["archive"]
            if name not in self.members:
                raise DataError(f"{archive}: member {name} is missing; {self.fix}")
            return self.members[name], f"{archive}:{name}"
        path = self.found.files[name]
        try:
            return path.read_bytes(), str(path)
        except OSError as exc:
            raise DataError(f"{path}: cannot read ({one_line(exc)}); {self.fix}") from exc


#: The files a CIFAR-10 or CIFAR-100 archive is made of (the rest of an archive is never read).
MEMBERS = frozenset({"batches.meta", *(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "meta", "train", "test"})
#: The largest member accepted: CIFAR-100's train file is 155 MB.
MAX_MEMBER_BYTES = 256 * 2**20


def _names(meta: dict[str, Any], key: str, n: int, where: str, fix: str) -> list[str]:
    names = meta.get(key)
    if not isinstance(names, (list, tuple)) or len(names) != n:
        raise DataError(f"{where}: '{key}' should list {n} class names; {fix}")
    return [x.decode() if isinstance(x, bytes) else str(x) for x in names]


def _concat(splits: list[Split]) -> Split:
    return Split(np.concatenate([s.images for s in splits]), np.concatenate([s.labels for s in splits]))


def load_cifar(name: str, found: Found, *, coarse: bool, fix: str) -> Dataset:
    """``cifar10``, ``cifar100`` (fine labels) or ``cifar100-coarse`` (the 20 superclasses)."""
    reader = _Reader(found, fix)
    if name == "cifar10":
        raw, where = reader.read("batches.meta")
        classes = _names(_unpickle(raw, where, fix), "label_names", 10, where, fix)
        train = _concat([read_batch(*reader.read(f"data_batch_{i}"), "labels", 10, fix) for i in range(1, 6)])
        test = read_batch(*reader.read("test_batch"), "labels", 10, fix)
    else:
        key, n = ("coarse", 20) if coarse else ("fine", 100)
        raw, where = reader.read("meta")
        classes = _names(_unpickle(raw, where, fix), f"{key}_label_names", n, where, fix)
        train = read_batch(*reader.read("train"), f"{key}_labels", n, fix)
        test = read_batch(*reader.read("test"), f"{key}_labels", n, fix)
    source = found.files["archive"] if found.format == "tar" else found.folder
    return Dataset(name, train, test, classes, source=str(source), info={"format": found.format})
