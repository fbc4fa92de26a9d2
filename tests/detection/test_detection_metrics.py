"""COCO detection metrics on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from visionbench.detection.metrics import coco_metrics, evaluate_detections, precision_recall_curve

CLASSES = ["zero", "one", "two"]  # "two" never occurs in the ground truth


def _gt() -> list[dict[str, np.ndarray]]:
    return [
        {"boxes": np.array([[10, 10, 40, 40], [60, 50, 90, 100]], np.float32), "labels": np.array([0, 1])},
        {"boxes": np.array([[5, 5, 35, 35]], np.float32), "labels": np.array([0])},
        {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64)},  # an image without objects
    ]


def _perfect() -> list[dict[str, np.ndarray]]:
    return [{**g, "scores": np.linspace(0.9, 0.8, len(g["labels"]))} for g in _gt()]


def _empty(n: int = 3) -> list[dict[str, np.ndarray]]:
    return [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0, np.int64), "scores": np.zeros(0)} for _ in range(n)]


def test_perfect_predictions_score_one() -> None:
    m = coco_metrics(_gt(), _perfect(), CLASSES)
    for key in ("map", "map50", "map75", "mar_100", "map_small", "map_medium"):
        assert m[key] == pytest.approx(1.0), key
    assert m["map_large"] is None  # no object larger than 96^2 pixels
    assert m["per_class_ap"] == {"zero": pytest.approx(1.0), "one": pytest.approx(1.0), "two": None}
    assert m["per_class_ap50"]["two"] is None
    assert (m["num_images"], m["num_gt"], m["num_predictions"]) == (3, 3, 3)


def test_no_predictions_give_zero_not_a_crash() -> None:
    for predictions in (_empty(), [{}, {}, {}]):
        m = coco_metrics(_gt(), predictions, CLASSES)
        assert m["map"] == 0.0 and m["map50"] == 0.0 and m["mar_100"] == 0.0
        assert m["per_class_ap"] == {"zero": 0.0, "one": 0.0, "two": None}


def test_an_image_without_predictions_counts_its_objects_as_missed() -> None:
    predictions = _perfect()
    predictions[1] = _empty(1)[0]  # image 1's "zero" is missed: recall of "zero" is 1/2
    m = coco_metrics(_gt(), predictions, CLASSES)
    assert m["per_class_ap"]["one"] == pytest.approx(1.0)
    assert m["per_class_ar100"]["zero"] == pytest.approx(0.5)
    assert 0.45 < m["per_class_ap"]["zero"] < 0.55  # precision 1 up to recall 0.5 (51 of 101 points), then 0


def test_shift_to_iou_about_0_6_passes_at_50_fails_at_75() -> None:
    gt = [{"boxes": np.array([[10, 10, 40, 40]], np.float32), "labels": np.array([0])}]
    shifted = [{"boxes": np.array([[17, 10, 47, 40]], np.float32), "labels": np.array([0]), "scores": [0.9]}]
    # IoU = 23 * 30 / (37 * 30) = 0.62: matched at the thresholds 0.50, 0.55 and 0.60, missed from 0.65 up.
    m = coco_metrics(gt, shifted, CLASSES)
    assert m["map50"] == pytest.approx(1.0) and m["map75"] == 0.0
    assert m["map"] == pytest.approx(0.3)


def test_wrong_label_lowers_ap() -> None:
    predictions = _perfect()
    predictions[1] = {**predictions[1], "labels": np.array([2])}  # the second "zero" called "two"
    m = coco_metrics(_gt(), predictions, CLASSES)
    assert m["per_class_ap"]["zero"] < 1.0 and m["map"] < 1.0
    assert m["per_class_ap"]["one"] == pytest.approx(1.0)
    assert m["per_class_ap"]["two"] is None  # a false positive in a class without ground truth: still no AP


def test_false_positive_ranked_first_halves_precision() -> None:
    gt = [{"boxes": np.array([[0, 0, 20, 20]], np.float32), "labels": np.array([1])}]
    predictions = [
        {"boxes": np.array([[50, 50, 70, 70], [0, 0, 20, 20]], np.float32), "labels": [1, 1], "scores": [0.9, 0.8]}
    ]
    m = coco_metrics(gt, predictions, CLASSES)
    assert m["map50"] == pytest.approx(0.5)  # interpolated precision 1/2 at every recall point
    assert m["per_class_ap"] == {"zero": None, "one": pytest.approx(0.5), "two": None}


def test_no_ground_truth_at_all_gives_none() -> None:
    gt = [{"boxes": np.zeros((0, 4)), "labels": np.zeros(0, np.int64)}]
    predictions = [{"boxes": [[1, 1, 5, 5]], "labels": [0], "scores": [0.5]}]
    m = coco_metrics(gt, predictions, CLASSES)
    assert m["map"] is None and m["mar_100"] is None and set(m["per_class_ap"].values()) == {None}


def test_precision_recall_curve() -> None:
    curve = precision_recall_curve(_gt(), _perfect(), CLASSES)
    assert curve.iou == pytest.approx(0.5) and curve.recall.shape == (101,) and curve.precision.shape == (101,)
    np.testing.assert_allclose(curve.precision, 1.0)
    assert curve.per_class["two"] is None and curve.per_class["zero"].shape == (101,)
    assert curve.to_dict()["per_class"]["two"] is None
    empty = precision_recall_curve(_gt(), _empty(), CLASSES, iou=0.75)
    assert empty.iou == pytest.approx(0.75)
    np.testing.assert_array_equal(empty.precision, 0.0)
    with pytest.raises(ValueError, match="not one of COCO's thresholds"):
        evaluate_detections(_gt(), _perfect(), CLASSES).pr_curve(0.42)


def test_input_checks_and_torch_tensors() -> None:
    import torch

    with pytest.raises(ValueError, match="3 ground-truth images but 2"):
        coco_metrics(_gt(), _perfect()[:2], CLASSES)
    bad = _perfect()
    bad[0] = {**bad[0], "labels": np.array([0, 3])}
    with pytest.raises(ValueError, match="label 3 is not in 0..2"):
        coco_metrics(_gt(), bad, CLASSES)
    as_tensors = [{k: torch.as_tensor(np.asarray(v)) for k, v in p.items()} for p in _perfect()]
    assert coco_metrics(_gt(), as_tensors, CLASSES)["map"] == pytest.approx(1.0)
