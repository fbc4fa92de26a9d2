"""The task seam of the training loop: what a batch is, what a step reports, how a split is scored.

The loop (``train/loop.py``) is the same for every task: it plans the steps, sets the learning rate, draws the
epoch's order, sums the step losses, validates after each epoch, keeps the best epoch by the task's ``monitor``
column (higher is better), checkpoints and resumes. A :class:`Task` supplies the rest, in the manner of
torchvision's detection references and detectron2's evaluators:

- :class:`ClassificationTask`: images and integer labels; a step reports the number of correct predictions;
  validation and test give accuracy, macro-F1, cross-entropy, top-5 (``visionbench.metrics``); best by ``val_acc``.
- :class:`DetectionTask`: images and one box/label target per image (labels 0..K-1 in the data, shifted to 1..K for
  torchvision, whose 0 is the background); a step reports the detector's loss terms (their sum is the loss);
  validation and test give COCO's mAP, AP50, AP75, AR and per-class AP (``detection.metrics``); best by ``val_map``.
"""

from __future__ import annotations

import io
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from visionbench.data.splits import train_val_split
from visionbench.runs import HISTORY_FIELDS

if TYPE_CHECKING:
    from visionbench.train.config import TrainConfig
    from visionbench.train.session import Session

__all__ = ["Task", "ClassificationTask", "DetectionTask", "task_for", "DETECTION_LOSSES"]

#: Test scenes saved with their predictions in a detection run's ``test_examples.npz``.
EXAMPLES = 16
#: The loss terms of torchvision's Faster R-CNN, summed into the training loss.
DETECTION_LOSSES = ("loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg")


class Task:
    """What the training loop asks of a task (see the module docstring)."""

    name = ""
    #: The history column that picks the best epoch (higher is better) and the results key it becomes.
    monitor = ""
    best_key = ""
    #: history.csv's columns, in order.
    history_fields: tuple[str, ...] = ()

    def split(self, full: Any, val_fraction: float, seed: int) -> tuple[Any, Any]:
        """(train, val) carved from the training split, deterministic for ``seed``."""
        raise NotImplementedError

    def cap(self, split: Any, n: int, seed: int) -> Any:
        """At most ``n`` examples of ``split`` (``--max-train-samples``), deterministic for ``seed``."""
        raise NotImplementedError

    def preprocessing(self, cfg: TrainConfig, dataset: Any, train: Any) -> tuple[np.ndarray, np.ndarray, str]:
        """The per-channel normalisation (mean, std) and the augmentation the run's inputs get."""
        raise NotImplementedError

    def batch(self, session: Session, split: Any, idx: np.ndarray,
              generator: torch.Generator | None = None) -> tuple[Any, Any]:
        """The model's inputs and targets for examples ``idx`` of ``split``, on the session's device."""
        raise NotImplementedError

    def train_row(self, loss_sum: float, stats: dict[str, float], seen: int) -> dict[str, Any]:
        """The epoch's training columns from the summed step losses and stats over ``seen`` examples."""
        raise NotImplementedError

    def evaluate(self, session: Session, split: Any) -> tuple[dict[str, Any], float]:
        """Metrics of the current weights on ``split``, and the seconds the forward passes took."""
        raise NotImplementedError

    def val_row(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The epoch's validation columns (``monitor`` among them, never None: a missing score is -1)."""
        raise NotImplementedError

    def test_results(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """The results.json entries of a test evaluation."""
        raise NotImplementedError

    def extra_results(self, session: Session) -> dict[str, Any]:
        """Further results.json entries of the final evaluation, beyond the test split's metrics."""
        return {}

    def save_examples(self, run_dir: Path, split: Any, metrics: dict[str, Any]) -> None:
        """Write a few test examples with their predictions into the run directory (for the reports' figures)."""

    def progress(self, loss: float, stats: dict[str, float], seen: int) -> str:
        """The progress bar's text during an epoch."""
        return f"loss {loss:.4f}"

    def summary(self, row: dict[str, Any]) -> str:
        """One epoch's numbers in one line, for the log."""
        raise NotImplementedError

    def short(self, row: dict[str, Any]) -> str:
        """One epoch's numbers in a few words, for the progress bar (it must fit an 80-column terminal)."""
        raise NotImplementedError


def _fmt(value: Any, pattern: str = "{:.4f}") -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else pattern.format(value)


class ClassificationTask(Task):
    """Images with one integer label each."""

    name = "classification"
    monitor = "val_acc"
    best_key = "best_val_accuracy"
    history_fields = tuple(HISTORY_FIELDS)

    def split(self, full: Any, val_fraction: float, seed: int) -> tuple[Any, Any]:
        return train_val_split(full, val_fraction, seed)  # stratified

    def cap(self, split: Any, n: int, seed: int) -> Any:
        from visionbench.train.session import stratified_cap

        return stratified_cap(split, n, seed)

    def preprocessing(self, cfg: TrainConfig, dataset: Any, train: Any) -> tuple[np.ndarray, np.ndarray, str]:
        from visionbench.data.transforms import channel_stats, default_augment

        mean, std = channel_stats(train)  # of the training split only
        augment = default_augment(dataset.name, dataset.img_size) if cfg.augment == "auto" else str(cfg.augment)
        return mean, std, augment

    def batch(self, session: Session, split: Any, idx: np.ndarray,
              generator: torch.Generator | None = None) -> tuple[Any, Any]:
        return session.batch(split.images[idx], split.labels[idx], generator)

    def train_row(self, loss_sum: float, stats: dict[str, float], seen: int) -> dict[str, Any]:
        return {"train_loss": loss_sum / seen, "train_acc": stats.get("correct", 0.0) / seen}

    def evaluate(self, session: Session, split: Any) -> tuple[dict[str, Any], float]:
        from visionbench.metrics import classification_metrics

        backend = session.backend
        backend.eval_mode()
        bs = session.cfg.eval_batch_size
        chunks = []
        start = time.perf_counter()
        first, stop = session.dist.span(len(split))  # under torchrun: this rank's share, then everyone's
        for i in range(first, stop, bs):
            x, _ = self.batch(session, split, np.arange(i, min(i + bs, stop)))
            chunks.append(backend.predict(x))
        chunks = session.dist.gather(chunks)
        seconds = time.perf_counter() - start
        logits = np.concatenate(chunks) if chunks else np.zeros((0, session.dataset.num_classes), np.float32)
        return classification_metrics(logits, np.asarray(split.labels), session.dataset.num_classes), seconds

    def val_row(self, metrics: dict[str, Any]) -> dict[str, Any]:
        return {"val_loss": metrics["loss"], "val_acc": metrics["accuracy"]}

    def test_results(self, metrics: dict[str, Any]) -> dict[str, Any]:
        out = {f"test_{k}": metrics[k] for k in ("accuracy", "macro_f1", "loss", "top5_accuracy")}
        out.update(per_class=metrics["per_class"], confusion_matrix=metrics["confusion_matrix"])
        return out

    def progress(self, loss: float, stats: dict[str, float], seen: int) -> str:
        return f"loss {loss:.4f} acc {stats.get('correct', 0.0) / seen:.2%}"

    def summary(self, row: dict[str, Any]) -> str:
        return (f"train_loss {_fmt(row['train_loss'])} train_acc {_fmt(row['train_acc'])} val_loss "
                f"{_fmt(row['val_loss'])} val_acc {_fmt(row['val_acc'])}")

    def short(self, row: dict[str, Any]) -> str:
        return f"loss {row['train_loss']:.4f} acc {row['train_acc']:.2%} | val {row['val_acc']:.2%}"


class DetectionTask(Task):
    """Images with boxes and labels (a :class:`~visionbench.data.DetectionDataset`)."""

    name = "detection"
    monitor = "val_map"
    best_key = "best_val_map"
    history_fields = ("epoch", "train_loss", *(f"train_{k}" for k in DETECTION_LOSSES), "val_map", "val_map50",
                      "lr", "seconds", "steps")
    #: The metrics of a test evaluation copied into results.json as ``test_<key>``.
    TEST_KEYS = ("map", "map50", "map75", "map_small", "map_medium", "map_large", "mar_1", "mar_10", "mar_100",
                 "per_class_ap", "per_class_ap50", "per_class_ar100", "num_images", "num_gt", "num_predictions",
                 "pr_curve50")

    def split(self, full: Any, val_fraction: float, seed: int) -> tuple[Any, Any]:
        from visionbench.errors import ConfigError

        n = len(full)  # val_fraction is in (0, 1): TrainConfig.validate checked it
        n_val = math.ceil(n * val_fraction)
        if n - n_val < 1 or n_val < 1:
            raise ConfigError(f"--val-split {val_fraction}: {n} training images cannot give both a training and a "
                              f"validation image; use more scenes (--dataset-option train_scenes=N)")
        order = np.random.default_rng(seed).permutation(n)  # scenes have no single label to stratify on
        return full.subset(np.sort(order[n_val:])), full.subset(np.sort(order[:n_val]))

    def preprocessing(self, cfg: TrainConfig, dataset: Any, train: Any) -> tuple[np.ndarray, np.ndarray, str]:
        """None: a detector normalises its [0, 1] inputs itself, and flips or crops would need the boxes moved."""
        from visionbench.errors import ConfigError

        if cfg.augment not in ("auto", "none"):
            raise ConfigError(f"--augment {cfg.augment}: detection runs take no augmentation (flips and crops would "
                              f"need the boxes moved too); use --augment none")
        return np.zeros(dataset.in_chans), np.ones(dataset.in_chans), "none"

    def cap(self, split: Any, n: int, seed: int) -> Any:
        if n >= len(split):
            return split
        return split.subset(np.sort(np.random.default_rng(seed).permutation(len(split))[:n]))

    def batch(self, session: Session, split: Any, idx: np.ndarray,
              generator: torch.Generator | None = None) -> tuple[Any, Any]:
        device = session.device
        images = [torch.from_numpy(np.asarray(split.images[int(i)])).to(device).float().div_(255.0) for i in idx]
        targets = []
        for i in idx:
            t = split.targets[int(i)]
            targets.append({"boxes": torch.as_tensor(t["boxes"], dtype=torch.float32, device=device).reshape(-1, 4),
                            "labels": torch.as_tensor(t["labels"], dtype=torch.int64, device=device) + 1})
        return images, targets

    def train_row(self, loss_sum: float, stats: dict[str, float], seen: int) -> dict[str, Any]:
        row: dict[str, Any] = {"train_loss": loss_sum / seen}
        row.update({f"train_{k}": stats.get(k, 0.0) / seen for k in DETECTION_LOSSES})
        return row

    def predict(self, session: Session, split: Any) -> tuple[list[dict[str, np.ndarray]], float]:
        """The detector's boxes, labels (0..K-1) and scores on every image of ``split``, and the seconds taken."""
        backend = session.backend
        backend.eval_mode()
        bs = session.cfg.eval_batch_size
        out: list[dict[str, np.ndarray]] = []
        start = time.perf_counter()
        first, stop = session.dist.span(len(split))  # under torchrun: this rank's share, then everyone's
        for i in range(first, stop, bs):
            x, _ = self.batch(session, split, np.arange(i, min(i + bs, stop)))
            out.extend(backend.predict(x))
        return session.dist.gather(out), time.perf_counter() - start

    def evaluate(self, session: Session, split: Any) -> tuple[dict[str, Any], float]:
        """COCO's metrics, plus ``pr_curve50`` (the precision-recall curve at IoU 0.5, as a dict) and
        ``predictions`` (per image, for :meth:`save_examples`; not copied into results.json)."""
        from visionbench.detection.metrics import evaluate_detections

        predictions, seconds = self.predict(session, split)
        sizes = [split.image_size(i) for i in range(len(split))]
        evaluation = evaluate_detections(split.targets, predictions, session.dataset.classes, image_sizes=sizes)
        metrics = evaluation.metrics()
        metrics.update(pr_curve50=evaluation.pr_curve(0.5).to_dict(), predictions=predictions)
        return metrics, seconds

    def save_examples(self, run_dir: Path, split: Any, metrics: dict[str, Any]) -> None:
        """``test_examples.npz``: the first :data:`EXAMPLES` test images (zero-padded to the largest, with each
        one's height and width in ``sizes``: a COCO folder mixes sizes), their ground truth and the detector's
        boxes (rows of image index, x1, y1, x2, y2, label, score; labels 0..K-1)."""
        from visionbench.runs import atomic_write_bytes

        n = min(EXAMPLES, len(split))
        gt = [np.c_[np.full(len(t["labels"]), i), t["boxes"], t["labels"]] for i, t in enumerate(split.targets[:n])]
        pred = [np.c_[np.full(len(p["labels"]), i), p["boxes"], p["labels"], p["scores"]]
                for i, p in enumerate(metrics["predictions"][:n])]
        shown = [np.asarray(split.images[i]) for i in range(n)]
        sizes = np.array([im.shape[1:] for im in shown], dtype=np.int64).reshape(n, 2)
        images = np.zeros((n, shown[0].shape[0] if n else 1, *sizes.max(axis=0, initial=1)), np.uint8)
        for i, im in enumerate(shown):
            images[i, :, : im.shape[1], : im.shape[2]] = im
        buf = io.BytesIO()
        np.savez_compressed(buf, images=images, sizes=sizes,
                            ground_truth=np.concatenate(gt or [np.zeros((0, 6))]).astype(np.float32),
                            predictions=np.concatenate(pred or [np.zeros((0, 7))]).astype(np.float32))
        atomic_write_bytes(run_dir / "test_examples.npz", buf.getvalue())

    def val_row(self, metrics: dict[str, Any]) -> dict[str, Any]:
        m, m50 = metrics.get("map"), metrics.get("map50")
        return {"val_map": -1.0 if m is None else m, "val_map50": -1.0 if m50 is None else m50}

    def test_results(self, metrics: dict[str, Any]) -> dict[str, Any]:
        return {f"test_{k}": metrics.get(k) for k in self.TEST_KEYS}

    def extra_results(self, session: Session) -> dict[str, Any]:
        """Classification through detection on the source dataset's test set, for digit scenes (the protocol is in
        :mod:`visionbench.detection.classify`): ``test_accuracy``, ``test_macro_f1``, ``per_class``,
        ``test_no_box`` and the details under ``through_detection``. A COCO folder has no such test set: {}."""
        info = session.dataset.info
        if info.get("format") != "scenes":
            return {}
        from visionbench.data import DetectionSplit, load_dataset
        from visionbench.data.scenes import SceneConfig
        from visionbench.detection.classify import (
            classification_through_detection,
            labels_from_detections,
            place_on_canvas,
            training_scale,
        )

        scenes = SceneConfig.from_dict(info["scenes"])
        base_test = session.dataset.base_test  # kept when the scenes were made; loaded again only if not
        if base_test is None:
            base_test = load_dataset(info["base_dataset"], data_dir=session.cfg.data_dir,
                                     download=session.cfg.download).test
        labels = np.asarray(base_test.labels)
        scale = training_scale(scenes)
        placed = place_on_canvas(np.asarray(base_test.images), scenes.canvas, scale, scenes.threshold)
        predictions, seconds = self.predict(session, DetectionSplit(placed.images, placed.targets(labels)))
        m = classification_through_detection(labels_from_detections(predictions), labels, session.dataset.num_classes)
        return {
            "test_accuracy": m["accuracy"], "test_macro_f1": m["macro_f1"], "test_loss": None,
            "test_no_box": m["no_box"], "per_class": m["per_class"],
            "through_detection": {"dataset": info["base_dataset"], "num_images": m["num_images"], "scale": scale,
                                  "canvas": scenes.canvas, "blank_images": int(placed.blank.sum()),
                                  "no_box_fraction": m["no_box_fraction"], "protocol": m["protocol"],
                                  "confusion_matrix": m["confusion_matrix"], "seconds": round(seconds, 3)},
        }

    def summary(self, row: dict[str, Any]) -> str:
        return (f"train_loss {_fmt(row['train_loss'])} val_map {_fmt(row['val_map'])} "
                f"val_map50 {_fmt(row['val_map50'])}")

    def short(self, row: dict[str, Any]) -> str:
        return f"loss {row['train_loss']:.4f} | val mAP {_fmt(row['val_map'], '{:.3f}')}"


_TASKS = {"classification": ClassificationTask(), "detection": DetectionTask()}


def task_for(name: str) -> Task:
    """The task object for a registry ``task`` name."""
    return _TASKS[name]
