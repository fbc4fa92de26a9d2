"""Classification through detection: a detector trained on digit scenes, scored on a classification test set.

The protocol:

1. Every test image of the classification set becomes ONE scene object, made as the scene generator makes its
   objects (:func:`visionbench.data.scenes.render_object`: resized so its longer side is ``scale`` pixels, a
   training scale such as the middle of ``min_scale..max_scale``, thresholded, cropped to its pixels), centred on a
   black ``canvas x canvas`` image (:func:`place_on_canvas`). An image that is blank after thresholding gives an
   empty canvas: it is kept and counted (``blank``), never dropped, so the number of images stays N.
2. The detector runs on each canvas; the predicted class of an image is the label of its highest-scoring box,
   whatever its score, and -1 when it returned no box (:func:`labels_from_detections`).
3. An image without a box counts as wrong: it lowers the accuracy and the recall of its true class, and, being no
   class, is a false positive of none (:func:`classification_through_detection`). The number of such images is
   reported beside the accuracy.

NumPy only (no torch): the pipeline runs the detector and passes its outputs here as arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from visionbench.data._detection import empty_target
from visionbench.data.scenes import SceneConfig, render_object
from visionbench.errors import ConfigError
from visionbench.metrics import label_metrics

__all__ = [
    "PROTOCOL",
    "Placed",
    "training_scale",
    "place_on_canvas",
    "labels_from_detections",
    "classification_through_detection",
]

#: One line stating the protocol, saved with the numbers it produced.
PROTOCOL = (
    "one object per test image, rendered at a training scale and centred on the detector's canvas; prediction = "
    "label of the highest-scoring box; an image with no box counts as wrong"
)


class Placed(NamedTuple):
    """What :func:`place_on_canvas` returns.

    Attributes:
        images: uint8 (N, C, canvas, canvas), one object each (or none when ``blank``).
        boxes: float32 (N, 4) tight ``x1, y1, x2, y2`` boxes; NaN rows for the blank images.
        blank: bool (N,), the images with no pixel above the threshold after resizing (their canvas is black).
    """

    images: np.ndarray
    boxes: np.ndarray
    blank: np.ndarray

    def targets(self, labels: Sequence[int] | np.ndarray) -> list[dict[str, np.ndarray]]:
        """One detection target per image (``labels[i]`` on its box; no object for a blank image)."""
        labels = np.asarray(labels, np.int64).reshape(-1)
        if len(labels) != len(self.boxes):
            raise ValueError(f"{len(labels)} labels for {len(self.boxes)} placed images")
        return [
            empty_target() if blank else {"boxes": box[None].copy(), "labels": np.array([label], np.int64)}
            for box, label, blank in zip(self.boxes, labels, self.blank)
        ]


def training_scale(cfg: SceneConfig) -> int:
    """The middle of the scenes' object sizes, ``(min_scale + max_scale) // 2`` (34 px by default)."""
    return (cfg.min_scale + cfg.max_scale) // 2


def place_on_canvas(images: np.ndarray, canvas: int, scale: int, threshold: int) -> Placed:
    """Each image as one scene object centred on a black canvas (step 1 of the protocol, see the module doc).

    Args:
        images: uint8 (N, C, h, w) classification images.
        canvas: side of the square output, pixels (the detector's training canvas).
        scale: longer side of the resized image, pixels (``1..canvas``).
        threshold: pixels ``<= threshold`` become 0, as in the scenes (``SceneConfig.threshold``).

    Raises:
        ConfigError: a scale outside ``1..canvas`` or a threshold outside ``0..254``.
        ValueError: ``images`` is not (N, C, h, w).
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be uint8 (N, C, h, w), got shape {images.shape}")
    if not 1 <= scale <= canvas:
        raise ConfigError(f"classification through detection: scale={scale} must be in 1..canvas={canvas}")
    if not 0 <= threshold <= 254:
        raise ConfigError(f"classification through detection: threshold={threshold} must be in 0..254")
    n, c = images.shape[:2]
    out = np.zeros((n, c, canvas, canvas), np.uint8)
    boxes = np.full((n, 4), np.nan, np.float32)
    blank = np.zeros(n, bool)
    for i in range(n):
        patch = render_object(images[i], scale, threshold)
        if patch is None:
            blank[i] = True
            continue
        bh, bw = patch.shape[1:]
        y, x = (canvas - bh) // 2, (canvas - bw) // 2
        out[i, :, y : y + bh, x : x + bw] = patch
        boxes[i] = (x, y, x + bw, y + bh)
    return Placed(out, boxes, blank)


def as_numpy(value: Any) -> np.ndarray:
    """A NumPy view of an array-like or a torch tensor (read through ``.detach().cpu()``, torch not imported)."""
    if hasattr(value, "detach"):  # a torch tensor: read it without importing torch here
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def labels_from_detections(predictions: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Per image, the label of its highest-scoring box (the first on a tie), or -1 when it has no box.

    Args:
        predictions: per image ``{"labels": (k,), "scores": (k,)}`` (``boxes`` may be there too); labels ``0..K-1``.

    Returns:
        int64 (N,).
    """
    out = np.full(len(predictions), -1, np.int64)
    for i, pred in enumerate(predictions):
        labels = as_numpy(pred.get("labels", ())).reshape(-1)
        scores = as_numpy(pred.get("scores", ())).reshape(-1)
        if len(labels) != len(scores):
            raise ValueError(f"predictions of image {i}: {len(labels)} labels but {len(scores)} scores")
        if len(labels):
            out[i] = int(labels[int(np.argmax(scores))])
    return out


def classification_through_detection(
    pred_labels: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray, num_classes: int
) -> dict[str, Any]:
    """The classification scores of labels predicted through detection, -1 meaning "no box" (always wrong).

    Args:
        pred_labels: (N,) in ``-1..K-1`` (:func:`labels_from_detections`).
        labels: (N,) true classes in ``0..K-1``.
        num_classes: K.

    Returns:
        Plain JSON values: ``accuracy``; ``macro_f1`` (over the classes present in the labels or the predictions,
        as :func:`visionbench.metrics.classification_metrics` does); ``per_class`` = {``precision``, ``recall``,
        ``f1``, ``support``} (K values, 0 where undefined; an image without a box lowers its class's recall and
        no class's precision); ``confusion_matrix`` (K rows = true class, K + 1 columns = predicted class, the last
        one "no box"); ``no_box`` (images without a box) and ``no_box_fraction``; ``num_images``; ``protocol``.

    Raises:
        ValueError: shapes that differ, an empty set, or labels out of range.
    """
    pred = np.asarray(pred_labels, np.int64).reshape(-1)
    true = np.asarray(labels, np.int64).reshape(-1)
    k = int(num_classes)
    if pred.shape != true.shape:
        raise ValueError(f"{len(pred)} predicted labels but {len(true)} true labels")
    if not len(true):
        raise ValueError("cannot score an empty set (N = 0)")
    if true.min() < 0 or true.max() >= k:
        raise ValueError(f"true labels must lie in 0..{k - 1}, got {true.min()}..{true.max()}")
    if pred.min() < -1 or pred.max() >= k:
        raise ValueError(f"predicted labels must lie in -1..{k - 1} (-1: no box), got {pred.min()}..{pred.max()}")
    scores = label_metrics(pred, true, k)  # -1 is a miss of its true class and no class's prediction
    no_box_column = np.bincount(true[pred < 0], minlength=k)
    no_box = int((pred < 0).sum())
    return {
        **scores,
        "confusion_matrix": [row + [int(n)] for row, n in zip(scores["confusion_matrix"], no_box_column)],
        "no_box": no_box,
        "no_box_fraction": no_box / len(true),
        "num_images": len(true),
        "protocol": PROTOCOL,
    }
