"""Digit scenes: determinism, no train/test leak, tight boxes, canvas bounds, object counts, the overlap rule."""

from __future__ import annotations

import numpy as np
import pytest

from visionbench.data import Dataset, Split
from visionbench.data.digits import load_digits
from visionbench.data.scenes import SceneConfig, load_scenes_dataset, make_scenes, render_object
from visionbench.errors import ConfigError

SMALL = {"train_scenes": 120, "test_scenes": 50}


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits()


@pytest.fixture(scope="module")
def scenes(digits: Dataset):
    return make_scenes(digits, SceneConfig(**SMALL))


def _pairwise(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IoU and intersection / smaller area of every pair (i < j)."""
    ious, covers = [], []
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = boxes[i], boxes[j]
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            inter = iw * ih
            area_a = (a[2] - a[0]) * (a[3] - a[1])
            area_b = (b[2] - b[0]) * (b[3] - b[1])
            ious.append(inter / (area_a + area_b - inter))
            covers.append(inter / min(area_a, area_b))
    return np.asarray(ious), np.asarray(covers)


def test_shapes_dtypes_and_info(scenes, digits: Dataset) -> None:
    assert scenes.name == "scenes:digits" and scenes.task == "detection"
    assert scenes.classes == digits.classes
    assert scenes.train.images.shape == (120, 1, 128, 128) and scenes.train.images.dtype == np.uint8
    assert scenes.test.images.shape == (50, 1, 128, 128)
    assert scenes.in_chans == 1 and scenes.img_size == 128 and scenes.num_classes == 10
    for split in (scenes.train, scenes.test):
        for target, src in zip(split.targets, split.sources):
            assert target["boxes"].dtype == np.float32 and target["boxes"].shape[1] == 4
            assert target["labels"].dtype == np.int64 and src.dtype == np.int64
            assert len(target["boxes"]) == len(target["labels"]) == len(src)
    assert scenes.info["scenes"] == SceneConfig(**SMALL).to_dict()
    assert scenes.info["base_dataset"] == "digits"
    assert scenes.info["objects"]["train"] == scenes.train.num_objects


def test_deterministic_same_seed_same_bytes_other_seed_differs(digits: Dataset) -> None:
    cfg = SceneConfig(train_scenes=30, test_scenes=10, seed=3)
    a, b = make_scenes(digits, cfg), make_scenes(digits, cfg)
    assert a.train.images.tobytes() == b.train.images.tobytes()
    assert a.test.images.tobytes() == b.test.images.tobytes()
    for ta, tb in zip(a.train.targets + a.test.targets, b.train.targets + b.test.targets):
        assert ta["boxes"].tobytes() == tb["boxes"].tobytes() and np.array_equal(ta["labels"], tb["labels"])
    c = make_scenes(digits, SceneConfig(train_scenes=30, test_scenes=10, seed=4))
    assert c.train.images.tobytes() != a.train.images.tobytes()
    assert c.test.images.tobytes() != a.test.images.tobytes()
    # The test scenes do not depend on the number of train scenes.
    d = make_scenes(digits, SceneConfig(train_scenes=5, test_scenes=10, seed=3))
    assert d.test.images.tobytes() == a.test.images.tobytes()


def test_no_train_test_leak(digits: Dataset, scenes) -> None:
    # Indices point into the right split and the labels are that image's label.
    for split, source in ((scenes.train, digits.train), (scenes.test, digits.test)):
        for target, src in zip(split.targets, split.sources):
            assert src.min() >= 0 and src.max() < len(source)
            np.testing.assert_array_equal(target["labels"], source.labels[src])
    # Pixel-level: train images never brighter than 100, test images 255; a leak would show in the pixel values.
    rng = np.random.default_rng(0)
    train = (rng.random((40, 1, 8, 8)) > 0.5).astype(np.uint8) * 100
    test = (rng.random((20, 1, 8, 8)) > 0.5).astype(np.uint8) * 255
    fake = Dataset("fake", Split(train, np.arange(40) % 3), Split(test, np.arange(20) % 3), ["a", "b", "c"])
    sc = make_scenes(fake, SceneConfig(train_scenes=40, test_scenes=40, threshold=0))
    assert sc.train.images.max() <= 100
    assert all(img.max() > 100 for img in sc.test.images)


def test_boxes_inside_canvas_counts_and_overlap_rule(scenes) -> None:
    cfg = SceneConfig(**SMALL)
    assert scenes.info["dropped_objects"] == {"train": 0, "test": 0}
    counts = []
    for split in (scenes.train, scenes.test):
        for target in split.targets:
            boxes = target["boxes"]
            counts.append(len(boxes))
            assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= cfg.canvas).all()
            assert (boxes[:, 2:] > boxes[:, :2]).all()
            assert (np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) <= cfg.max_scale).all()
            iou, cover = _pairwise(boxes.astype(np.float64))
            assert (iou <= cfg.max_iou + 1e-9).all() and (cover <= cfg.max_cover + 1e-9).all()
    assert min(counts) >= cfg.min_objects and max(counts) <= cfg.max_objects
    assert set(counts) == set(range(cfg.min_objects, cfg.max_objects + 1))  # every count occurs in 170 scenes


def test_single_object_boxes_are_tight(digits: Dataset) -> None:
    sc = make_scenes(digits, SceneConfig(min_objects=1, max_objects=1, train_scenes=40, test_scenes=10))
    for split in (sc.train, sc.test):
        for image, target in zip(split.images, split.targets):
            x1, y1, x2, y2 = target["boxes"][0].astype(int)
            inside = image[:, y1:y2, x1:x2].max(axis=0)
            assert image.sum() == inside.sum(dtype=np.int64)  # nothing drawn outside the box
            # every edge row / column of the box holds a nonzero pixel
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
            assert inside.max() > SceneConfig().threshold


def test_multi_object_boxes_cover_all_pixels_and_touch_strokes(scenes) -> None:
    for split in (scenes.train, scenes.test):
        for image, target in zip(split.images, split.targets):
            covered = np.zeros(image.shape[1:], bool)
            for x1, y1, x2, y2 in target["boxes"].astype(int):
                covered[y1:y2, x1:x2] = True
                patch = image[:, y1:y2, x1:x2].max(axis=0)
                assert patch[0].any() and patch[-1].any() and patch[:, 0].any() and patch[:, -1].any()
            assert not image.max(axis=0)[~covered].any()


def test_render_object_tight_and_blank() -> None:
    img = np.zeros((1, 8, 8), np.uint8)
    img[0, 2:5, 3:6] = 200
    patch = render_object(img, 32, threshold=8)
    assert patch is not None and patch.dtype == np.uint8
    m = patch[0] > 0
    assert m[0].any() and m[-1].any() and m[:, 0].any() and m[:, -1].any()
    assert render_object(np.zeros((1, 8, 8), np.uint8), 20, threshold=0) is None
    wide = np.full((3, 10, 20), 255, np.uint8)  # aspect kept: 40 x 20 for a longer side of 40
    assert render_object(wide, 40, threshold=0).shape == (3, 20, 40)


def test_blank_sources_are_redrawn_and_placement_failures_drop_objects() -> None:
    images = np.zeros((10, 1, 8, 8), np.uint8)
    images[::2, 0, 2:6, 2:6] = 255  # the odd-numbered sources are blank
    ds = Dataset("half", Split(images, np.zeros(10, np.int64)), Split(images, np.zeros(10, np.int64)), ["x"])
    sc = make_scenes(
        ds,
        SceneConfig(
            canvas=32,
            min_scale=30,
            max_scale=32,
            min_objects=3,
            max_objects=3,
            train_scenes=5,
            test_scenes=2,
            max_tries=5,
        ),
    )
    for target, src in zip(sc.train.targets, sc.train.sources):
        assert 1 <= len(target["boxes"]) < 3  # big objects on a small canvas: later ones cannot be placed
        assert (src % 2 == 0).all()  # only non-blank sources
    assert sc.info["dropped_objects"]["train"] > 0
    blank = Dataset(
        "blank", Split(images[1::2], np.zeros(5, np.int64)), Split(images[1::2], np.zeros(5, np.int64)), ["x"]
    )
    empty = make_scenes(blank, SceneConfig(train_scenes=3, test_scenes=1, max_tries=4))  # terminates
    assert empty.train.num_objects == 0 and empty.info["dropped_objects"]["train"] >= 3


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"max_scale": 200}, "max_scale=200"),
        ({"min_objects": 0}, "min_objects=0"),
        ({"max_objects": 0}, "max_objects=0"),
        ({"max_iou": 1.5}, "max_iou=1.5"),
        ({"seed": -1}, "seed=-1"),
        ({"canvas": "big"}, "canvas='big'"),
        ({"train_scenes": 2.5}, "train_scenes=2.5"),
    ],
)
def test_bad_options_are_one_line_config_errors(options: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        SceneConfig(**options)
    assert "\n" not in str(info.value)


def test_from_dict_round_trip_and_unknown_key() -> None:
    cfg = SceneConfig(canvas=96, max_scale=40, seed=np.int64(5))
    assert cfg.seed == 5 and type(cfg.seed) is int
    assert SceneConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="max_objetcs.*did you mean: max_objects"):
        SceneConfig.from_dict({"max_objetcs": 3})


def test_load_scenes_dataset_by_name() -> None:
    ds = load_scenes_dataset("scenes:digits", cfg=SceneConfig(train_scenes=4, test_scenes=2, canvas=64, max_scale=32))
    assert ds.name == "scenes:digits" and ds.train.images.shape == (4, 1, 64, 64) and len(ds.test) == 2
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_scenes_dataset("nope", cfg=SceneConfig(train_scenes=1, test_scenes=1))
