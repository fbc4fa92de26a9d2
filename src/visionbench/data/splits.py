"""Seeded, stratified splits: the validation split carved from train, and test splits for sets that ship none."""

from __future__ import annotations

import numpy as np

from visionbench.data._base import Split
from visionbench.errors import ConfigError

__all__ = ["stratified_indices", "train_val_split", "take"]


def stratified_indices(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split example indices into (keep, held_out), class by class.

    Each class gives ``round(n_c * fraction)`` examples to the held-out part, clipped to ``[1, n_c - 1]`` so that
    every class appears on both sides. The result depends only on ``labels``, ``fraction`` and ``seed``.

    Args:
        labels: int labels (N,).
        fraction: share of each class held out, strictly between 0 and 1.
        seed: seed of the permutation.

    Returns:
        Two sorted int64 index arrays.

    Raises:
        ConfigError: if ``fraction`` is outside (0, 1) or a class has fewer than 2 examples.
    """
    if not 0.0 < float(fraction) < 1.0:
        raise ConfigError(f"split fraction {fraction} is outside (0, 1); use a value such as 0.1")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep: list[np.ndarray] = []
    held: list[np.ndarray] = []
    classes, counts = np.unique(labels, return_counts=True)
    too_small = classes[counts < 2]
    if len(too_small):
        raise ConfigError(
            f"cannot make a stratified split: class(es) {', '.join(map(str, too_small[:5].tolist()))} have fewer "
            "than 2 examples; add examples or use a dataset where every class has at least 2"
        )
    for c in classes:
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_held = min(max(int(round(len(idx) * fraction)), 1), len(idx) - 1)
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return np.sort(np.concatenate(keep)).astype(np.int64), np.sort(np.concatenate(held)).astype(np.int64)


def take(split: Split, index: np.ndarray) -> Split:
    """The examples at ``index``; a lazy image store stays lazy (it only narrows its file list)."""
    images = split.images
    if hasattr(images, "select"):
        return Split(images.select(index), split.labels[index])
    return Split(np.ascontiguousarray(images[index]), split.labels[index])


def train_val_split(split: Split, val_fraction: float, seed: int) -> tuple[Split, Split]:
    """Carve a stratified validation split out of a training split.

    Args:
        split: the training split.
        val_fraction: share of each class that goes to validation, in (0, 1).
        seed: makes the split deterministic.

    Returns:
        (train, val), each keeping the original order of the examples.

    Raises:
        ConfigError: if ``val_fraction`` is outside (0, 1) or a class has fewer than 2 examples.
    """
    if not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(f"--val-split {val_fraction} is outside (0, 1); use a value such as 0.1")
    train_idx, val_idx = stratified_indices(split.labels, val_fraction, seed)
    return take(split, train_idx), take(split, val_idx)
