"""CIFAR-10/100 python batches, from the tar.gz and extracted, and their corrupt cases."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from _data_formats import cifar10_files, cifar100_files, cifar_batch, cifar_pickle, write_cifar

from visionbench.data import dataset_status, load_dataset
from visionbench.errors import DataError


@pytest.mark.parametrize("as_tar", [None, "cifar-10-python.tar.gz"])
def test_cifar10(tmp_path: Path, as_tar: str | None) -> None:
    files = cifar10_files()
    write_cifar(tmp_path / "cifar10", files, "cifar-10-batches-py", as_tar)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.train.images.shape == (20, 3, 32, 32) and ds.test.images.shape == (4, 3, 32, 32)
    assert ds.classes[1] == "automobile" and ds.in_chans == 3
    first = pickle.loads(files["data_batch_1"])
    np.testing.assert_array_equal(ds.train.images[0, 1].ravel(), first["data"][0, 1024:2048])  # green plane
    np.testing.assert_array_equal(ds.train.labels[:4], first["labels"])
    st = dataset_status("cifar10", data_dir=tmp_path)
    assert st.found and st.format == ("tar" if as_tar else "batches")


def test_cifar10_extracted_folder_given_directly(tmp_path: Path) -> None:
    write_cifar(tmp_path, cifar10_files(), "cifar-10-batches-py", None)
    assert len(load_dataset("cifar10", data_dir=tmp_path / "cifar-10-batches-py").test) == 4


@pytest.mark.parametrize("as_tar", [None, "cifar-100-python.tar.gz"])
def test_cifar100_fine_and_coarse(tmp_path: Path, as_tar: str | None) -> None:
    files = cifar100_files()
    write_cifar(tmp_path, files, "cifar-100-python", as_tar)
    fine = load_dataset("cifar100", data_dir=tmp_path)
    coarse = load_dataset("cifar100-coarse", data_dir=tmp_path)
    assert fine.num_classes == 100 and coarse.num_classes == 20 and coarse.classes[3] == "c3"
    ref = pickle.loads(files["test"])
    np.testing.assert_array_equal(fine.test.labels, ref["fine_labels"])
    np.testing.assert_array_equal(coarse.test.labels, ref["coarse_labels"])


def _error(tmp_path: Path, name: str = "cifar10") -> str:
    with pytest.raises(DataError) as info:
        load_dataset(name, data_dir=tmp_path)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_wrong_structure(tmp_path: Path) -> None:
    files = cifar10_files()
    files["data_batch_3"] = cifar_pickle({"images": np.zeros((4, 3072), np.uint8)})
    write_cifar(tmp_path, files, "cifar-10-batches-py", None)
    msg = _error(tmp_path)
    assert "data_batch_3" in msg and "wrong structure" in msg


def test_wrong_data_shape(tmp_path: Path) -> None:
    files = cifar10_files()
    files["test_batch"] = cifar_pickle({"data": np.zeros((4, 100), np.uint8), "labels": [0, 1, 2, 3]})
    write_cifar(tmp_path, files, "cifar-10-batches-py", None)
    assert "(N, 3072)" in _error(tmp_path)


def test_label_out_of_range(tmp_path: Path) -> None:
    files = cifar100_files()
    bad = cifar_batch(6, 1, {"fine_labels": 100, "coarse_labels": 20})
    bad["coarse_labels"][2] = 20
    files["train"] = cifar_pickle(bad)
    write_cifar(tmp_path, files, "cifar-100-python", "cifar-100-python.tar.gz")
    assert load_dataset("cifar100", data_dir=tmp_path).num_classes == 100
    msg = _error(tmp_path, "cifar100-coarse")
    assert "cifar-100-python.tar.gz:train" in msg and "label 20" in msg


def test_not_a_pickle_and_hostile_pickle(tmp_path: Path) -> None:
    files = cifar10_files()
    files["data_batch_1"] = b"garbage"
    write_cifar(tmp_path, files, "cifar-10-batches-py", None)
    assert "not a CIFAR python batch" in _error(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps({"data": print}))
    assert "refusing" in _error(tmp_path)


def test_corrupt_tar(tmp_path: Path) -> None:
    write_cifar(tmp_path, cifar10_files(), "cifar-10-batches-py", "cifar-10-python.tar.gz")
    path = tmp_path / "cifar-10-python.tar.gz"
    path.write_bytes(path.read_bytes()[:200])
    msg = _error(tmp_path)
    assert "cifar-10-python.tar.gz" in msg and "corrupt" in msg


def test_missing_member_in_tar(tmp_path: Path) -> None:
    files = cifar10_files()
    del files["test_batch"]
    write_cifar(tmp_path, files, "cifar-10-batches-py", "cifar-10-python.tar.gz")
    assert "test_batch is missing" in _error(tmp_path)


def test_fractional_label_is_refused_not_truncated(tmp_path: Path) -> None:
    files = cifar10_files()
    bad = cifar_batch(4, 1, {"labels": 10})
    bad["labels"][1] = 3.5
    files["data_batch_1"] = cifar_pickle(bad)
    write_cifar(tmp_path, files, "cifar-10-batches-py", None)
    assert "label 3.5 is not a whole number" in _error(tmp_path, "cifar10")


def test_tar_gz_with_a_flipped_pixel_byte_fails_its_crc(tmp_path: Path) -> None:
    import gzip

    files = cifar10_files()
    write_cifar(tmp_path / "src", files, "cifar-10-batches-py", "cifar-10-python.tar.gz")
    tar_bytes = gzip.decompress((tmp_path / "src" / "cifar-10-python.tar.gz").read_bytes())
    stored = bytearray(gzip.compress(tar_bytes, compresslevel=0))  # stored blocks: bytes appear as they are
    member = files["data_batch_1"]  # its pixels are pickled as a latin-1 string, stored UTF-8 encoded
    at = bytes(stored).find(member[:64])
    assert at > 0
    at += len(member) // 2
    while stored[at] >= 0x7E:  # an ASCII byte: flipping its low bit keeps the string valid UTF-8
        at += 1
    stored[at] ^= 0x01  # one pixel changed by one: still a valid tar and a valid pickle
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "cifar-10-python.tar.gz").write_bytes(bytes(stored))
    msg = _error(tmp_path / "cifar10")
    assert "corrupt" in msg and "CRC" in msg


def test_tar_member_bomb_is_not_read(tmp_path: Path) -> None:
    from visionbench.data import cifar

    files = cifar10_files()
    files["readme.bin"] = b"\0" * 4096  # not a CIFAR file: never read
    write_cifar(tmp_path, files, "cifar-10-batches-py", "cifar-10-python.tar.gz")
    assert load_dataset("cifar10", data_dir=tmp_path).train.images.shape[0] == 20
    cifar.MAX_MEMBER_BYTES, saved = 1000, cifar.MAX_MEMBER_BYTES  # a CIFAR member larger than the cap
    try:
        assert "more than any CIFAR file" in _error(tmp_path)
    finally:
        cifar.MAX_MEMBER_BYTES = saved
