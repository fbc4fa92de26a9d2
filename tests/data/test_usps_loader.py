"""USPS in its three formats (LIBSVM bz2 and raw, Kaggle h5, course txt) and their corrupt cases."""

from __future__ import annotations

import bz2
from pathlib import Path

import h5py
import numpy as np
import pytest
from _data_formats import course_txt, libsvm_bytes, usps_expected, usps_pixels, write_usps_h5

from visionbench.data import load_dataset
from visionbench.errors import DataError


@pytest.mark.parametrize("compressed", [True, False])
def test_libsvm(tmp_path: Path, compressed: bool) -> None:
    tr, te = usps_pixels(12, 0), usps_pixels(6, 1)
    ytr, yte = np.arange(12) % 10, np.arange(6) % 10
    folder = tmp_path / "usps"
    folder.mkdir()
    for name, px, y in (("usps", tr, ytr), ("usps.t", te, yte)):
        data = libsvm_bytes(px, y)
        if compressed:
            (folder / f"{name}.bz2").write_bytes(bz2.compress(data))
        else:
            (folder / name).write_bytes(data)
    ds = load_dataset("usps", data_dir=tmp_path)
    assert ds.info["format"] == "libsvm" and ds.train.images.shape == (12, 1, 16, 16)
    np.testing.assert_array_equal(ds.train.images, usps_expected(tr))
    np.testing.assert_array_equal(ds.test.labels, yte)


def test_libsvm_sparse_missing_is_zero(tmp_path: Path) -> None:
    (tmp_path / "usps").write_text("3 1:-1 256:1\n")
    (tmp_path / "usps.t").write_text("1 2:0.5\n")
    ds = load_dataset("usps", data_dir=tmp_path)
    img = ds.train.images[0, 0].ravel()
    assert img[0] == 0 and img[255] == 255 and img[1] == 128 and ds.train.labels[0] == 2


def test_h5(tmp_path: Path) -> None:
    tr, te = usps_pixels(10, 2), usps_pixels(5, 3)
    write_usps_h5(tmp_path, tr.astype(np.float32), np.arange(10) % 10, (te.astype(np.float32), np.arange(5) % 10))
    ds = load_dataset("usps", data_dir=tmp_path)
    assert ds.info["format"] == "h5"
    np.testing.assert_array_equal(ds.test.images, usps_expected(te))
    assert ds.train.labels.dtype == np.int64


def test_course_txt(tmp_path: Path) -> None:
    tr, te = usps_pixels(8, 4), usps_pixels(4, 5)
    (tmp_path / "USPS_train.txt").write_text(course_txt(tr, np.arange(8) % 10))
    (tmp_path / "USPS_test.txt").write_text(course_txt(te, np.arange(4)))
    ds = load_dataset("usps", data_dir=tmp_path)
    assert ds.info["format"] == "txt"
    np.testing.assert_array_equal(ds.train.images, usps_expected(tr))
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


def test_h5_group_that_is_a_dataset_is_one_line(tmp_path: Path) -> None:
    # found by benchmarks/fuzz.py: h5py raises ValueError for dataset["data"], which escaped as a traceback
    with h5py.File(tmp_path / "usps.h5", "w") as f:
        f.create_dataset("train", data=np.zeros(3))
        f.create_dataset("test/data", data=np.zeros((3, 256)))
        f.create_dataset("test/target", data=np.zeros(3, np.int64))
    msg = _error(tmp_path)
    assert "usps.h5" in msg and "missing train/data" in msg


def test_h5_declaring_terabytes_is_refused_before_reading(tmp_path: Path) -> None:
    # found by benchmarks/fuzz.py: a 10 kB file declaring 2^31 x 256 float64 (4 TiB, never stored) was read whole
    with h5py.File(tmp_path / "usps.h5", "w") as f:
        for group in ("train", "test"):
            f.create_dataset(f"{group}/data", shape=(2**31, 256), dtype="f8", chunks=(1, 256))
            f.create_dataset(f"{group}/target", shape=(2**31,), dtype="i8", chunks=(1,))
    assert (tmp_path / "usps.h5").stat().st_size < 100_000
    msg = _error(tmp_path)
    assert "usps.h5[train]: declares 551,903,297,536 values" in msg


def test_h5_wrong_shape_and_labels(tmp_path: Path) -> None:
    write_usps_h5(tmp_path, np.zeros((3, 100)), np.zeros(3, np.int64))
    assert "(N, 256)" in _error(tmp_path)
    write_usps_h5(tmp_path, np.zeros((3, 256)), np.array([0, 1, 10]))
    assert "label 10" in _error(tmp_path)


def test_course_txt_wrong_columns_and_range(tmp_path: Path) -> None:
    (tmp_path / "USPS_train.txt").write_text("header\n1 2 3\n")
    (tmp_path / "USPS_test.txt").write_text("header\n" + " ".join(["1"] * 257) + "\n")
    assert "257 numbers" in _error(tmp_path)
    (tmp_path / "USPS_train.txt").write_text("header\n" + " ".join(["1"] + ["5"] * 256) + "\n")
    assert "expected [0, 2]" in _error(tmp_path)


def test_fractional_labels_are_refused_not_truncated(tmp_path: Path) -> None:
    write_usps_h5(tmp_path, np.zeros((3, 256)), np.array([0.0, 2.5, 1.0]))
    assert "label 2.5 is not a whole number" in _error(tmp_path)


def test_course_header_fused_with_the_first_row_is_refused(tmp_path: Path) -> None:
    # found by benchmarks/fuzz.py: without the header's newline, "6 256" and the first row made one line of 259
    # numbers, taken for a title line: the file loaded one image short
    tr, te = usps_pixels(6, 4), usps_pixels(4, 5)
    (tmp_path / "USPS_train.txt").write_text(course_txt(tr, np.arange(6)).replace("\n", " ", 1))
    (tmp_path / "USPS_test.txt").write_text(course_txt(te, np.arange(4)))
    msg = _error(tmp_path)
    assert "USPS_train.txt: line 1 holds 259 numbers" in msg


def test_course_header_must_match_the_rows(tmp_path: Path) -> None:
    tr, te = usps_pixels(20, 4), usps_pixels(4, 5)
    cut = course_txt(tr, np.arange(20) % 10).splitlines()[:18]  # "20 256" then only 17 rows
    (tmp_path / "USPS_train.txt").write_text("\n".join(cut) + "\n")
    (tmp_path / "USPS_test.txt").write_text(course_txt(te, np.arange(4)))
    assert "the header says 20 images of 256 pixels but the file holds 17" in _error(tmp_path)


@pytest.mark.parametrize("line", ["3 1:0.5 1:0.7", "3 5:0.5 2:0.7"])
def test_libsvm_repeated_or_descending_indices(tmp_path: Path, line: str) -> None:
    good = libsvm_bytes(usps_pixels(2, 6), np.array([1, 2])).decode()
    (tmp_path / "usps.bz2").write_bytes(bz2.compress((good + line + "\n").encode()))
    (tmp_path / "usps.t.bz2").write_bytes(bz2.compress(good.encode()))
    assert "line 3: feature indices must increase strictly" in _error(tmp_path)


def test_a_bz2_bomb_is_refused_before_it_fills_the_memory(tmp_path: Path) -> None:
    # Review of issue 13: the LIBSVM files were inflated whole (no cap), unlike IDX.

    from visionbench.data import _io

    path = tmp_path / "usps.bz2"
    path.write_bytes(bz2.compress(b"1 1:0.5\n" * 2_000_000))  # 16 MB of text in about 1 kB
    assert path.stat().st_size * _io.MAX_INFLATION < 16_000_000
    with pytest.raises(DataError, match="compression bomb") as info:
        _io.read_bytes(path, "fix it")
    assert "usps.bz2" in str(info.value)
    path.write_bytes(bz2.compress(b"1 1:0.5\n") + b"junk")
    with pytest.raises(DataError, match="bytes after the end of the bzip2 stream"):
        _io.read_bytes(path, "fix it")
    path.write_bytes(bz2.compress(b"1 1:0.5\n" * 100)[:-5])
    with pytest.raises(DataError, match="the file is cut"):
        _io.read_bytes(path, "fix it")
