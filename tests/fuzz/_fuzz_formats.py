"""The formats the fuzz harness feeds the product (issue 13): for each, a valid seed written once, the product's own
loader, a snapshot of what it loaded (to compare with the seed's), and the structured mutations only that format has.

A mutation is a JSON dict ``{"file": <path relative to the case folder>, "kind": ..., "args": {...}}`` so that a
case can be replayed from its report line. Generic kinds (byte edits, empty files, directories, symlinks, names)
live in ``_fuzz_runner``; the kinds here start with ``sem:`` and rewrite a file with a decoded, edited content.

What counts as *lax* (a change the format cannot detect) per format, see :meth:`Format.protected`:

- raw IDX, the course's USPS txt, CIFAR python batches, JPEG, run directories and configs carry no checksum: a
  changed pixel, label (in range) or value loads as it is written; shape, dtype and counts must not change silently.
- gzip IDX, USPS bz2, CIFAR tar.gz, PNG (chunk CRCs), .npz (zip CRCs) and .pt (zip CRCs and a weight digest) are
  checksummed: any accepted byte change must load the original.
"""

from __future__ import annotations

import bz2
import gzip
import io
import pickle
import struct
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

from _data_formats import (  # noqa: E402
    cifar10_files,
    cifar_pickle,
    course_txt,
    libsvm_bytes,
    usps_pixels,
    write_cifar,
    write_idx_set,
    write_usps_h5,
)

Mutation = dict[str, Any]
Snapshot = dict[str, Any]


@dataclass
class Format:
    """One format: ``build`` writes the seed into a folder, ``load`` runs the product's loader on a case folder and
    returns a snapshot (a flat dict of arrays and plain values), ``semantic`` maps ``sem:`` kinds to (args strategy,
    rewrite function, whether an accepted load is always a silent corruption)."""

    name: str
    build: Callable[[Path], None]
    load: Callable[[Path, Mutation], Snapshot]
    files: list[str]
    checksummed: tuple[str, ...] = ()
    semantic: dict[str, tuple[Any, Callable[[Path, Any], None], bool]] = field(default_factory=dict)
    skips_non_files: bool = False  # ImageFolder skips a directory or a dangling link named like an image
    missing_files_ok: bool = False  # a run directory may lack its history or results (a run being written)

    def protected(self, file: str) -> bool:
        return file.endswith(self.checksummed)


def _dataset(ds: Any) -> Snapshot:
    out: Snapshot = {"classes": list(ds.classes)}
    for name in ("train", "test"):
        split = getattr(ds, name)
        out[f"{name}_images"] = np.asarray(split.images)
        out[f"{name}_labels"] = np.asarray(split.labels)
    return out


def _load_named(name: str) -> Callable[[Path, Mutation], Snapshot]:
    def load(case: Path, m: Mutation) -> Snapshot:
        from visionbench.data import load_dataset

        return _dataset(load_dataset(name, data_dir=case))

    return load


def _rewrite(case: Path, rel: str, fn: Callable[[bytes], bytes]) -> None:
    path = case / rel
    raw = path.read_bytes()
    packed = raw[:2] == b"\x1f\x8b" or raw[:3] == b"BZh"
    data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else bz2.decompress(raw) if raw[:3] == b"BZh" else raw
    data = fn(data)
    if packed:
        data = gzip.compress(data, mtime=0) if raw[:2] == b"\x1f\x8b" else bz2.compress(data)
    path.write_bytes(data)


# ------------------------------------------------------------------------------------------------------------- IDX

_IDX_NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def _idx_edit(kind: str) -> Callable[[Path, Any], None]:
    def apply(case: Path, args: Any) -> None:
        rel, value = args["file"], args["value"]

        def edit(data: bytes) -> bytes:
            ndim = data[3]
            dims = list(struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim]))
            body = data[4 + 4 * ndim:]
            if kind == "magic":
                return struct.pack(">I", value) + data[4:]
            if kind == "dims":  # absurd: a 2^31 count, or dims whose product wraps int64
                dims = [value % 2**32] + [(value >> 8) % 2**32 or 1] * (ndim - 1) if value % 2 else [2**31] + dims[1:]
            elif kind == "count":  # one image or label fewer, header and payload agreeing
                per = int(np.prod(dims[1:], dtype=np.int64)) if ndim > 1 else 1
                dims[0] -= 1
                body = body[:len(body) - per]
            elif kind == "dtype":  # float32 payload (type 0x0D) of the same values
                arr = np.frombuffer(body, np.uint8).astype(">f4")
                return struct.pack(">I", 0x0D00 | ndim) + data[4:4 + 4 * ndim] + arr.tobytes()
            elif kind == "label":  # a label out of 0..9
                body = bytes([10 + value % 246]) + body[1:]
            elif kind == "shape":  # the same payload under other, non-square dims
                n, h, w = dims
                dims = [n, h // 2, w * 2]
            return struct.pack(">I", 0x0800 | ndim) + struct.pack(f">{ndim}I", *dims) + body

        _rewrite(case, rel, edit)

    return apply


def _idx_bomb(case: Path, args: Any) -> None:
    """A labels file whose header announces 64 MiB of labels, all zeros: a few tens of kB once compressed."""
    n = 64 * 2**20
    stream = gzip.compress(struct.pack(">II", 0x0801, n) + bytes(n), compresslevel=1, mtime=0)
    (case / args["file"]).write_bytes(stream)


def _idx_format(gz: bool) -> Format:
    ext = ".gz" if gz else ""
    files = [n + ext for n in _IDX_NAMES]
    any_file = st.sampled_from(files)
    images = st.sampled_from([files[0], files[2]])
    labels = st.sampled_from([files[1], files[3]])
    value = st.integers(0, 2**40)
    semantic = {
        "magic": (st.fixed_dictionaries({"file": any_file, "value": st.integers(0, 2**32 - 1)}), _idx_edit("magic"),
                  True),
        "dims": (st.fixed_dictionaries({"file": any_file, "value": value}), _idx_edit("dims"), True),
        "count": (st.fixed_dictionaries({"file": any_file, "value": st.just(0)}), _idx_edit("count"), True),
        "dtype": (st.fixed_dictionaries({"file": any_file, "value": st.just(0)}), _idx_edit("dtype"), True),
        "label": (st.fixed_dictionaries({"file": labels, "value": value}), _idx_edit("label"), True),
        "shape": (st.fixed_dictionaries({"file": images, "value": st.just(0)}), _idx_edit("shape"), True),
    }
    if gz:
        semantic["bomb"] = (st.fixed_dictionaries({"file": labels}), _idx_bomb, True)
    return Format("idx-gzip" if gz else "idx-raw", lambda d: write_idx_set(d, 12, 6, gz=gz, size=8) and None,
                  _load_named("mnist"), files, (".gz",), semantic)


# ------------------------------------------------------------------------------------------------------------ USPS

def _usps_seed(kind: str) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        tr, te = usps_pixels(6, 0), usps_pixels(4, 1)
        ytr, yte = np.arange(6) % 10, np.arange(4) % 10
        if kind == "bz2":
            (folder / "usps.bz2").write_bytes(bz2.compress(libsvm_bytes(tr, ytr)))
            (folder / "usps.t.bz2").write_bytes(bz2.compress(libsvm_bytes(te, yte)))
        elif kind == "txt":
            (folder / "USPS_train.txt").write_text(course_txt(tr, ytr))
            (folder / "USPS_test.txt").write_text(course_txt(te, yte))
        else:
            write_usps_h5(folder, tr, ytr, (te, yte))

    return build


#: Token edits of USPS text (LIBSVM or course): the first number of line ``row`` (a label) or a pixel value.
_TEXT_EDITS = {
    "label-range": ("label", "11"), "label-negative": ("label", "-1"), "label-fraction": ("label", "2.5"),
    "label-word": ("label", "two"), "pixel-nan": ("pixel", "nan"), "pixel-inf": ("pixel", "inf"),
    "pixel-range": ("pixel", "7.5"), "non-utf8": ("pixel", "0.\xff5"), "drop-row": ("row", ""),
}


def _text_edit(kind: str, libsvm: bool) -> Callable[[Path, Any], None]:
    where, token = _TEXT_EDITS[kind]

    def apply(case: Path, args: Any) -> None:
        def edit(data: bytes) -> bytes:
            lines = data.decode("latin1").splitlines()
            row = (0 if libsvm else 1) + args["row"] % (len(lines) - (0 if libsvm else 1))
            words = lines[row].split()
            if where == "row":
                del lines[row]
            elif where == "label":
                words[0] = token
            else:
                col = 1 + args["col"] % (len(words) - 1)
                words[col] = (words[col].split(":")[0] + ":" + token) if libsvm else token
            if where != "row":
                lines[row] = " ".join(words)
            return ("\n".join(lines) + "\n").encode("latin1")

        _rewrite(case, args["file"], edit)

    return apply


def _text_semantic(files: list[str], libsvm: bool) -> dict[str, Any]:
    args = st.fixed_dictionaries({"file": st.sampled_from(files), "row": st.integers(0, 99),
                                  "col": st.integers(0, 999)})
    out = {k: (args, _text_edit(k, libsvm), not (libsvm and k == "drop-row")) for k in _TEXT_EDITS}
    if libsvm:
        out["index-repeat"] = (args, _libsvm_index("repeat"), True)
        out["index-range"] = (args, _libsvm_index("range"), True)
    return out


def _libsvm_index(kind: str) -> Callable[[Path, Any], None]:
    def apply(case: Path, args: Any) -> None:
        def edit(data: bytes) -> bytes:
            lines = data.decode("latin1").splitlines()
            row = args["row"] % len(lines)
            words = lines[row].split()
            col = 2 + args["col"] % (len(words) - 2)
            value = words[col].split(":")[1]
            words[col] = (words[col - 1].split(":")[0] if kind == "repeat" else "257") + ":" + value
            lines[row] = " ".join(words)
            return ("\n".join(lines) + "\n").encode("latin1")

        _rewrite(case, args["file"], edit)

    return apply


_H5_EDITS = ("nan", "range", "label-range", "label-fraction", "complex", "strings", "count", "width", "no-group",
             "group-is-data", "scalar", "huge")


def _h5_edit(case: Path, args: Any) -> None:
    import h5py

    kind = args["kind"]
    path = case / "usps.h5"
    with h5py.File(path, "r") as f:
        groups = {g: {k: f[g][k][()] for k in ("data", "target")} for g in ("train", "test")}
    group = args["group"]
    data, target = groups[group]["data"], groups[group]["target"]
    if kind == "nan":
        data = data.copy()
        data[0, args["col"] % 256] = np.nan
    elif kind == "range":
        data = data * 3.0
    elif kind == "label-range":
        target = target + 10
    elif kind == "label-fraction":
        target = target + 0.5
    elif kind == "complex":
        data = data + 1j
    elif kind == "strings":
        data = np.char.encode(data.astype(str))
    elif kind == "count":
        target = target[:-1]
    elif kind == "width":
        data = data[:, :255]
    elif kind == "scalar":
        data = np.float64(0.5)
    groups[group] = {"data": data, "target": target}
    path.unlink()
    with h5py.File(path, "w") as f:
        for g, arrays in groups.items():
            if kind == "no-group" and g == group:
                continue
            if kind == "group-is-data" and g == group:
                f.create_dataset(g, data=np.zeros(3))
                continue
            if kind == "huge" and g == group:  # 2^31 rows declared, none stored: a few kB claiming 4 TiB
                f.create_dataset(f"{g}/data", shape=(2**31, 256), dtype="f8", chunks=(1, 256))
                f.create_dataset(f"{g}/target", shape=(2**31,), dtype="i8", chunks=(1,))
                continue
            for k, v in arrays.items():
                f.create_dataset(f"{g}/{k}", data=v)


def _usps_format(kind: str) -> Format:
    files = {"bz2": ["usps.bz2", "usps.t.bz2"], "txt": ["USPS_train.txt", "USPS_test.txt"], "h5": ["usps.h5"]}[kind]
    if kind == "h5":
        args = st.fixed_dictionaries({"kind": st.sampled_from(_H5_EDITS), "group": st.sampled_from(["train", "test"]),
                                      "col": st.integers(0, 255)})
        semantic = {"h5": (args, _h5_edit, True)}
    else:
        semantic = _text_semantic(files, libsvm=kind == "bz2")
    return Format(f"usps-{kind}", _usps_seed(kind), _load_named("usps"), files, (".bz2",), semantic)


# ----------------------------------------------------------------------------------------------------------- CIFAR

_CIFAR_TOP = "cifar-10-batches-py"
_CIFAR_TAR = "cifar-10-python.tar.gz"
_CIFAR_MEMBERS = sorted(cifar10_files(1))
_PICKLE_EDITS = ("label-range", "label-fraction", "label-count", "data-float", "data-int64", "data-width",
                 "data-list", "no-labels", "a-list", "meta-names", "label-strings", "hostile")


class Hostile:
    """A pickle whose loading would create ``marker`` (it must never run)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def _pickle_edit(raw: bytes, kind: str, marker: str) -> bytes:
    obj = pickle.loads(raw, encoding="latin1")
    if kind == "hostile":
        obj["data"] = Hostile(marker)
    elif kind == "a-list":
        obj = [obj]
    elif kind == "meta-names" and "label_names" in obj:
        obj["label_names"] = obj["label_names"][:9]
    elif "labels" in obj:
        labels, data = obj["labels"], obj["data"]
        edits = {
            "label-range": lambda: {"labels": [10, *labels[1:]]},
            "label-fraction": lambda: {"labels": np.asarray(labels, np.float64) + 0.5},
            "label-count": lambda: {"labels": labels[:-1]},
            "label-strings": lambda: {"labels": [str(v) for v in labels]},
            "data-float": lambda: {"data": data.astype(np.float64) / 255},
            "data-int64": lambda: {"data": data.astype(np.int64) * 2},
            "data-width": lambda: {"data": data[:, :-1]},
            "data-list": lambda: {"data": data.tolist()},
            "no-labels": lambda: {"labels": None},
        }
        obj.update(edits.get(kind, dict)())
        if obj.get("labels", 0) is None:
            del obj["labels"]
    return cifar_pickle(obj)


def _cifar_edit(in_tar: bool) -> Callable[[Path, Any], None]:
    def apply(case: Path, args: Any) -> None:
        marker = str(case.parent.parent / "sentinel" / "pickle-ran")
        member, kind = args["member"], args["kind"]
        if not in_tar:
            path = case / _CIFAR_TOP / member
            path.write_bytes(_pickle_edit(path.read_bytes(), kind, marker))
            return
        with tarfile.open(case / _CIFAR_TAR) as tar:
            files = {m.name.rsplit("/", 1)[-1]: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore
        if kind in _PICKLE_EDITS:
            files[member] = _pickle_edit(files[member], kind, marker)
        _retar(case, files, member, kind)

    return apply


def _retar(case: Path, files: dict[str, bytes], member: str, kind: str) -> None:
    """Rewrite the archive with a hostile or odd member: a link out, a directory, a traversal, a duplicate."""
    path = case / _CIFAR_TAR
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(f"{_CIFAR_TOP}/{name}")
            if name == member and kind == "bomb":  # 300 MiB of zeros, a few hundred kB compressed
                info.size = 300 * 2**20
                tar.addfile(info, io.BytesIO(bytes(info.size)))
                continue
            if name == member and kind in ("symlink-out", "directory", "hardlink-out"):
                info.type = {"symlink-out": tarfile.SYMTYPE, "directory": tarfile.DIRTYPE,
                             "hardlink-out": tarfile.LNKTYPE}[kind]
                info.linkname = "../../sentinel/outside.bin"
                tar.addfile(info)
                continue
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
        if kind == "traversal":
            info = tarfile.TarInfo("../../sentinel/evil")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        if kind == "duplicate":  # tar's rule: the later member wins (as extraction would overwrite)
            info = tarfile.TarInfo(f"{_CIFAR_TOP}/{member}")
            info.size = len(files[member])
            tar.addfile(info, io.BytesIO(files[member]))


def _cifar_format(in_tar: bool) -> Format:
    kinds = _PICKLE_EDITS + (("symlink-out", "directory", "hardlink-out", "traversal", "duplicate", "bomb")
                             if in_tar else ())
    args = st.fixed_dictionaries({"member": st.sampled_from(_CIFAR_MEMBERS), "kind": st.sampled_from(kinds)})
    files = [_CIFAR_TAR] if in_tar else [f"{_CIFAR_TOP}/{m}" for m in _CIFAR_MEMBERS]

    def build(folder: Path) -> None:
        write_cifar(folder, cifar10_files(3), _CIFAR_TOP, _CIFAR_TAR if in_tar else None)

    return Format("cifar-tar" if in_tar else "cifar-batches", build, _load_named("cifar10"), files, (".tar.gz",),
                  {"pickle": (args, _cifar_edit(in_tar), True)})
