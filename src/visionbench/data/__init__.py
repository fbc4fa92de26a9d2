"""Datasets as in-memory arrays, loaders for the real file formats, opt-in download with checksums.

``transforms`` (torch) is imported lazily so that ``visionbench.data`` stays usable by the NumPy engine alone.
"""

from __future__ import annotations

from typing import Any

from visionbench.data._base import Dataset, DatasetStatus, Split
from visionbench.data._catalog import canonical_name, dataset_status, download_dataset, list_datasets, load_dataset
from visionbench.data._detection import DetectionDataset, DetectionSplit
from visionbench.data.scenes import SceneConfig
from visionbench.data.splits import stratified_indices, train_val_split

__all__ = [
    "Dataset",
    "Split",
    "DatasetStatus",
    "DetectionDataset",
    "DetectionSplit",
    "SceneConfig",
    "canonical_name",
    "load_dataset",
    "list_datasets",
    "dataset_status",
    "download_dataset",
    "train_val_split",
    "stratified_indices",
    "channel_stats",
    "to_tensor_batch",
    "augment_batch",
    "default_augment",
    "pixel_zero_fill",
    "resize_batch",
    "shift_amount",
]

_TRANSFORMS = {
    "channel_stats",
    "to_tensor_batch",
    "augment_batch",
    "default_augment",
    "pixel_zero_fill",
    "resize_batch",
    "shift_amount",
}


def __getattr__(name: str) -> Any:
    if name in _TRANSFORMS:
        from visionbench.data import transforms

        return getattr(transforms, name)
    raise AttributeError(f"module 'visionbench.data' has no attribute {name!r}")
