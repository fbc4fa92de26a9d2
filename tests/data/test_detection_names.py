"""Detection dataset names in the catalogue: ``scenes:NAME`` and ``coco:PATH`` through ``load_dataset``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from visionbench.data import Dataset, _catalog, dataset_status, load_dataset
from visionbench.data._catalog import canonical_name
from visionbench.data._detection import DetectionDataset
from visionbench.data.export import export_coco
from visionbench.data.scenes import SceneConfig, load_scenes_dataset
from visionbench.errors import ConfigError, DataError

TINY = {"train_scenes": 6, "test_scenes": 3, "canvas": 48, "max_scale": 24, "min_scale": 12}


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("scenes:FMNIST", "scenes:fashion-mnist"),
        ("scenes:digits", "scenes:digits"),
        ("Scenes: Fashion_MNIST", "scenes:fashion-mnist"),
        ("scenes:cifar-10", "scenes:cifar10"),
        ("scenes:imagefolder:/data/x", "scenes:imagefolder:/data/x"),
        ("coco:/data/My_Export", "coco:/data/My_Export"),
        ("coco:rel/dir", "coco:rel/dir"),
        ("FMNIST", "fashion-mnist"),
    ],
)
def test_canonical_names(name: str, want: str) -> None:
    assert canonical_name(name) == want


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("scenes:", "scenes: needs a source dataset, as in scenes:fashion-mnist"),
        ("scenes:  ", "scenes: needs a source dataset"),
        ("coco:", "coco: needs a folder"),
        ("scenes:mnsit", "unknown dataset 'mnsit'.*did you mean: mnist"),
        ("scenes:scenes:digits", "made from a classification dataset"),
        ("scenes:coco:/x", "made from a classification dataset"),
        ("nope", "scenes:NAME or coco:PATH"),
    ],
)
def test_bad_names_are_one_line_config_errors(name: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as err:
        canonical_name(name)
    assert "\n" not in str(err.value)


def test_scenes_by_name_with_options_equals_the_generator() -> None:
    ds = load_dataset("scenes:DIGITS", options=dict(TINY))
    assert isinstance(ds, DetectionDataset) and ds.task == "detection"
    assert ds.name == "scenes:digits" and ds.num_classes == 10
    assert ds.train.images.shape == (6, 1, 48, 48) and len(ds.test) == 3
    assert ds.info["scenes"] == SceneConfig(**TINY).to_dict()
    ref = load_scenes_dataset("digits", cfg=SceneConfig(**TINY))
    assert np.array_equal(ds.train.images, ref.train.images) and np.array_equal(ds.test.images, ref.test.images)
    for a, b in zip(ds.train.targets, ref.train.targets):
        assert np.array_equal(a["boxes"], b["boxes"]) and np.array_equal(a["labels"], b["labels"])


def test_scene_option_errors_name_the_option() -> None:
    with pytest.raises(ConfigError, match="unknown scene option 'train_scene'.*did you mean: train_scenes"):
        load_dataset("scenes:digits", options={"train_scene": 3})
    with pytest.raises(ConfigError, match="scene option canvas=4 must be at least 8"):
        load_dataset("scenes:digits", options={"canvas": 4})


def test_scenes_of_a_missing_source_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset fashion-mnist not found"):
        load_dataset("scenes:fmnist", data_dir=tmp_path, options=dict(TINY))


@pytest.mark.parametrize("name", ["digits", "imagefolder:/nowhere", "coco:/nowhere"])
def test_options_are_refused_where_a_name_takes_none(name: str) -> None:
    with pytest.raises(ConfigError, match=r"--dataset-option canvas.*takes no options") as err:
        load_dataset(name, options={"canvas": 64})
    assert "\n" not in str(err.value)


def test_classification_names_unchanged() -> None:
    for options in (None, {}):
        ds = load_dataset("digits", options=options)
        assert isinstance(ds, Dataset) and ds.name == "digits" and ds.train.images.shape[1:] == (1, 8, 8)


def test_coco_by_name_absolute_and_relative_to_data_dir(tmp_path: Path) -> None:
    scenes = load_scenes_dataset("digits", cfg=SceneConfig(**TINY))
    export_coco(scenes, tmp_path / "export")
    ds = load_dataset(f"coco:{tmp_path / 'export'}")
    assert isinstance(ds, DetectionDataset) and ds.name == f"coco:{(tmp_path / 'export').resolve()}"
    assert ds.classes == scenes.classes and np.array_equal(ds.train.images, scenes.train.images)
    assert [len(t["labels"]) for t in ds.test.targets] == [len(t["labels"]) for t in scenes.test.targets]
    assert np.array_equal(ds.test.targets[0]["boxes"], scenes.test.targets[0]["boxes"])
    rel = load_dataset("coco:export", data_dir=tmp_path)
    assert rel.name == ds.name and len(rel.train) == 6
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"coco:{tmp_path / 'missing'}")


def test_scenes_status_follows_its_source_and_options(tmp_path: Path) -> None:
    s = dataset_status("scenes:digits")
    assert (s.name, s.found, s.format) == ("scenes:digits", True, "scenes")
    assert (s.train_size, s.test_size, s.num_classes, s.image_shape) == (4000, 1000, 10, (1, 128, 128))
    s = dataset_status("scenes:digits", options={"train_scenes": 7, "test_scenes": 2, "canvas": 64, "max_scale": 40})
    assert (s.train_size, s.test_size, s.image_shape) == (7, 2, (1, 64, 64))
    missing = dataset_status("scenes:FMNIST", data_dir=tmp_path)
    assert missing.name == "scenes:fashion-mnist" and not missing.found and missing.path is None
    assert missing.how_to_get == dataset_status("fashion-mnist", data_dir=tmp_path).how_to_get
    assert missing.image_shape == (1, 128, 128) and missing.train_size == 4000
    with pytest.raises(ConfigError, match="unknown scene option 'canvs'"):
        dataset_status("scenes:digits", options={"canvs": 64})
    with pytest.raises(ConfigError, match="--dataset-option canvas"):
        dataset_status("digits", options={"canvas": 64})


def test_coco_status_from_the_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenes = load_scenes_dataset("digits", cfg=SceneConfig(**TINY))
    export_coco(scenes, tmp_path / "export")
    s = dataset_status(f"coco:{tmp_path / 'export'}")
    assert s.found and s.format == "coco" and s.path == str((tmp_path / "export").resolve())
    assert s.name == f"coco:{(tmp_path / 'export').resolve()}"
    assert (s.train_size, s.test_size, s.num_classes, s.image_shape) == (6, 3, 10, (1, 48, 48))
    assert dataset_status("coco:export", data_dir=tmp_path).train_size == 6
    monkeypatch.setattr(_catalog, "COCO_STATUS_MAX_BYTES", 10)  # too big to parse: found, sizes unknown
    big = dataset_status(f"coco:{tmp_path / 'export'}")
    assert big.found and (big.train_size, big.test_size, big.num_classes, big.image_shape) == (None, None, 0, (0, 0, 0))


def test_coco_status_not_found(tmp_path: Path) -> None:
    for path in (tmp_path / "missing", tmp_path):
        s = dataset_status(f"coco:{path}")
        assert not s.found and s.path is None and "instances_train.json" in s.how_to_get
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_train.json").write_text("{}")
    assert not dataset_status(f"coco:{tmp_path}").found  # no test or val split
    (tmp_path / "annotations" / "instances_val.json").write_text("not json")
    bad = dataset_status(f"coco:{tmp_path}")
    assert bad.found and bad.train_size is None and bad.test_size is None  # the loader names what is wrong
