"""The detection dataset contract, mirroring :class:`~visionbench.data.Split` / :class:`~visionbench.data.Dataset`.

A detection split is images plus one target dict per image:

* ``images``: uint8 (N, C, H, W) when every image has the same size (always for digit scenes), else a list of uint8
  (C, H_i, W_i) arrays; ``len(images)`` and ``images[i]`` work for both.
* ``targets[i]``: ``{"boxes": float32 (k, 4), "labels": int64 (k,)}`` with boxes ``x1, y1, x2, y2`` in pixels
  (torchvision's convention; a box covering pixel columns ``a..b`` inclusive is ``x1 = a, x2 = b + 1``) and labels
  ``0..K-1`` indexing ``classes`` (the model side shifts them to ``1..K``, 0 being torchvision's background).
* ``sources[i]`` (digit scenes only, else None): int64 (k,), for each object the index of the image of the source
  split it was drawn from (the train/test leak check).

Torch-free: the training pipeline converts to tensors itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DetectionSplit", "DetectionDataset", "empty_target"]


def empty_target() -> dict[str, np.ndarray]:
    """A target with no object: boxes float32 (0, 4), labels int64 (0,)."""
    return {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros((0,), np.int64)}


@dataclass
class DetectionSplit:
    """One split of a detection dataset.

    Attributes:
        images: uint8 (N, C, H, W), or a list of uint8 (C, H_i, W_i) when sizes differ.
        targets: one ``{"boxes": float32 (k, 4) x1y1x2y2, "labels": int64 (k,)}`` per image.
        sources: per image, int64 (k,) indices of the source images the objects came from (digit scenes), or None.
    """

    images: Any
    targets: list[dict[str, np.ndarray]]
    sources: list[np.ndarray] | None = None

    def __post_init__(self) -> None:
        if len(self.images) != len(self.targets):
            raise ValueError(f"{len(self.images)} images but {len(self.targets)} targets")
        if self.sources is not None and len(self.sources) != len(self.targets):
            raise ValueError(f"{len(self.targets)} targets but {len(self.sources)} source lists")

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def num_objects(self) -> int:
        """Objects over all images."""
        return int(sum(len(t["labels"]) for t in self.targets))

    def image_size(self, i: int) -> tuple[int, int]:
        """(height, width) of image ``i``."""
        shape = self.images[i].shape
        return int(shape[-2]), int(shape[-1])

    def subset(self, index: Sequence[int] | np.ndarray) -> DetectionSplit:
        """The images at ``index`` with their targets (and sources)."""
        idx = [int(i) for i in np.asarray(index).reshape(-1)]
        if isinstance(self.images, np.ndarray):
            images: Any = self.images[np.asarray(idx, np.int64)]
        else:
            images = [self.images[i] for i in idx]
        sources = None if self.sources is None else [self.sources[i] for i in idx]
        return DetectionSplit(images, [self.targets[i] for i in idx], sources)


@dataclass
class DetectionDataset:
    """A detection dataset: train and test splits, class names, where it came from and how it was made.

    Attributes:
        name: canonical name (``scenes:fashion-mnist``, ``coco:/path``).
        train: the training split (the pipeline carves its validation images from it).
        test: the test split, touched only for the final evaluation.
        classes: class names, index = label (the background is not a class here).
        source: where it came from (the source dataset's files, or the COCO folder).
        info: facts saved in the run's config (for scenes: the SceneConfig as a dict and the source dataset).
        task: always ``"detection"`` (lets the pipeline tell it from a classification :class:`Dataset`).
        base_test: for scenes, the source dataset's test split (classification through detection scores on it),
            kept from when the scenes were made so it is not loaded again; None otherwise.
    """

    name: str
    train: DetectionSplit
    test: DetectionSplit
    classes: list[str]
    source: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    task: str = "detection"
    base_test: Any = field(default=None, repr=False, compare=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_chans(self) -> int:
        return int(self.train.images[0].shape[0]) if len(self.train) else int(self.test.images[0].shape[0])

    @property
    def img_size(self) -> int:
        """The larger side of the largest training image (the canvas, for digit scenes)."""
        split = self.train if len(self.train) else self.test
        if isinstance(split.images, np.ndarray):
            return int(max(split.images.shape[2], split.images.shape[3]))
        return max((max(img.shape[1], img.shape[2]) for img in split.images), default=0)
