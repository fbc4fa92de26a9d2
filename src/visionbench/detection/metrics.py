"""COCO detection metrics (mAP@[.5:.95], AP50, AP75, AR@100, per-class AP) computed by ``faster-coco-eval``.

The ground truth and the predictions are built as COCO objects in memory (no file) and evaluated by
``faster_coco_eval.COCOeval_faster`` (the C++ re-implementation of pycocotools' ``COCOeval``, same numbers) with
``iouType="bbox"``: IoU thresholds .50:.05:.95, 101 recall points, at most 100 detections per image, COCO's area
ranges (small < 32^2 <= medium < 96^2 <= large, on the box area ``w * h``).

Conventions: boxes ``x1, y1, x2, y2`` in pixels, labels ``0..K-1`` indexing ``classes`` (as in the dataset;
torchvision's 1..K predictions must be shifted down first); a label is written as COCO category ``label + 1``.
Every image is listed, so an image without predictions counts its ground truth as missed; no predictions at all give
0.0 everywhere. A class without ground truth has no AP (COCO's -1): it is reported as ``None`` and left out of the
means, as COCO does; a mean over nothing (no ground truth at all, or no object in an area range) is ``None`` too.
Boxes, labels and scores may be NumPy arrays, lists or torch tensors (read through NumPy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DetectionEvaluation", "PRCurve", "evaluate_detections", "coco_metrics", "precision_recall_curve"]

_AREAS = ("all", "small", "medium", "large")


def _array(value: Any, dtype: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, possibly on a GPU or requiring grad
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def _quiet(*_args: Any, **_kwargs: Any) -> None:
    """faster-coco-eval logs every step and prints its summary: silence both."""


def _mean(values: np.ndarray) -> float | None:
    """COCO's mean over the entries > -1, or None when there are none."""
    kept = values[values > -1]
    return float(kept.mean()) if kept.size else None


@dataclass(frozen=True)
class PRCurve:
    """Precision at COCO's 101 recall points, at one IoU threshold, for a PR figure.

    Precision is COCO's interpolated value (the best precision at any recall >= r), 0 beyond the highest recall
    reached. Only the classes with ground truth enter ``precision`` (their mean) and have a curve in ``per_class``.

    Attributes:
        iou: the IoU threshold.
        recall: (101,) the recall points 0, 0.01, ..., 1.
        precision: (101,) mean over the classes with ground truth (NaN when no class has any).
        per_class: class name -> (101,) precision, or None for a class without ground truth.
    """

    iou: float
    recall: np.ndarray
    precision: np.ndarray
    per_class: dict[str, np.ndarray | None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready lists."""
        return {
            "iou": self.iou,
            "recall": self.recall.tolist(),
            "precision": self.precision.tolist(),
            "per_class": {k: (None if v is None else v.tolist()) for k, v in self.per_class.items()},
        }


@dataclass(frozen=True)
class DetectionEvaluation:
    """COCO's accumulated arrays for one evaluation, with the summaries computed from them.

    Attributes:
        classes: class names, index = label.
        precision: (T, R, K, A, M) interpolated precision (-1 where a class has no ground truth).
        recall: (T, K, A, M) best recall (-1 likewise).
        iou_thresholds: (T,) 0.50..0.95.
        recall_thresholds: (R,) 0..1.
        max_dets: (M,) detections kept per image (1, 10, 100).
        counts: numbers of images, ground-truth objects and predictions.
    """

    classes: list[str]
    precision: np.ndarray
    recall: np.ndarray
    iou_thresholds: np.ndarray
    recall_thresholds: np.ndarray
    max_dets: tuple[int, ...]
    counts: dict[str, int]

    def _t(self, iou: float) -> int:
        hits = np.flatnonzero(np.isclose(self.iou_thresholds, iou))
        if not hits.size:
            raise ValueError(f"IoU {iou} is not one of COCO's thresholds {self.iou_thresholds.round(2).tolist()}")
        return int(hits[0])

    def ap(self, iou: float | None = None, area: str = "all", k: int | None = None) -> float | None:
        """AP averaged over the IoU thresholds (or at ``iou``) and over the classes with ground truth (or class k)."""
        p = self.precision[:, :, :, _AREAS.index(area), -1]
        if iou is not None:
            p = p[self._t(iou) : self._t(iou) + 1]
        if k is not None:
            p = p[:, :, k : k + 1]
        return _mean(p)

    def ar(self, max_dets: int = 100, area: str = "all", k: int | None = None) -> float | None:
        """AR over the IoU thresholds and the classes with ground truth (or class k), ``max_dets`` per image."""
        r = self.recall[:, :, _AREAS.index(area), self.max_dets.index(max_dets)]
        if k is not None:
            r = r[:, k : k + 1]
        return _mean(r)

    def metrics(self) -> dict[str, Any]:
        """The summary: ``map``, ``map50``, ``map75``, ``map_small/medium/large``, ``mar_1/10/100``,
        ``mar_small/medium/large``, ``per_class_ap``, ``per_class_ap50``, ``per_class_ar100`` and the counts."""
        out: dict[str, Any] = {"map": self.ap(), "map50": self.ap(0.5), "map75": self.ap(0.75)}
        for area in _AREAS[1:]:
            out[f"map_{area}"] = self.ap(area=area)
        for m in self.max_dets:
            out[f"mar_{m}"] = self.ar(m)
        for area in _AREAS[1:]:
            out[f"mar_{area}"] = self.ar(area=area)
        out["per_class_ap"] = {name: self.ap(k=k) for k, name in enumerate(self.classes)}
        out["per_class_ap50"] = {name: self.ap(0.5, k=k) for k, name in enumerate(self.classes)}
        out["per_class_ar100"] = {name: self.ar(k=k) for k, name in enumerate(self.classes)}
        out.update(self.counts)
        return out

    def pr_curve(self, iou: float = 0.5) -> PRCurve:
        """The precision-recall curve at ``iou`` (one of 0.50, 0.55, ..., 0.95), per class and averaged."""
        p = self.precision[self._t(iou), :, :, 0, -1]  # (R, K)
        with_gt = (p > -1).all(axis=0)
        mean = p[:, with_gt].mean(axis=1) if with_gt.any() else np.full(p.shape[0], np.nan)
        per_class = {name: (p[:, k].copy() if with_gt[k] else None) for k, name in enumerate(self.classes)}
        return PRCurve(float(self.iou_thresholds[self._t(iou)]), self.recall_thresholds.copy(), mean, per_class)


def _check_labels(labels: np.ndarray, k: int, where: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        bad = int(labels[(labels < 0) | (labels >= k)][0])
        raise ValueError(f"{where}: label {bad} is not in 0..{k - 1} (shift torchvision's 1..K labels down by one)")


def _coco_boxes(boxes: np.ndarray, where: str) -> np.ndarray:
    """(k, 4) x1y1x2y2 -> x, y, w, h (float64)."""
    boxes = boxes.reshape(-1, 4)
    if not np.isfinite(boxes).all():
        raise ValueError(f"{where}: boxes hold NaN or infinite values")
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def evaluate_detections(
    gt: Sequence[Mapping[str, Any]],
    predictions: Sequence[Mapping[str, Any]],
    classes: Sequence[str],
    *,
    image_sizes: Sequence[tuple[int, int]] | tuple[int, int] | None = None,
) -> DetectionEvaluation:
    """Run COCO's bbox evaluation once; :meth:`DetectionEvaluation.metrics` and ``.pr_curve`` read the result.

    Args:
        gt: per image, ``{"boxes": (k, 4) x1y1x2y2, "labels": (k,) in 0..K-1}`` (a ``DetectionSplit.targets``).
        predictions: per image (same order), ``{"boxes", "labels", "scores"}``; an image may have none.
        classes: class names, index = label.
        image_sizes: (height, width) of every image or of each; only recorded in the COCO image entries (the bbox
            metrics do not use them); default: large enough to hold the boxes.

    Raises:
        ValueError: lists of different lengths, a label out of range, boxes and labels of different lengths.
    """
    try:
        from faster_coco_eval import COCO, COCOeval_faster
    except ImportError as exc:  # a declared dependency: only a broken environment lacks it
        raise ImportError(
            f"detection metrics need faster-coco-eval ({exc}); pip install 'faster-coco-eval>=1.8'"
        ) from exc

    if len(gt) != len(predictions):
        raise ValueError(f"{len(gt)} ground-truth images but {len(predictions)} prediction entries")
    k_classes = len(classes)
    if isinstance(image_sizes, tuple):
        image_sizes = [image_sizes] * len(gt)
    images: list[dict[str, Any]] = []
    gt_anns: list[dict[str, Any]] = []
    dt_anns: list[dict[str, Any]] = []
    for i, (g, d) in enumerate(zip(gt, predictions)):
        g_boxes = _coco_boxes(_array(g["boxes"], np.float64), f"ground truth of image {i}")
        g_labels = _array(g["labels"], np.int64).reshape(-1)
        d_boxes = _coco_boxes(_array(d.get("boxes", np.zeros((0, 4))), np.float64), f"predictions of image {i}")
        d_labels = _array(d.get("labels", np.zeros(0)), np.int64).reshape(-1)
        d_scores = _array(d.get("scores", np.zeros(0)), np.float64).reshape(-1)
        if len(g_boxes) != len(g_labels):
            raise ValueError(f"ground truth of image {i}: {len(g_boxes)} boxes but {len(g_labels)} labels")
        if not len(d_boxes) == len(d_labels) == len(d_scores):
            raise ValueError(
                f"predictions of image {i}: {len(d_boxes)} boxes, {len(d_labels)} labels, {len(d_scores)} scores"
            )
        _check_labels(g_labels, k_classes, f"ground truth of image {i}")
        _check_labels(d_labels, k_classes, f"predictions of image {i}")
        if image_sizes is not None:
            height, width = (int(v) for v in image_sizes[i])
        else:
            corners = np.concatenate([g_boxes[:, :2] + g_boxes[:, 2:], d_boxes[:, :2] + d_boxes[:, 2:]])
            width, height = (int(np.ceil(v)) for v in corners.max(axis=0)) if len(corners) else (1, 1)
        image_id = i + 1
        images.append({"id": image_id, "width": max(width, 1), "height": max(height, 1)})
        for box, label in zip(g_boxes.tolist(), g_labels.tolist()):
            gt_anns.append(
                {
                    "id": len(gt_anns) + 1,  # ids start at 1: COCO's matcher uses 0 for "unmatched"
                    "image_id": image_id,
                    "category_id": label + 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
        for box, label, score in zip(d_boxes.tolist(), d_labels.tolist(), d_scores.tolist()):
            dt_anns.append(
                {
                    "id": len(dt_anns) + 1,
                    "image_id": image_id,
                    "category_id": label + 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "score": score,
                    "iscrowd": 0,
                }
            )
    categories = [{"id": k + 1, "name": str(name)} for k, name in enumerate(classes)]
    coco_gt = COCO({"images": images, "annotations": gt_anns, "categories": categories}, print_function=_quiet)
    coco_dt = COCO({"images": images, "annotations": dt_anns, "categories": categories}, print_function=_quiet)
    evaluator = COCOeval_faster(coco_gt, coco_dt, iouType="bbox", print_function=_quiet)
    evaluator.params.catIds = [c["id"] for c in categories]  # every class, even one absent from the ground truth
    evaluator.params.imgIds = [img["id"] for img in images]
    evaluator.evaluate()
    evaluator.accumulate()
    p = evaluator.params
    return DetectionEvaluation(
        classes=[str(c) for c in classes],
        precision=np.asarray(evaluator.eval["precision"], np.float64),
        recall=np.asarray(evaluator.eval["recall"], np.float64),
        iou_thresholds=np.asarray(p.iouThrs, np.float64),
        recall_thresholds=np.asarray(p.recThrs, np.float64),
        max_dets=tuple(int(m) for m in p.maxDets),
        counts={"num_images": len(images), "num_gt": len(gt_anns), "num_predictions": len(dt_anns)},
    )


def coco_metrics(
    gt: Sequence[Mapping[str, Any]],
    predictions: Sequence[Mapping[str, Any]],
    classes: Sequence[str],
    *,
    image_sizes: Sequence[tuple[int, int]] | tuple[int, int] | None = None,
) -> dict[str, Any]:
    """COCO's box metrics of ``predictions`` against ``gt`` (see :meth:`DetectionEvaluation.metrics` for the keys).

    Values are floats in [0, 1], or None where COCO has no value (-1): a class without ground truth in
    ``per_class_*``, an empty area range in ``map_small/medium/large``, everything when there is no ground truth.
    """
    return evaluate_detections(gt, predictions, classes, image_sizes=image_sizes).metrics()


def precision_recall_curve(
    gt: Sequence[Mapping[str, Any]],
    predictions: Sequence[Mapping[str, Any]],
    classes: Sequence[str],
    *,
    iou: float = 0.5,
) -> PRCurve:
    """COCO's precision-recall curve at ``iou``, per class and averaged over the classes with ground truth."""
    return evaluate_detections(gt, predictions, classes).pr_curve(iou)
