"""Patch embedding: cut the image into non-overlapping ``p x p`` patches and project each one linearly.

A convolution with kernel = stride = patch size is exactly a linear map applied to every flattened patch (the
tutorial's ``nn.Linear`` on unfolded patches), computed without materialising the patches.

Inputs whose side is not a multiple of the patch size are zero-padded on the right and bottom to the next multiple
(``padding="pad"``, the default), or rejected (``padding="strict"``); the pipeline can also resize the images first.

``stem="conv"`` replaces the single patchify projection by the convolutional stem of Xiao et al. 2021 ("Early
convolutions help transformers see better", arXiv 2106.14881): log2(p) 3x3 convolutions of stride 2, each followed
by BatchNorm and ReLU, widths doubling up to ``embed_dim``, then a 1x1 convolution to ``embed_dim``. It gives the
same token grid for a fraction of the transformer's FLOPs and trains faster and more stably on small data; the
result is a hybrid (no longer a pure ViT), so it is an option, off by default.
"""

from __future__ import annotations

import math
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PatchEmbed"]


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class PatchEmbed(nn.Module):
    """Image (B, C, H, W) -> patch tokens (B, N, D) with N = ceil(H / p) * ceil(W / p).

    Args:
        img_size: expected input side (int) or (H, W).
        patch_size: patch side in pixels.
        in_chans: input channels.
        embed_dim: token width D.
        padding: ``"pad"`` zero-pads the right/bottom border up to a multiple of the patch; ``"strict"`` raises
            ``ValueError`` at construction when the size is not a multiple.
        bias: whether the projection has a bias.
        stem: ``"patch"`` (one linear projection per patch) or ``"conv"`` (the convolutional stem above; the patch
            size must then be a power of two).
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 28,
        patch_size: int = 4,
        in_chans: int = 1,
        embed_dim: int = 192,
        padding: Literal["pad", "strict"] = "pad",
        bias: bool = True,
        stem: Literal["patch", "conv"] = "patch",
    ) -> None:
        super().__init__()
        self.img_size = _pair(img_size)
        self.patch_size = patch_size
        h, w = self.img_size
        if padding == "strict" and (h % patch_size or w % patch_size):
            raise ValueError(f"image size {h}x{w} is not a multiple of the patch size {patch_size}")
        self.grid_size = (math.ceil(h / patch_size), math.ceil(w / patch_size))
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.pad_hw = (self.grid_size[0] * patch_size - h, self.grid_size[1] * patch_size - w)
        if stem == "patch":
            self.proj: nn.Module = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size, bias=bias)
        elif stem == "conv":
            self.proj = _conv_stem(in_chans, embed_dim, patch_size, bias)
        else:
            raise ValueError(f"stem must be 'patch' or 'conv', got {stem!r}")

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(
                f"input is {x.shape[-2]}x{x.shape[-1]} but the model was built for {self.img_size[0]}x"
                f"{self.img_size[1]}; build it with img_size={x.shape[-1]} or resize the images"
            )
        if any(self.pad_hw):
            x = F.pad(x, (0, self.pad_hw[1], 0, self.pad_hw[0]))
        x = self.proj(x)  # (B, D, Gh, Gw)
        return x.flatten(2).transpose(1, 2)  # (B, Gh*Gw, D)


def _conv_stem(in_chans: int, embed_dim: int, patch_size: int, bias: bool) -> nn.Sequential:
    """log2(p) x [3x3 conv stride 2, BN, ReLU] with widths embed_dim / 2^(k-1), ..., embed_dim, then a 1x1 conv."""
    n = patch_size.bit_length() - 1
    if patch_size < 2 or 1 << n != patch_size:
        raise ValueError(f"stem='conv' needs a patch size that is a power of two >= 2, got {patch_size}")
    layers: list[nn.Module] = []
    c_in = in_chans
    for k in range(n):
        c_out = max(embed_dim >> (n - 1 - k), 8)
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        c_in = c_out
    layers.append(nn.Conv2d(c_in, embed_dim, 1, bias=bias))
    return nn.Sequential(*layers)
