"""Fixed sinusoidal positional embeddings.

``sincos_1d`` is the formula of Vaswani et al. ("Attention Is All You Need", arXiv 1706.03762, section 3.5) written
per index, as in the ViT-from-scratch tutorial the LAB 2 seed follows: for position ``i`` and feature ``j`` of ``d``,

    p[i, j] = sin(i / 10000 ** (j / d))          if j is even
    p[i, j] = cos(i / 10000 ** ((j - 1) / d))    if j is odd

Position 0 is the class token, positions 1..N the patches in row-major order. ``sincos_2d`` is the 2-D variant
(half of the features encode the row, half the column) used by later ViTs; it is offered for square grids.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["sincos_1d", "sincos_2d"]


def sincos_1d(num_positions: int, dim: int, temperature: float = 10000.0) -> Tensor:
    """Sinusoidal embeddings of positions ``0 .. num_positions - 1``.

    Args:
        num_positions: number of positions (tokens, class token included).
        dim: embedding width (any value, odd included).
        temperature: the base of the geometric progression of wavelengths.

    Returns:
        A float32 tensor (num_positions, dim).
    """
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (P, 1)
    j = torch.arange(dim, dtype=torch.float64)
    # Even features use j, odd features use j - 1, so a sin/cos pair shares one frequency.
    exponent = (j - (j % 2)) / dim
    angle = pos / temperature**exponent  # (P, D)
    out = torch.where(j % 2 == 0, torch.sin(angle), torch.cos(angle))
    return out.float()


def sincos_2d(grid_size: int, dim: int, temperature: float = 10000.0) -> Tensor:
    """2-D sinusoidal embeddings of a ``grid_size x grid_size`` patch grid, row-major.

    Args:
        grid_size: patches per side.
        dim: embedding width, a multiple of 2.
        temperature: the base of the geometric progression of wavelengths.

    Returns:
        A float32 tensor (grid_size ** 2, dim): the first half encodes the row, the second the column.
    """
    if dim % 2:
        raise ValueError(f"sincos_2d needs an even dim, got {dim}")
    rows = sincos_1d(grid_size, dim // 2, temperature)  # (G, D/2)
    cols = sincos_1d(grid_size, dim - dim // 2, temperature)  # (G, D/2)
    row_part = rows[:, None, :].expand(grid_size, grid_size, -1)  # (G, G, D/2)
    col_part = cols[None, :, :].expand(grid_size, grid_size, -1)  # (G, G, D/2)
    return torch.cat([row_part, col_part], dim=-1).reshape(grid_size * grid_size, dim)  # (G*G, D)
