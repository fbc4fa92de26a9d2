"""Normalisation statistics, tensor conversion and batch augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionbench.data import Split
from visionbench.data.transforms import (
    AUGMENT_PRESETS,
    augment_batch,
    channel_stats,
    default_augment,
    pixel_zero_fill,
    resize_batch,
    shift_amount,
    to_tensor_batch,
)


def test_channel_stats_and_normalisation() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 3, 4, 4), dtype=np.uint8)
    mean, std = channel_stats(Split(images, np.zeros(50, np.int64)))
    ref = images.astype(np.float64) / 255
    np.testing.assert_allclose(mean, ref.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(std, ref.std(axis=(0, 2, 3)), rtol=1e-5)
    x = to_tensor_batch(images, mean, std)
    assert x.dtype == torch.float32 and x.shape == (50, 3, 4, 4)
    np.testing.assert_allclose(x.mean(dim=(0, 2, 3)).numpy(), 0, atol=1e-5)
    sampled, _ = channel_stats(Split(images, np.zeros(50, np.int64)), max_samples=20, seed=1)
    assert sampled.shape == (3,)


def test_shift_amount() -> None:
    assert shift_amount(28) == 2 and shift_amount(8) == 1 and shift_amount(16) == 1 and shift_amount(32) == 2


@pytest.mark.parametrize("preset", AUGMENT_PRESETS)
def test_augment_shapes_and_determinism(preset: str) -> None:
    x = torch.randn(16, 3, 12, 12)
    a = augment_batch(x, preset, torch.Generator().manual_seed(3))
    b = augment_batch(x, preset, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and a.dtype == x.dtype
    torch.testing.assert_close(a, b)
    if preset == "none":
        assert torch.equal(a, x)  # nothing changed, whatever the seed
    else:
        c = augment_batch(x, preset, torch.Generator().manual_seed(4))
        assert not torch.equal(a, c)


def test_shift_is_a_translation_with_fill() -> None:
    x = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8) + 1  # no zero inside the image
    fill = -5.0
    for seed in range(10):
        y = augment_batch(x, "shift", torch.Generator().manual_seed(seed), fill=fill)
        inside = y[y != fill]
        # a shift by (dy, dx) with |d| <= 1 keeps a 7x7 block at least, in the same order
        assert inside.numel() >= 49
        assert set(inside.tolist()) <= set(x.flatten().tolist())
        assert torch.all(y.amax() <= x.amax())


def test_crop_flip_uses_per_channel_fill() -> None:
    x = torch.zeros(64, 2, 8, 8)
    fill = pixel_zero_fill(np.array([0.5, 0.25]), np.array([0.5, 0.25]))
    torch.testing.assert_close(fill, torch.tensor([-1.0, -1.0]))
    y = augment_batch(x, "crop-flip", torch.Generator().manual_seed(0), fill=torch.tensor([7.0, 9.0]))
    vals0, vals1 = set(y[:, 0].unique().tolist()), set(y[:, 1].unique().tolist())
    assert vals0 <= {0.0, 7.0} and vals1 <= {0.0, 9.0} and 7.0 in vals0


def test_flip_happens() -> None:
    x = torch.arange(8, dtype=torch.float32).reshape(1, 1, 1, 8).expand(64, 1, 1, 8).contiguous()
    y = augment_batch(x, "crop-flip", torch.Generator().manual_seed(0), pad=0)
    flipped = (y == x.flip(3)).all(dim=(1, 2, 3))
    assert 10 < int(flipped.sum()) < 54


def test_flip_preset_only_mirrors() -> None:
    x = torch.randn(64, 2, 6, 6)
    y = augment_batch(x, "flip", torch.Generator().manual_seed(0))
    same = (y == x).all(dim=(1, 2, 3))
    mirrored = (y == x.flip(3)).all(dim=(1, 2, 3))
    assert bool((same | mirrored).all()) and 10 < int(mirrored.sum()) < 54


def test_shift_flip_is_a_shift_then_a_flip() -> None:
    x = torch.randn(32, 1, 14, 14)
    gen_a, gen_b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    y = augment_batch(x, "shift-flip", gen_a, fill=-1.0)
    shifted = augment_batch(x, "shift", gen_b, fill=-1.0)
    flip = torch.rand(32, generator=gen_b) < 0.5
    torch.testing.assert_close(y, torch.where(flip[:, None, None, None], shifted.flip(3), shifted))


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ValueError, match="shift-flip"):
        augment_batch(torch.zeros(1, 1, 4, 4), "rotate", torch.Generator())  # type: ignore[arg-type]


def test_default_augment_and_resize() -> None:
    assert default_augment("mnist", 28) == "shift" and default_augment("digits", 8) == "shift"
    assert default_augment("usps", 16) == "shift" and default_augment("kmnist", 28) == "shift"
    assert default_augment("cifar10", 32) == "crop-flip" and default_augment("imagefolder:/x", 64) == "crop-flip"
    assert default_augment("fashion-mnist", 28) == "crop-flip"
    assert resize_batch(torch.zeros(2, 1, 8, 8), 32).shape == (2, 1, 32, 32)


def test_augment_uint8_before_normalising() -> None:
    x = torch.full((4, 1, 8, 8), 200, dtype=torch.uint8)
    y = augment_batch(x, "shift", torch.Generator().manual_seed(1))
    assert y.dtype == torch.uint8 and set(y.unique().tolist()) <= {0, 200}
