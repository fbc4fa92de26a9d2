"""Datasets as in-memory arrays, loaders for the real file formats, opt-in download with checksums."""

from visionbench.data._base import Dataset, Split

__all__ = ["Dataset", "Split"]
