"""Detection figures: scenes with ground-truth and predicted boxes, precision-recall curves.

Figures are :class:`matplotlib.figure.Figure` objects built without pyplot (no window, no global state), as in
:mod:`visionbench.report.plots`; the caller saves them (``report.plots.save_figure``, a study part). Artists carry a
``gid`` (``ground-truth``, ``prediction``, ``prediction-label``, ``class:<name>``, ``mean``) so tests can find them.

Boxes are ``x1, y1, x2, y2`` in pixels with ``x2`` one past the last column (the datasets' convention); drawn over
``imshow``, whose pixel ``j`` spans ``j - 0.5 .. j + 0.5``, a box is the rectangle from ``x1 - 0.5`` to ``x2 - 0.5``,
so it lies exactly on the edges of the pixels it holds. Labels are ``0..K-1`` indexing ``classes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from visionbench.detection.classify import as_numpy
from visionbench.detection.metrics import PRCurve

__all__ = ["GT_COLOR", "PRED_COLOR", "detections_figure", "pr_figure"]

GT_COLOR = "#2ca02c"  # ground truth: green, dashed
PRED_COLOR = "#d62728"  # predictions: red, solid, with "label score"


def _boxes(target: Mapping[str, Any] | None, key: str) -> np.ndarray:
    if target is None or key not in target:
        return np.zeros((0, 4) if key == "boxes" else (0,))
    value = as_numpy(target[key])
    return value.reshape(-1, 4).astype(np.float64) if key == "boxes" else value.reshape(-1)


def _show(ax: Any, image: np.ndarray) -> None:
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(np.moveaxis(image[:3], 0, -1), interpolation="nearest")  # (H, W, 3)
    ax.set_xticks([])
    ax.set_yticks([])


def _rect(box: np.ndarray, color: str, style: str, gid: str) -> Rectangle:
    x1, y1, x2, y2 = (float(v) for v in box)
    return Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor=color, linestyle=style,
                     linewidth=1.3, gid=gid)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('x') else 's'}"


def _class_name(classes: Sequence[str], label: int) -> str:
    return str(classes[label]) if 0 <= label < len(classes) else str(label)


def detections_figure(
    images: Any,
    targets: Sequence[Mapping[str, Any]] | None,
    predictions: Sequence[Mapping[str, Any]] | None,
    classes: Sequence[str],
    *,
    score_threshold: float = 0.5,
    max_images: int = 8,
    cols: int = 4,
    title: str = "",
) -> Figure:
    """A grid of scenes with their ground-truth boxes (dashed) and predicted boxes with ``label score``.

    Args:
        images: uint8 (N, C, H, W), or a list of (C, H_i, W_i) (a ``DetectionSplit.images``).
        targets: per image ``{"boxes": (k, 4), "labels": (k,)}``, or None to draw no ground truth.
        predictions: per image ``{"boxes": (k, 4), "labels": (k,), "scores": (k,)}``, or None; only the boxes
            scoring at least ``score_threshold`` are drawn (highest score on top).
        classes: class names, index = label.
        score_threshold: the smallest score drawn.
        max_images: the first ``max_images`` images are shown.
        cols: panels per row.
        title: the figure's title.

    Raises:
        ValueError: no image, or targets / predictions not one per image.
    """
    n = min(len(images), max_images)
    if n == 0:
        raise ValueError("detections_figure needs at least one image")
    for what, items in (("targets", targets), ("predictions", predictions)):
        if items is not None and len(items) < n:
            raise ValueError(f"{len(items)} {what} for {n} images")
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig = Figure(figsize=(2.5 * cols, 2.6 * rows + 0.5 + (0.3 if title else 0)), layout="constrained")
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        image = as_numpy(images[i])
        _show(ax, image)
        gt = targets[i] if targets is not None else None
        for box in _boxes(gt, "boxes"):
            ax.add_patch(_rect(box, GT_COLOR, "--", "ground-truth"))
        pred = predictions[i] if predictions is not None else None
        boxes, labels = _boxes(pred, "boxes"), _boxes(pred, "labels").astype(np.int64)
        scores = _boxes(pred, "scores").astype(np.float64)
        if not len(boxes) == len(labels) == len(scores):
            counts = f"{len(boxes)} boxes, {len(labels)} labels, {len(scores)} scores"
            raise ValueError(f"predictions of image {i}: {counts}")
        kept = np.flatnonzero(scores >= score_threshold)
        kept = kept[np.argsort(scores[kept], kind="stable")]  # the highest score drawn last, on top
        for j in kept:
            ax.add_patch(_rect(boxes[j], PRED_COLOR, "-", "prediction"))
            x1, y1, x2, y2 = boxes[j]
            above = y1 >= 0.1 * image.shape[-2]  # else the text goes under the box, inside the image
            left = x1 <= 0.6 * image.shape[-1]  # else it ends at the box's right edge, inside the image
            ax.text((x1 if left else x2) - 0.5, (y1 if above else y2) - 0.5,
                    f"{_class_name(classes, int(labels[j]))} {scores[j]:.2f}", fontsize=6.5, color="white",
                    ha="left" if left else "right", va="bottom" if above else "top", clip_on=True,
                    bbox={"facecolor": PRED_COLOR, "alpha": 0.8, "pad": 1, "linewidth": 0}, gid="prediction-label")
        ax.set_title(f"{_count(len(_boxes(gt, 'labels')), 'object')}, {_count(len(kept), 'box')}", fontsize=8)
    handles = [Line2D([], [], color=GT_COLOR, linestyle="--", label="ground truth"),
               Line2D([], [], color=PRED_COLOR, label=f"prediction (score >= {score_threshold:g})")]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def _curve_parts(curves: PRCurve | Mapping[str, Any]) -> tuple[float, np.ndarray, np.ndarray, dict[str, Any]]:
    if isinstance(curves, PRCurve):
        return curves.iou, curves.recall, curves.precision, dict(curves.per_class)
    def floats(values: Sequence[float | None]) -> np.ndarray:  # JSON writes NaN as null
        return np.asarray([np.nan if v is None else v for v in values], np.float64)

    per_class = {k: (None if v is None else floats(v)) for k, v in curves["per_class"].items()}
    return float(curves["iou"]), floats(curves["recall"]), floats(curves["precision"]), per_class


def pr_figure(curves: PRCurve | Mapping[str, Any], classes: Sequence[str] | None = None, *, title: str = "") -> Figure:
    """Precision against recall: one line per class with ground truth, and their mean (thick, black).

    Each legend entry gives the class's AP at the curve's IoU (the mean of its precision over COCO's 101 recall
    points, which is how COCO computes AP). Classes without ground truth have no curve and are named under the plot.

    Args:
        curves: what :func:`visionbench.detection.metrics.precision_recall_curve` returns, or its ``to_dict()``
            (as saved in a JSON file).
        classes: the class names in legend order (default: the curve's order).
        title: the title (default: ``precision-recall at IoU 0.5``).
    """
    iou, recall, mean, per_class = _curve_parts(curves)
    names = list(classes) if classes is not None else list(per_class)
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    fig = Figure(figsize=(6.8, 4.2), layout="constrained")
    ax = fig.add_subplot()
    missing = []
    for k, name in enumerate(names):
        precision = per_class.get(name)
        if precision is None:
            missing.append(name)
            continue
        ax.plot(recall, precision, linewidth=1.0, color=cmap(k % cmap.N), label=f"{name} (AP {np.mean(precision):.3f})",
                gid=f"class:{name}")
    if np.isfinite(mean).all():
        ax.plot(recall, mean, linewidth=2.4, color="black", label=f"mean (AP {np.mean(mean):.3f})", gid="mean")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision",
           title=title or f"precision-recall at IoU {iou:g}")
    ax.grid(alpha=0.3)
    if missing:  # a legend entry without a line, so the layout makes room for it
        ax.plot([], [], color="none", label=f"no ground truth: {', '.join(missing)}", gid="no-ground-truth")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    return fig
