"""Normalisation statistics, uint8 -> normalised tensors, and batch augmentation done as whole-batch tensor ops.

Augmentation runs on normalised tensors. Every pixel it invents (the border uncovered by a shift, the padding before a
crop) takes the value ``fill``; pass ``pixel_zero_fill(mean, std)`` so that it is a black pixel (value 0 before
normalisation), which is what the background of digit-like sets is and what "zero padding" means for CIFAR recipes.
``fill=0.0`` (the default) would instead paint the mean colour.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from visionbench.data._base import AUGMENT_PRESETS, AugmentPreset, Split

__all__ = [
    "AugmentPreset",
    "AUGMENT_PRESETS",
    "channel_stats",
    "to_tensor_batch",
    "pixel_zero_fill",
    "augment_batch",
    "shift_amount",
    "default_augment",
    "resize_batch",
]

_DIGIT_LIKE = ("digits", "mnist", "kmnist", "usps")
_CHUNK = 4096


def channel_stats(split: Split, max_samples: int = 50_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of the pixels scaled to [0, 1].

    Args:
        split: usually the training split (never the test split).
        max_samples: above this many images (or for a lazy on-disk store) a seeded random sample is used.
        seed: seed of that sample.

    Returns:
        (mean, std), float32 arrays of shape (C,); std is at least 1e-6 so it can divide.
    """
    images = split.images
    n = len(images)
    lazy = not isinstance(images, np.ndarray)
    if n > max_samples or lazy:
        index = np.sort(np.random.default_rng(seed).choice(n, size=min(n, max_samples), replace=False))
    else:
        index = None
    c = int(images.shape[1])
    total = np.zeros(c, np.float64)
    total_sq = np.zeros(c, np.float64)
    count = 0
    positions = np.arange(n) if index is None else index
    for start in range(0, len(positions), _CHUNK):
        sel = positions[start : start + _CHUNK]
        chunk = images[sel] if (lazy or index is not None) else images[sel[0] : sel[-1] + 1]
        x = np.asarray(chunk, np.float64) / 255.0
        total += x.sum(axis=(0, 2, 3))
        total_sq += np.square(x).sum(axis=(0, 2, 3))
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(total_sq / max(count, 1) - mean**2, 0.0))
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)


def _as_channel_tensor(v: np.ndarray | Sequence[float] | torch.Tensor | float, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(v, np.float32) if not isinstance(v, torch.Tensor) else v, dtype=torch.float32)
    return t.to(device).reshape(1, -1, 1, 1)  # (1, C, 1, 1), broadcast over the batch


def to_tensor_batch(
    images_uint8: np.ndarray,
    mean: np.ndarray | Sequence[float] | torch.Tensor,
    std: np.ndarray | Sequence[float] | torch.Tensor,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """uint8 (N, C, H, W) images -> float32 ``(x / 255 - mean) / std`` on ``device``."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    arr = np.ascontiguousarray(images_uint8)
    if not arr.flags.writeable:  # torch.from_numpy warns on read-only buffers
        arr = arr.copy()
    x = torch.from_numpy(arr).to(dev, non_blocking=True)
    x = x.float().div_(255.0)
    return x.sub_(_as_channel_tensor(mean, dev)).div_(_as_channel_tensor(std, dev))


def pixel_zero_fill(mean: np.ndarray | Sequence[float], std: np.ndarray | Sequence[float]) -> torch.Tensor:
    """The normalised value of a black pixel, per channel: ``-mean / std``, shape (C,)."""
    return torch.as_tensor(-np.asarray(mean, np.float32) / np.asarray(std, np.float32))


def shift_amount(img_size: int) -> int:
    """Maximum shift of the ``shift`` preset: about ``img_size / 14``, at least 1 (2 px for 28 px, 1 px for 8 px)."""
    return max(1, int(round(img_size / 14)))


def _pad_crop(x: torch.Tensor, pad: int, fill: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Pad every image by ``pad`` with ``fill`` and crop it back at a random offset, all images at once."""
    b, c, h, w = x.shape
    padded = fill.to(x.dtype).reshape(1, -1, 1, 1).expand(b, c, h + 2 * pad, w + 2 * pad).clone()
    padded[:, :, pad : pad + h, pad : pad + w] = x
    offs = torch.randint(0, 2 * pad + 1, (2, b), generator=generator, device=generator.device).to(x.device)
    rows = offs[0][:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = offs[1][:, None] + torch.arange(w, device=x.device)  # (B, W)
    # One gather over the flattened padded plane: 2-4x faster than advanced indexing on CPU.
    flat = (rows[:, :, None] * (w + 2 * pad) + cols[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)  # (B, C, HW)
    out = padded.reshape(b, c, -1).gather(2, flat)  # (B, C, H*W)
    return out.reshape(b, c, h, w)  # (B, C, H, W)


def augment_batch(
    x: torch.Tensor,
    preset: AugmentPreset,
    generator: torch.Generator,
    *,
    fill: float | Sequence[float] | torch.Tensor = 0.0,
    pad: int = 4,
) -> torch.Tensor:
    """Augment a whole batch with tensor ops (no loop over samples).

    Args:
        x: images (B, C, H, W), normalised or not.
        preset: ``none``; ``shift`` = random integer translation of up to :func:`shift_amount` pixels on each axis;
            ``flip`` = random horizontal flip with probability 1/2 and nothing else; ``shift-flip`` = ``shift`` then
            ``flip``; ``crop-flip`` = pad ``pad`` + random crop back to (H, W) + random horizontal flip.
        generator: the only source of randomness, so a seeded generator gives the same batch twice.
        fill: value of the invented pixels, a scalar or one per channel (see :func:`pixel_zero_fill`).
        pad: padding of ``crop-flip``.

    Returns:
        A new tensor of the same shape, dtype and device.
    """
    if preset == "none":
        return x
    if x.ndim != 4:
        raise ValueError(f"augment_batch expects (B, C, H, W), got shape {tuple(x.shape)}")
    fill_t = torch.as_tensor(fill, dtype=torch.float32).to(x.device).flatten()
    fill_t = fill_t.expand(x.shape[1]) if fill_t.numel() == 1 else fill_t
    if preset in ("shift", "shift-flip", "crop-flip"):
        amount = pad if preset == "crop-flip" else shift_amount(max(x.shape[2], x.shape[3]))
        x = _pad_crop(x, amount, fill_t, generator)
    elif preset != "flip":
        raise ValueError(f"unknown augmentation preset {preset!r}; use one of {', '.join(AUGMENT_PRESETS)}")
    if preset == "shift":
        return x
    flip = torch.rand(x.shape[0], generator=generator, device=generator.device).to(x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def default_augment(dataset_name: str, img_size: int) -> AugmentPreset:
    """The augmentation preset a dataset gets when the recipe says ``auto``.

    Digit-like sets (``digits``, ``mnist``, ``kmnist``, ``usps``) get ``shift``: a flipped digit is another symbol.
    ``fashion-mnist`` gets ``crop-flip``: every class is left-right symmetric as an object (a mirrored shirt or shoe is
    still a shirt or shoe), so flips add real variety, and padded random crops are the usual recipe for it.
    CIFAR and image folders get ``crop-flip``. Anything else at 16 px or less gets ``shift`` (pad 4 would be a
    quarter of the image).
    """
    name = dataset_name.lower()
    if name in _DIGIT_LIKE:
        return "shift"
    if name.startswith(("cifar", "imagefolder", "fashion")):
        return "crop-flip"
    return "shift" if img_size <= 16 else "crop-flip"


def resize_batch(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a (B, C, H, W) batch to ``size`` (for models that need bigger inputs)."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[-2:]) == hw:
        return x
    return F.interpolate(x, size=hw, mode="bilinear", align_corners=False)
