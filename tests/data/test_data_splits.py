"""The validation split: stratified, seeded, deterministic, with clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from visionbench.data import Split, train_val_split
from visionbench.errors import ConfigError


def _split(n_per_class: int = 20, classes: int = 4) -> Split:
    labels = np.repeat(np.arange(classes), n_per_class).astype(np.int64)
    images = np.arange(len(labels), dtype=np.uint8).reshape(-1, 1, 1, 1) * np.ones((1, 1, 2, 2), np.uint8)
    return Split(images, labels)


def test_stratified_and_disjoint() -> None:
    s = _split()
    tr, va = train_val_split(s, 0.25, seed=0)
    assert len(tr) == 60 and len(va) == 20
    assert np.bincount(va.labels).tolist() == [5, 5, 5, 5]
    ids_tr, ids_va = set(tr.images[:, 0, 0, 0].tolist()), set(va.images[:, 0, 0, 0].tolist())
    assert not ids_tr & ids_va and len(ids_tr | ids_va) == 80


def test_deterministic_and_seeded() -> None:
    s = _split()
    a, b, c = train_val_split(s, 0.2, 1), train_val_split(s, 0.2, 1), train_val_split(s, 0.2, 2)
    np.testing.assert_array_equal(a[1].images, b[1].images)
    assert not np.array_equal(a[1].images, c[1].images)


@pytest.mark.parametrize("frac", [0.0, 1.0, -0.1, 1.5])
def test_bad_fraction(frac: float) -> None:
    with pytest.raises(ConfigError, match="outside"):
        train_val_split(_split(), frac, 0)


def test_too_few_examples() -> None:
    s = Split(np.zeros((3, 1, 2, 2), np.uint8), np.array([0, 0, 1], np.int64))
    with pytest.raises(ConfigError, match="fewer than 2"):
        train_val_split(s, 0.5, 0)
