"""The dataset contract shared by every loader.

A split is an in-memory pair: images ``uint8`` of shape (N, C, H, W) and labels ``int64`` of shape (N,). For sets
larger than the memory budget (big ImageFolder trees) ``images`` may be a lazy array-like object: the pipeline only
uses ``len(images)``, ``images.shape``, ``images.dtype`` and ``images[index_array]`` (which returns a real uint8 array).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

__all__ = [
    "Split",
    "Dataset",
    "DatasetStatus",
    "AugmentPreset",
    "AUGMENT_PRESETS",
    "AugmentChoice",
    "AUGMENT_CHOICES",
]

# Here (torch-free) rather than in ``transforms`` so that the CLI can list the choices without importing torch.
AugmentPreset = Literal["none", "shift", "flip", "shift-flip", "crop-flip"]
#: Every augmentation preset, in the order the help lists them (the CLI, the config and the recipes check this).
AUGMENT_PRESETS: tuple[str, ...] = get_args(AugmentPreset)
#: What a recipe or a config may name: a preset, or ``auto`` (the dataset's default preset).
AugmentChoice = Literal["auto", AugmentPreset]
AUGMENT_CHOICES: tuple[str, ...] = get_args(AugmentChoice)


@dataclass
class Split:
    """One split of a dataset.

    Attributes:
        images: uint8 array (N, C, H, W), or a lazy array-like with the same indexing.
        labels: int64 array (N,).
    """

    images: Any
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> Split:
        """The examples at ``index`` (materialised)."""
        return Split(np.asarray(self.images[index]), self.labels[index])


@dataclass
class Dataset:
    """A dataset: a train and a test split, class names and where it was read from.

    Attributes:
        name: canonical name (``digits``, ``fashion-mnist``, ``imagefolder:/path``...).
        train: the training split (a validation split is carved from it by the pipeline).
        test: the official test split, touched only for the final evaluation.
        classes: class names, index = label.
        source: where the files were found (a path, or ``sklearn`` for the embedded digits).
        info: extra facts (split seed, original pixel range...), saved in the run's config.
    """

    name: str
    train: Split
    test: Split
    classes: list[str]
    source: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_chans(self) -> int:
        return int(self.train.images.shape[1])

    @property
    def img_size(self) -> int:
        """Side of the (square) images; for non-square images, the larger side."""
        return int(max(self.train.images.shape[2], self.train.images.shape[3]))


@dataclass
class DatasetStatus:
    """What ``visionbench datasets`` shows for one dataset (computed without loading it).

    Attributes:
        name: canonical name.
        found: whether the files were found.
        path: the folder (or archive) they were found in, ``sklearn`` for digits, else None.
        format: the layout found (``idx``, ``libsvm``, ``tar``...), or "".
        train_size: training examples when cheaply known.
        test_size: test examples when cheaply known.
        num_classes: number of classes.
        image_shape: (C, H, W).
        how_to_get: the ways to provide the files, one line.
    """

    name: str
    found: bool
    path: str | None
    format: str
    train_size: int | None
    test_size: int | None
    num_classes: int
    image_shape: tuple[int, int, int]
    how_to_get: str
