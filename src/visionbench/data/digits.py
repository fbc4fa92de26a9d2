"""scikit-learn's bundled 8x8 handwritten digits: no file, no network.

1797 grey images, pixels 0..16 rescaled to 0..255 (``round(v * 255 / 16)``). The set has no official test split, so
a fixed stratified one is used: a quarter of each class (``round(n_c / 4)``, half to even), permutation seed 0,
giving 1347 train and 450 test images (44 to 46 per class). The split never changes between versions of visionbench.
"""

from __future__ import annotations

import numpy as np

from visionbench.data._base import Dataset, Split
from visionbench.data.splits import stratified_indices

__all__ = ["load_digits", "DIGITS_TEST_FRACTION", "DIGITS_SPLIT_SEED"]

DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0


def load_digits() -> Dataset:
    """The ``digits`` dataset with its fixed stratified train/test split."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[:, None]  # (N, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    train_idx, test_idx = stratified_indices(labels, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED)
    return Dataset(
        "digits",
        Split(images[train_idx], labels[train_idx]),
        Split(images[test_idx], labels[test_idx]),
        [str(i) for i in range(10)],
        source="sklearn",
        info={
            "format": "sklearn",
            "test_fraction": DIGITS_TEST_FRACTION,
            "split_seed": DIGITS_SPLIT_SEED,
            "pixel_range": "0..16 rescaled to 0..255",
        },
    )
