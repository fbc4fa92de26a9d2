"""Detection beside classification: COCO box metrics, figures, and classification through a detector (torch-free).

``metrics`` (COCO mAP through faster-coco-eval), ``figures`` (matplotlib) and ``classify`` (the protocol that scores
a detector on a classification test set) are imported on first use of one of their names, so importing the package
costs nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_NAMES = {
    "metrics": ("DetectionEvaluation", "PRCurve", "evaluate_detections", "coco_metrics", "precision_recall_curve"),
    "figures": ("detections_figure", "pr_figure"),
    "classify": ("PROTOCOL", "Placed", "training_scale", "place_on_canvas", "labels_from_detections",
                 "classification_through_detection"),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _NAMES.items() for name in names}
__all__ = list(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name in _MODULE_OF:
        return getattr(import_module(f"visionbench.detection.{_MODULE_OF[name]}"), name)
    raise AttributeError(f"module 'visionbench.detection' has no attribute {name!r}")
