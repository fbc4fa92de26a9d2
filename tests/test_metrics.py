"""visionbench.metrics against small cases computed by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from visionbench.metrics import classification_metrics, cross_entropy, predictions, topk_accuracy

# 4 examples, 3 classes: predictions are [0, 1, 2, 0] against labels [0, 1, 1, 2].
LOGITS = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 2.0], [3.0, 0.0, 1.0]])
LABELS = np.array([0, 1, 1, 2])


def test_hand_computed_case() -> None:
    m = classification_metrics(LOGITS, LABELS, num_classes=3)
    assert m["accuracy"] == pytest.approx(0.5)
    # precision: class 0 predicted twice, right once; class 1 once, right; class 2 once, wrong.
    assert m["per_class"]["precision"] == pytest.approx([0.5, 1.0, 0.0])
    assert m["per_class"]["recall"] == pytest.approx([1.0, 0.5, 0.0])
    assert m["per_class"]["f1"] == pytest.approx([2 / 3, 2 / 3, 0.0])
    assert m["per_class"]["support"] == [1, 2, 1]
    assert m["macro_f1"] == pytest.approx(4 / 9)
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
    a = math.log(1 + math.exp(-1) + math.exp(-2))
    b = math.log(1 + math.exp(-2) + math.exp(-3))
    assert m["loss"] == pytest.approx((a + b + (2 + a) + (2 + b)) / 4)
    assert m["top5_accuracy"] is None  # 3 classes: top-5 is meaningless


def test_result_is_plain_json() -> None:
    m = classification_metrics(LOGITS.astype(np.float32), LABELS.astype(np.int32), num_classes=3)
    back = json.loads(json.dumps(m))
    assert back == m
    assert type(m["accuracy"]) is float
    assert all(type(v) is int for row in m["confusion_matrix"] for v in row)


def test_loss_is_stable_for_huge_logits() -> None:
    logits = np.array([[1000.0, 0.0], [-1000.0, 0.0], [50.0, 50.0]])
    labels = np.array([1, 0, 0])
    assert cross_entropy(logits, labels) == pytest.approx((1000 + 1000 + math.log(2)) / 3)


def test_non_finite_loss_is_none() -> None:
    logits = np.array([[np.nan, 0.0], [1.0, 0.0]])
    assert classification_metrics(logits, np.array([0, 0]), num_classes=2)["loss"] is None


def test_topk_hand_case() -> None:
    # 7 classes; true-label ranks are 1, 3, 6 and 7 (1 = highest).
    logits = np.array(
        [
            [9, 1, 2, 3, 4, 5, 6],  # label 0 ranked 1st
            [9, 8, 7, 1, 2, 3, 4],  # label 2 ranked 3rd
            [7, 6, 5, 4, 3, 2, 1],  # label 5 ranked 6th
            [7, 6, 5, 4, 3, 2, 1],  # label 6 ranked 7th
        ],
        dtype=float,
    )
    labels = np.array([0, 2, 5, 6])
    assert topk_accuracy(logits, labels, 1) == pytest.approx(0.25)
    assert topk_accuracy(logits, labels, 3) == pytest.approx(0.5)
    assert topk_accuracy(logits, labels, 5) == pytest.approx(0.5)
    assert topk_accuracy(logits, labels, 6) == pytest.approx(0.75)
    assert topk_accuracy(logits, labels, 100) == pytest.approx(1.0)
    m = classification_metrics(logits, labels, num_classes=7)
    assert m["top5_accuracy"] == pytest.approx(0.5)


def test_ties_break_to_lower_index_everywhere() -> None:
    logits = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0]])
    labels = np.array([1, 2])
    assert predictions(logits).tolist() == [0, 1]
    assert topk_accuracy(logits, labels, 1) == classification_metrics(logits, labels, 3)["accuracy"] == 0.0
    assert topk_accuracy(logits, labels, 2) == 1.0


def test_absent_classes_still_listed() -> None:
    logits = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    labels = np.array([0, 1, 1])
    m = classification_metrics(logits, labels, num_classes=4)
    assert len(m["per_class"]["f1"]) == 4
    assert m["per_class"]["support"] == [1, 2, 0, 0]
    assert m["per_class"]["precision"][2:] == [0.0, 0.0]
    assert np.array(m["confusion_matrix"]).shape == (4, 4)
    # class 0: p=1/2 r=1 f1=2/3; class 1: p=1 r=1/2 f1=2/3; classes 2, 3 never seen and not averaged.
    assert m["macro_f1"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("logits", "labels", "k"),
    [
        (np.zeros((3,)), np.zeros(3, dtype=int), 3),
        (np.zeros((3, 2)), np.zeros(2, dtype=int), 2),
        (np.zeros((3, 2)), np.zeros(3, dtype=int), 3),
        (np.zeros((2, 2)), np.array([0, 2]), 2),
        (np.zeros((0, 2)), np.zeros(0, dtype=int), 2),
    ],
)
def test_bad_shapes_raise(logits: np.ndarray, labels: np.ndarray, k: int) -> None:
    with pytest.raises(ValueError):
        classification_metrics(logits, labels, num_classes=k)


def test_topk_rejects_k_below_one() -> None:
    with pytest.raises(ValueError):
        topk_accuracy(LOGITS, LABELS, 0)


def test_loss_and_topk_agree_with_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(scale=5.0, size=(64, 10)), rng.integers(0, 10, size=64)
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    assert cross_entropy(logits, labels) == pytest.approx(expected, rel=1e-12)
    top5 = torch.from_numpy(logits).topk(5, dim=1).indices.numpy()  # (N, 5)
    assert topk_accuracy(logits, labels, 5) == pytest.approx(float((top5 == labels[:, None]).any(axis=1).mean()))
