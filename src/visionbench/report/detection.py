"""The figures of a detection run, built from its run directory only: test scenes with ground truth and predicted
boxes (from ``test_examples.npz``) and the precision-recall curves at IoU 0.5 (``test_pr_curve50`` in
results.json)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from visionbench.errors import RunError
from visionbench.runs import read_run

__all__ = ["detection_figures", "read_examples"]


def read_examples(run_dir: str | Path) -> tuple[Any, list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    """A detection run's saved test scenes: images (uint8 (N, C, H, W), or a list of (C, H_i, W_i) when their
    sizes differ), ground truth and predictions per image.

    Raises:
        RunError: no ``test_examples.npz`` (not a detection run, or it ended before its test evaluation) or a
            damaged one.
    """
    path = Path(run_dir) / "test_examples.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            images, gt, pred = data["images"], data["ground_truth"], data["predictions"]
            sizes = data["sizes"] if "sizes" in data.files else None  # absent in runs made before mixed sizes
    except FileNotFoundError:
        raise RunError(f"{path}: missing; only a detection run that reached its test evaluation has it") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise RunError(f"{path}: unreadable ({exc}); re-run `visionbench evaluate {run_dir}`") from None
    if sizes is not None and len(images) and (sizes != sizes[0]).any():
        images = [im[:, :h, :w] for im, (h, w) in zip(images, sizes)]
    targets = [{"boxes": gt[gt[:, 0] == i, 1:5], "labels": gt[gt[:, 0] == i, 5].astype(np.int64)}
               for i in range(len(images))]
    predictions = [{"boxes": pred[pred[:, 0] == i, 1:5], "labels": pred[pred[:, 0] == i, 5].astype(np.int64),
                    "scores": pred[pred[:, 0] == i, 6]} for i in range(len(images))]
    return images, targets, predictions


def detection_figures(run_dir: str | Path, *, max_images: int = 8,
                      score_threshold: float = 0.5) -> list[tuple[str, Any, str]]:
    """``(name, Figure, caption)`` for each figure of a detection run; [] for a classification run."""
    from visionbench.detection.figures import detections_figure, pr_figure

    run = read_run(run_dir)
    r = run.results or {}
    if r.get("task") != "detection":
        return []
    classes = [str(c) for c in r.get("classes") or []]
    label = f"{r.get('model')} on {r.get('dataset')}, seed {r.get('seed')}"
    figures: list[tuple[str, Any, str]] = []
    if (run.path / "test_examples.npz").is_file():
        images, targets, predictions = read_examples(run.path)
        shown = min(max_images, len(images))
        figures.append(("detections", detections_figure(images, targets, predictions, classes,
                                                         score_threshold=score_threshold, max_images=shown),
                        f"The first {shown} test scenes ({label}): ground truth dashed, predicted boxes scoring at "
                        f"least {score_threshold} solid with their label and score."))
    if r.get("test_pr_curve50"):
        figures.append(("pr-curve", pr_figure(r["test_pr_curve50"], classes),
                        f"Precision against recall at IoU 0.5 on the test scenes ({label}), per class and their "
                        f"mean (COCO's interpolated precision at 101 recall points); AP50 "
                        f"{r.get('test_map50') or 0:.3f}."))
    return figures
