"""USPS in its three formats (LIBSVM bz2 and raw, Kaggle h5, course txt) and their corrupt cases."""

from __future__ import annotations

import bz2
from pathlib import Path

import h5py
import numpy as np
import pytest

from visionbench.data import load_dataset
from visionbench.errors import DataError


def _pixels(n: int, seed: int) -> np.ndarray:
    """Values on the 0..255 grid so every format round-trips exactly."""
    return np.random.default_rng(seed).integers(0, 256, (n, 256)).astype(np.float64) / 255.0  # in [0, 1]


def _libsvm(pixels01: np.ndarray, labels: np.ndarray) -> bytes:
    lines = []
    for row, y in zip(pixels01, labels):
        feats = " ".join(f"{j + 1}:{v * 2 - 1:.10f}" for j, v in enumerate(row))  # [-1, 1]
        lines.append(f"{y + 1} {feats}")  # labels 1..10
    return ("\n".join(lines) + "\n").encode()


def _course(pixels01: np.ndarray, labels: np.ndarray) -> str:
    rows = [" ".join([f"{y}", *(f"{v * 2:.10f}" for v in row)]) for row, y in zip(pixels01, labels)]
    return f"{len(rows)} 256\n" + "\n".join(rows) + "\n"


def _expected(pixels01: np.ndarray) -> np.ndarray:
    return np.rint(pixels01 * 255).astype(np.uint8).reshape(-1, 1, 16, 16)


@pytest.mark.parametrize("compressed", [True, False])
def test_libsvm(tmp_path: Path, compressed: bool) -> None:
    tr, te = _pixels(12, 0), _pixels(6, 1)
    ytr, yte = np.arange(12) % 10, np.arange(6) % 10
    folder = tmp_path / "usps"
    folder.mkdir()
    for name, px, y in (("usps", tr, ytr), ("usps.t", te, yte)):
        data = _libsvm(px, y)
        if compressed:
            (folder / f"{name}.bz2").write_bytes(bz2.compress(data))
        else:
            (folder / name).write_bytes(data)
    ds = load_dataset("usps", data_dir=tmp_path)
    assert ds.info["format"] == "libsvm" and ds.train.images.shape == (12, 1, 16, 16)
    np.testing.assert_array_equal(ds.train.images, _expected(tr))
    np.testing.assert_array_equal(ds.test.labels, yte)


def test_libsvm_sparse_missing_is_zero(tmp_path: Path) -> None:
    (tmp_path / "usps").write_text("3 1:-1 256:1\n")
    (tmp_path / "usps.t").write_text("1 2:0.5\n")
    ds = load_dataset("usps", data_dir=tmp_path)
    img = ds.train.images[0, 0].ravel()
    assert img[0] == 0 and img[255] == 255 and img[1] == 128 and ds.train.labels[0] == 2


def test_h5(tmp_path: Path) -> None:
    tr, te = _pixels(10, 2), _pixels(5, 3)
    with h5py.File(tmp_path / "usps.h5", "w") as f:
        for group, px, n in (("train", tr, 10), ("test", te, 5)):
            g = f.create_group(group)
            g.create_dataset("data", data=px.astype(np.float32))
            g.create_dataset("target", data=np.arange(n) % 10)
    ds = load_dataset("usps", data_dir=tmp_path)
    assert ds.info["format"] == "h5"
    np.testing.assert_array_equal(ds.test.images, _expected(te))
    assert ds.train.labels.dtype == np.int64


def test_course_txt(tmp_path: Path) -> None:
    tr, te = _pixels(8, 4), _pixels(4, 5)
    (tmp_path / "USPS_train.txt").write_text(_course(tr, np.arange(8) % 10))
    (tmp_path / "USPS_test.txt").write_text(_course(te, np.arange(4)))
    ds = load_dataset("usps", data_dir=tmp_path)
    assert ds.info["format"] == "txt"
    np.testing.assert_array_equal(ds.train.images, _expected(tr))
    np.testing.assert_array_equal(ds.test.labels, np.arange(4))


def _error(tmp_path: Path) -> str:
    with pytest.raises(DataError) as info:
        load_dataset("usps", data_dir=tmp_path)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_libsvm_label_out_of_range(tmp_path: Path) -> None:
    (tmp_path / "usps").write_text("11 1:0\n")
    (tmp_path / "usps.t").write_text("1 1:0\n")
    msg = _error(tmp_path)
    assert str(tmp_path / "usps") in msg and "label 10" in msg and "1..10" in msg


def test_libsvm_bad_structure(tmp_path: Path) -> None:
    (tmp_path / "usps.bz2").write_bytes(bz2.compress(b"1 this is not libsvm\n"))
    (tmp_path / "usps.t.bz2").write_bytes(bz2.compress(b"1 1:0\n"))
    assert "LIBSVM" in _error(tmp_path)


def test_corrupt_bz2(tmp_path: Path) -> None:
    (tmp_path / "usps.bz2").write_bytes(bz2.compress(b"1 1:0\n" * 100)[:20])
    (tmp_path / "usps.t.bz2").write_bytes(bz2.compress(b"1 1:0\n"))
    assert "bzip2" in _error(tmp_path)


def test_h5_wrong_structure(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "usps.h5", "w") as f:
        f.create_dataset("X", data=np.zeros((3, 256)))
    msg = _error(tmp_path)
    assert "usps.h5" in msg and "train" in msg


def _h5(folder: Path, data: np.ndarray, target: np.ndarray) -> None:
    """usps.h5 with the same ``data`` and ``target`` in both groups (replacing any earlier file)."""
    with h5py.File(folder / "usps.h5", "w") as f:
        for group in ("train", "test"):
            f.create_group(group).create_dataset("data", data=data)
            f[group].create_dataset("target", data=target)


def test_h5_wrong_shape_and_labels(tmp_path: Path) -> None:
    _h5(tmp_path, np.zeros((3, 100)), np.zeros(3, np.int64))
    assert "(N, 256)" in _error(tmp_path)
    _h5(tmp_path, np.zeros((3, 256)), np.array([0, 1, 10]))
    assert "label 10" in _error(tmp_path)


def test_course_txt_wrong_columns_and_range(tmp_path: Path) -> None:
    (tmp_path / "USPS_train.txt").write_text("header\n1 2 3\n")
    (tmp_path / "USPS_test.txt").write_text("header\n" + " ".join(["1"] * 257) + "\n")
    assert "257 numbers" in _error(tmp_path)
    (tmp_path / "USPS_train.txt").write_text("header\n" + " ".join(["1"] + ["5"] * 256) + "\n")
    assert "expected [0, 2]" in _error(tmp_path)


def test_fractional_labels_are_refused_not_truncated(tmp_path: Path) -> None:
    _h5(tmp_path, np.zeros((3, 256)), np.array([0.0, 2.5, 1.0]))
    assert "label 2.5 is not a whole number" in _error(tmp_path)


def test_course_header_must_match_the_rows(tmp_path: Path) -> None:
    tr, te = _pixels(20, 4), _pixels(4, 5)
    cut = _course(tr, np.arange(20) % 10).splitlines()[:18]  # "20 256" then only 17 rows
    (tmp_path / "USPS_train.txt").write_text("\n".join(cut) + "\n")
    (tmp_path / "USPS_test.txt").write_text(_course(te, np.arange(4)))
    assert "the header says 20 images of 256 pixels but the file holds 17" in _error(tmp_path)


@pytest.mark.parametrize("line", ["3 1:0.5 1:0.7", "3 5:0.5 2:0.7"])
def test_libsvm_repeated_or_descending_indices(tmp_path: Path, line: str) -> None:
    good = _libsvm(_pixels(2, 6), np.array([1, 2])).decode()
    (tmp_path / "usps.bz2").write_bytes(bz2.compress((good + line + "\n").encode()))
    (tmp_path / "usps.t.bz2").write_bytes(bz2.compress(good.encode()))
    assert "line 3: feature indices must increase strictly" in _error(tmp_path)
