"""Classification through detection: one object per image on the canvas, top-box label, no box = wrong."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from visionbench.data.digits import load_digits
from visionbench.data.scenes import SceneConfig, render_object
from visionbench.detection.classify import (
    PROTOCOL,
    classification_through_detection,
    labels_from_detections,
    place_on_canvas,
    training_scale,
)
from visionbench.errors import ConfigError


@pytest.fixture(scope="module")
def digit_images() -> tuple[np.ndarray, np.ndarray]:
    test = load_digits().test
    return np.asarray(test.images[:12]), test.labels[:12]


def test_place_on_canvas_one_tight_centred_object(digit_images) -> None:
    images, labels = digit_images
    images = images.copy()
    images[3] = 0  # blank after thresholding: kept and counted
    placed = place_on_canvas(images, canvas=64, scale=34, threshold=8)
    assert placed.images.shape == (12, 1, 64, 64) and placed.images.dtype == np.uint8
    assert placed.blank.tolist() == [i == 3 for i in range(12)]
    assert not placed.images[3].any() and np.isnan(placed.boxes[3]).all()
    for i in np.flatnonzero(~placed.blank):
        x1, y1, x2, y2 = placed.boxes[i].astype(int)
        assert max(x2 - x1, y2 - y1) <= 34
        assert abs((x1 + x2) / 2 - 32) <= 0.5 and abs((y1 + y2) / 2 - 32) <= 0.5  # centred
        inside = placed.images[i, 0, y1:y2, x1:x2]
        assert placed.images[i].sum() == inside.sum()  # nothing outside the box
        assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()  # tight
        assert np.array_equal(inside, render_object(images[i], 34, 8)[0])  # the scene generator's object
    targets = placed.targets(labels)
    assert len(targets) == 12 and targets[3]["boxes"].shape == (0, 4) and targets[3]["labels"].shape == (0,)
    assert targets[0]["labels"].tolist() == [labels[0]] and targets[0]["boxes"].dtype == np.float32


def test_place_on_canvas_rgb_and_bad_arguments() -> None:
    rgb = np.zeros((2, 3, 10, 20), np.uint8)
    rgb[:, 1, 2:8, 4:16] = 200
    placed = place_on_canvas(rgb, canvas=40, scale=40, threshold=0)
    assert placed.images.shape == (2, 3, 40, 40) and not placed.blank.any()
    assert placed.images[:, 0].max() == 0 and placed.images[:, 1].max() == 200
    with pytest.raises(ConfigError, match="scale=65 must be in 1..canvas=64"):
        place_on_canvas(rgb, canvas=64, scale=65, threshold=8)
    with pytest.raises(ConfigError, match="threshold=255"):
        place_on_canvas(rgb, canvas=64, scale=20, threshold=255)
    with pytest.raises(ValueError, match="N, C, h, w"):
        place_on_canvas(rgb[0], canvas=64, scale=20, threshold=8)


def test_training_scale_is_the_middle_of_the_scene_sizes() -> None:
    assert training_scale(SceneConfig()) == 34
    assert training_scale(SceneConfig(min_scale=10, max_scale=13)) == 11


def test_labels_from_detections_top_score_or_minus_one() -> None:
    preds = [
        {"boxes": np.zeros((3, 4)), "labels": np.array([4, 7, 2]), "scores": np.array([0.2, 0.9, 0.5])},
        {"boxes": np.zeros((0, 4)), "labels": np.zeros(0, np.int64), "scores": np.zeros(0)},
        {"labels": [5, 6], "scores": [0.3, 0.3]},  # a tie: the first
        {},
        {"labels": [1], "scores": [0.01]},  # any score counts
    ]
    got = labels_from_detections(preds)
    assert got.dtype == np.int64 and got.tolist() == [7, -1, 5, -1, 1]
    with pytest.raises(ValueError, match="2 labels but 1 scores"):
        labels_from_detections([{"labels": [1, 2], "scores": [0.5]}])


def test_scores_hand_computed_with_no_box_wrong() -> None:
    true = [0, 0, 1, 1, 2, 2]
    pred = [0, -1, 1, 0, -1, 2]
    r = classification_through_detection(pred, true, 3)
    assert r["accuracy"] == 0.5 and r["no_box"] == 2 and r["no_box_fraction"] == pytest.approx(1 / 3)
    assert r["confusion_matrix"] == [[1, 0, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1]]
    assert r["per_class"]["precision"] == [0.5, 1.0, 1.0]
    assert r["per_class"]["recall"] == [0.5, 0.5, 0.5]
    assert r["per_class"]["f1"] == pytest.approx([0.5, 2 / 3, 2 / 3])
    assert r["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 2 / 3) / 3)
    assert r["per_class"]["support"] == [2, 2, 2] and r["num_images"] == 6 and r["protocol"] == PROTOCOL
    assert all(type(v) is float for v in r["per_class"]["f1"]) and type(r["accuracy"]) is float


def test_agrees_with_scikit_learn_when_none_matches_no_class() -> None:
    rng = np.random.default_rng(0)
    true = rng.integers(0, 5, 200)
    pred = np.where(rng.random(200) < 0.7, true, rng.integers(-1, 5, 200))
    pred[true == 4] = np.where(pred[true == 4] == 4, 3, pred[true == 4])  # class 4 never predicted
    r = classification_through_detection(pred, true, 6)  # class 5 never seen: left out of the macro mean
    p, rec, f, s = precision_recall_fscore_support(true, pred, labels=range(6), zero_division=0)
    assert r["per_class"]["precision"] == pytest.approx(p.tolist())
    assert r["per_class"]["recall"] == pytest.approx(rec.tolist())
    assert r["per_class"]["f1"] == pytest.approx(f.tolist()) and r["per_class"]["support"] == s.tolist()
    assert r["macro_f1"] == pytest.approx(f1_score(true, pred, labels=range(5), average="macro", zero_division=0))
    assert r["per_class"]["f1"][4] == 0.0
    assert r["accuracy"] == pytest.approx(float((pred == true).mean()))
    assert sum(row[-1] for row in r["confusion_matrix"]) == r["no_box"] == int((pred == -1).sum()) > 0


def test_all_no_box_is_zero_and_bad_inputs_raise() -> None:
    r = classification_through_detection([-1, -1, -1], [0, 1, 1], 2)
    assert (r["accuracy"], r["macro_f1"], r["no_box"], r["no_box_fraction"]) == (0.0, 0.0, 3, 1.0)
    with pytest.raises(ValueError, match="2 predicted labels but 3"):
        classification_through_detection([0, 1], [0, 1, 1], 2)
    with pytest.raises(ValueError, match="-1..1"):
        classification_through_detection([0, 2], [0, 1], 2)
    with pytest.raises(ValueError, match="empty"):
        classification_through_detection([], [], 2)
