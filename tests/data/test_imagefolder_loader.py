"""imagefolder:PATH from small PNGs: in memory, lazy (tiny memory budget), train/test trees, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _data_formats import png_claiming, write_image_tree

from visionbench.data import Split, dataset_status, load_dataset, train_val_split
from visionbench.data.imagefolder import LazyImages
from visionbench.data.transforms import channel_stats
from visionbench.errors import DataError


def test_in_memory_with_seeded_split(tmp_path: Path) -> None:
    write_image_tree(tmp_path / "pets")
    ds = load_dataset(f"imagefolder:{tmp_path / 'pets'}", img_size=8)
    assert isinstance(ds.train.images, np.ndarray) and not ds.info["lazy"]
    assert ds.train.images.shape == (8, 3, 8, 8) and ds.test.images.shape == (2, 3, 8, 8)
    assert ds.classes == ["cat", "dog"] and np.bincount(ds.test.labels).tolist() == [1, 1]
    assert ds.name.startswith("imagefolder:") and ds.train.images.dtype == np.uint8
    again = load_dataset(f"imagefolder:{tmp_path / 'pets'}", img_size=8)
    np.testing.assert_array_equal(ds.test.images, again.test.images)
    # a uniform image stays uniform through crop and resize: the red channel holds the value written
    assert set(np.unique(ds.train.images[:, 0]).tolist()) <= {10 * i + 40 * c for c in range(2) for i in range(5)}


def test_lazy_mode_matches_in_memory(tmp_path: Path) -> None:
    write_image_tree(tmp_path / "pets")
    eager = load_dataset(f"imagefolder:{tmp_path / 'pets'}", img_size=8)
    lazy = load_dataset(f"imagefolder:{tmp_path / 'pets'}", img_size=8, memory_budget=100)
    assert isinstance(lazy.train.images, LazyImages) and lazy.info["lazy"]
    assert lazy.train.images.shape == (8, 3, 8, 8) and len(lazy.train.images) == 8
    idx = np.array([3, 0, 5])
    np.testing.assert_array_equal(lazy.train.images[idx], eager.train.images[idx])
    np.testing.assert_array_equal(lazy.train.images[2], eager.train.images[2])
    tr, va = train_val_split(lazy.train, 0.25, 0)
    assert isinstance(tr.images, LazyImages) and len(va) == 2
    np.testing.assert_array_equal(va.images[np.arange(2)], train_val_split(eager.train, 0.25, 0)[1].images)
    m_lazy, _ = channel_stats(lazy.train)
    m_eager, _ = channel_stats(eager.train)
    np.testing.assert_allclose(m_lazy, m_eager, rtol=1e-6)
    assert np.asarray(lazy.test.images).shape == (2, 3, 8, 8)
    assert Split(lazy.train.images, lazy.train.labels).subset(idx).images.shape == (3, 3, 8, 8)


def test_memory_budget_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_image_tree(tmp_path / "pets")
    monkeypatch.setenv("VISIONBENCH_MEMORY_BUDGET", "10")
    assert load_dataset(f"imagefolder:{tmp_path / 'pets'}", img_size=8).info["lazy"]


def test_train_test_trees_and_grey(tmp_path: Path) -> None:
    write_image_tree(tmp_path / "set" / "train", per_class=3, mode="L")
    write_image_tree(tmp_path / "set" / "val", per_class=2, mode="L")
    ds = load_dataset("imagefolder:set", data_dir=tmp_path, img_size=6)
    assert ds.train.images.shape == (6, 1, 6, 6) and ds.test.images.shape == (4, 1, 6, 6)
    assert ds.info["test_split"] == "val/" and ds.info["mode"] == "L"
    st = dataset_status("imagefolder:set", data_dir=tmp_path)
    assert st.found and (st.train_size, st.test_size, st.num_classes) == (6, 4, 2)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"imagefolder:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class sub-folders"):
        load_dataset(f"imagefolder:{tmp_path / 'empty'}")
    write_image_tree(tmp_path / "one", per_class=1)
    with pytest.raises(DataError, match="fewer than 2"):
        load_dataset(f"imagefolder:{tmp_path / 'one'}")
    write_image_tree(tmp_path / "bad")
    (tmp_path / "bad" / "cat" / "9.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="9.png"):
        load_dataset(f"imagefolder:{tmp_path / 'bad'}", img_size=4)
    assert not dataset_status(f"imagefolder:{tmp_path / 'nope'}").found


def test_empty_imagefolder_name() -> None:
    from visionbench.errors import ConfigError

    with pytest.raises(ConfigError, match="needs a folder"):
        load_dataset("imagefolder:")


def test_train_tree_without_test_tree_is_refused_in_one_line(tmp_path: Path) -> None:
    # Read flat, train/ would be a single class named "train": the loader says which layouts it reads instead.
    write_image_tree(tmp_path / "set" / "train", per_class=3)
    with pytest.raises(DataError) as exc:
        load_dataset(f"imagefolder:{tmp_path / 'set'}", img_size=4)
    msg = str(exc.value)
    assert "\n" not in msg and str(tmp_path / "set") in msg
    assert "no test/ or val/" in msg and "give both train/ and test/" in msg and "flat tree" in msg
    assert not dataset_status(f"imagefolder:{tmp_path / 'set'}").found


def test_flat_tree_of_class_folders_still_loads(tmp_path: Path) -> None:
    # The documented flat layout, with a class that happens to be called "train" (images directly inside).
    write_image_tree(tmp_path / "vehicles", per_class=5, classes=("bus", "car", "train"))
    ds = load_dataset(f"imagefolder:{tmp_path / 'vehicles'}", img_size=4)
    assert ds.classes == ["bus", "car", "train"]
    assert (len(ds.train), len(ds.test)) == (12, 3) and np.bincount(ds.test.labels).tolist() == [1, 1, 1]
    assert ds.info["test_split"] == "stratified 0.2 seed 0"


@pytest.mark.parametrize("where", ["first", "last"])
def test_decompression_bomb_png_is_one_line(tmp_path: Path, where: str) -> None:
    write_image_tree(tmp_path / "pets")
    bomb = tmp_path / "pets" / "dog" / ("0.png" if where == "first" else "9.png")
    bomb.write_bytes(png_claiming(65536, 65536))
    with pytest.raises(DataError, match="cannot decode image") as err:
        load_dataset(f"imagefolder:{tmp_path / 'pets'}", img_size=8)
    assert str(bomb) in str(err.value) and "\n" not in str(err.value)


def test_memory_error_while_decoding_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # found by benchmarks/fuzz.py: a corrupt PNG chunk length makes Pillow ask for gigabytes; under a memory limit
    # that MemoryError escaped as a traceback
    from PIL import Image

    write_image_tree(tmp_path / "pets")

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(Image.Image, "convert", no_memory)
    with pytest.raises(DataError, match="cannot decode image") as err:
        load_dataset(f"imagefolder:{tmp_path / 'pets'}", img_size=8)
    assert "\n" not in str(err.value) and "pets" in str(err.value)


def test_png_with_a_damaged_chunk_is_refused(tmp_path: Path) -> None:
    # found by benchmarks/fuzz.py: Pillow checks no chunk CRC and stops before zlib's checksum, so a PNG with an
    # inserted byte in its pixel data loaded as other pixels
    write_image_tree(tmp_path / "pets")
    path = tmp_path / "pets" / "cat" / "1.png"
    raw = path.read_bytes()
    at = raw.index(b"IDAT") + 12
    path.write_bytes(raw[:at] + b"\x03" + raw[at:])
    with pytest.raises(DataError, match="damaged PNG: chunk b'IDAT' fails its CRC check") as err:
        load_dataset(f"imagefolder:{tmp_path / 'pets'}", img_size=8)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    path.write_bytes(raw[: len(raw) - 12])  # without its IEND chunk
    with pytest.raises(DataError, match="no IEND chunk"):
        load_dataset(f"imagefolder:{tmp_path / 'pets'}", img_size=8)
