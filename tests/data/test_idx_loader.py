"""MNIST-family IDX files: both compressions, both test-file names, and every corrupt case."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from _data_formats import idx_bytes, write_idx_set

from visionbench.data import dataset_status, load_dataset
from visionbench.errors import DataError


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "kmnist"])
def test_idx_roundtrip(tmp_path: Path, gz: bool, name: str) -> None:
    arrays = write_idx_set(tmp_path / "d", gz=gz)
    ds = load_dataset(name, data_dir=tmp_path / "d")
    assert ds.train.images.shape == (40, 1, 28, 28) and ds.train.images.dtype == np.uint8
    assert ds.test.images.shape == (20, 1, 28, 28)
    assert ds.train.labels.dtype == np.int64
    np.testing.assert_array_equal(ds.train.images[:, 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.test.labels, arrays["t10k-labels-idx1-ubyte"])
    assert ds.num_classes == 10 and ds.in_chans == 1 and ds.img_size == 28
    assert ds.train.images.flags.writeable


def test_test_prefix_and_torchvision_layout(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "MNIST" / "raw", test_prefix="test")
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert ds.source == str(tmp_path / "MNIST" / "raw") and len(ds.test) == 20


def test_fashion_class_names(tmp_path: Path) -> None:
    write_idx_set(tmp_path / "fashion-mnist")
    ds = load_dataset("fashion_mnist", data_dir=tmp_path)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"


def test_status_reads_header_counts_only(tmp_path: Path) -> None:
    write_idx_set(tmp_path, n_train=30, n_test=10)
    st = dataset_status("mnist", data_dir=tmp_path)
    assert st.found and st.train_size == 30 and st.test_size == 10 and st.format == "idx"
    missing = dataset_status("kmnist")
    assert not missing.found and missing.path is None and "visionbench download kmnist" in missing.how_to_get


def _corrupt(folder: Path, name: str, data: bytes) -> Path:
    path = folder / f"{name}.gz"
    path.write_bytes(gzip.compress(data))
    return path


def _load_error(folder: Path) -> str:
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=folder)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_wrong_magic(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    data = bytearray(idx_bytes(np.zeros((40, 28, 28), np.uint8)))
    data[3] = 0x01  # a labels magic on the images file
    _corrupt(tmp_path, "train-images-idx3-ubyte", bytes(data))
    msg = _load_error(tmp_path)
    assert "train-images-idx3-ubyte.gz" in msg and "magic" in msg and "0x00000801" in msg


def test_truncated_payload(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    _corrupt(tmp_path, "t10k-images-idx3-ubyte", idx_bytes(np.zeros((20, 28, 28), np.uint8))[:-100])
    msg = _load_error(tmp_path)
    assert "t10k-images-idx3-ubyte.gz" in msg and "truncated" in msg


def test_truncated_header(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    _corrupt(tmp_path, "train-labels-idx1-ubyte", b"\x00\x00\x08")
    assert "truncated" in _load_error(tmp_path)


def test_count_mismatch(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    _corrupt(tmp_path, "train-labels-idx1-ubyte", idx_bytes(np.zeros(39, np.uint8)))
    msg = _load_error(tmp_path)
    assert "40 images" in msg and "39 labels" in msg


def test_label_out_of_range(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    _corrupt(tmp_path, "train-labels-idx1-ubyte", idx_bytes(np.full(40, 12, np.uint8)))
    msg = _load_error(tmp_path)
    assert "label 12" in msg and "train-labels" in msg


def test_corrupt_gzip(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    msg = _load_error(tmp_path)
    assert str(path) in msg and "gzip" in msg


def test_gz_name_but_not_gzip(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"<html>Not found</html>")
    msg = _load_error(tmp_path)
    assert "not a gz file" in msg


def test_missing_message(tmp_path: Path, isolated_search: dict[str, Path]) -> None:
    msg = _load_error(tmp_path / "nowhere")
    for part in (
        "train-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        str(tmp_path / "nowhere"),
        str(isolated_search["cache"]),
        "--data-dir",
        "VISIONBENCH_DATA",
        "visionbench download mnist",
    ):
        assert part in msg
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_dotted_names(tmp_path: Path) -> None:
    arrays = write_idx_set(tmp_path, gz=False)
    for name in arrays:
        stem, kind = name.rsplit("-idx", 1)
        (tmp_path / name).rename(tmp_path / f"{stem}.idx{kind}")  # train-images.idx3-ubyte
    assert len(load_dataset("mnist", data_dir=tmp_path).train) == 40


def _hostile(tmp_path: Path, payload: bytes, name: str = "train-images-idx3-ubyte") -> Path:
    write_idx_set(tmp_path / "set", 10, 5)
    path = tmp_path / "set" / f"{name}.gz"
    path.write_bytes(payload)
    return path


def test_header_whose_product_wraps_int64_is_refused(tmp_path: Path) -> None:
    # 2^31 x 2^31 x 4 = 2^64, which is 0 in int64: an empty payload used to pass the size check.
    header = struct.pack(">I", 0x0803) + struct.pack(">3I", 2**31, 2**31, 4)
    _hostile(tmp_path, gzip.compress(header))
    with pytest.raises(DataError, match="announces 2147483648x2147483648x4") as err:
        load_dataset("mnist", data_dir=tmp_path / "set")
    assert "\n" not in str(err.value)


def test_gzip_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    n = 130_000  # 130,000 blank 28x28 images: 102 MB that gzip packs into about 100 kB
    header = struct.pack(">I", 0x0803) + struct.pack(">3I", n, 28, 28)
    stream = gzip.compress(header + bytes(n * 28 * 28), compresslevel=9)
    assert len(stream) < 200_000
    _hostile(tmp_path, stream)
    with pytest.raises(DataError, match="compression bomb"):
        load_dataset("mnist", data_dir=tmp_path / "set")


def test_gzip_crc_and_trailing_bytes(tmp_path: Path) -> None:
    good = gzip.compress(idx_bytes(np.zeros((10, 28, 28), np.uint8)) + b"")
    bad_crc = bytearray(good)
    bad_crc[-6] ^= 0xFF  # inside the CRC-32 of the gzip trailer
    _hostile(tmp_path, bytes(bad_crc))
    with pytest.raises(DataError, match="cannot read"):
        load_dataset("mnist", data_dir=tmp_path / "set")
    _hostile(tmp_path, gzip.compress(idx_bytes(np.zeros((10, 28, 28), np.uint8)) + b"extra"))
    with pytest.raises(DataError, match="trailing bytes"):
        load_dataset("mnist", data_dir=tmp_path / "set")
