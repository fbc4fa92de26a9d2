"""The bundled digits: uint8 rescaling and the fixed stratified split."""

from __future__ import annotations

import numpy as np

from visionbench.data import dataset_status, load_dataset


def test_digits_split_is_fixed_and_stratified() -> None:
    a, b = load_dataset("digits"), load_dataset("digits")
    assert a.train.images.shape == (1347, 1, 8, 8) and a.test.images.shape == (450, 1, 8, 8)
    assert a.train.images.dtype == np.uint8 and a.train.images.max() == 255
    np.testing.assert_array_equal(a.test.labels, b.test.labels)
    np.testing.assert_array_equal(a.train.images, b.train.images)
    counts = np.bincount(a.test.labels, minlength=10)
    assert counts.min() >= 44 and counts.max() <= 46
    st = dataset_status("digits")
    assert st.found and (st.train_size, st.test_size) == (1347, 450)
