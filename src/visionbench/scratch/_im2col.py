"""Strided-view helpers shared by the convolution and pooling layers (channels-last, (B, H, W, C)).

Forward passes read every kernel window through one ``as_strided`` view (no copy until the matrix product needs a
contiguous operand). Backward passes scatter per-window gradients back with a loop over the kh*kw kernel offsets
only: each iteration adds a whole (B, Ho, Wo, C) slab, so there is no Python loop over samples or pixels.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["out_size", "pad_hw", "windows", "im2col", "col2im"]


def out_size(n: int, k: int, stride: int, pad: int = 0) -> int:
    """Output length of a window of ``k`` sliding by ``stride`` over ``n + 2 * pad`` positions."""
    return (n + 2 * pad - k) // stride + 1


def pad_hw(X: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Zero-pad the H and W axes of (B, H, W, C); returns ``X`` itself when there is nothing to pad."""
    if ph == 0 and pw == 0:
        return X
    B, H, W, C = X.shape
    out = np.zeros((B, H + 2 * ph, W + 2 * pw, C), dtype=X.dtype)
    out[:, ph : ph + H, pw : pw + W] = X
    return out


def windows(X: np.ndarray, kh: int, kw: int, sh: int, sw: int) -> np.ndarray:
    """Read-only view (B, Ho, Wo, kh, kw, C) of every kernel window of (B, H, W, C)."""
    B, H, W, C = X.shape
    Ho, Wo = out_size(H, kh, sh), out_size(W, kw, sw)
    s0, s1, s2, s3 = X.strides
    return as_strided(X, (B, Ho, Wo, kh, kw, C), (s0, s1 * sh, s2 * sw, s1, s2, s3), writeable=False)


def im2col(X: np.ndarray, kh: int, kw: int, sh: int, sw: int) -> np.ndarray:
    """Windows as a matrix (B * Ho * Wo, kh * kw * C), rows in (b, i, j) order, columns in (di, dj, c) order."""
    win = windows(X, kh, kw, sh, sw)
    B, Ho, Wo = win.shape[:3]
    return np.ascontiguousarray(win).reshape(B * Ho * Wo, kh * kw * X.shape[3])  # (B*Ho*Wo, kh*kw*C)


def col2im(dwin: np.ndarray, H: int, W: int, sh: int, sw: int) -> np.ndarray:
    """Sum per-window gradients back onto the input grid.

    Args:
        dwin: (kh, kw, B, Ho, Wo, C) gradient of every window element (may be a broadcast view).
        H: height of the (padded) input.
        W: width of the (padded) input.
        sh: vertical stride.
        sw: horizontal stride.

    Returns:
        (B, H, W, C) gradient; rows/columns no window covers stay zero.
    """
    kh, kw, B, Ho, Wo, C = dwin.shape
    out = np.zeros((B, H, W, C), dtype=dwin.dtype)
    for i in range(kh):
        for j in range(kw):
            out[:, i : i + sh * (Ho - 1) + 1 : sh, j : j + sw * (Wo - 1) + 1 : sw] += dwin[i, j]
    return out
