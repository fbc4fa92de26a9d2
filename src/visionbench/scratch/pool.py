"""Channels-last max and average pooling (1-D on (B, L, C), 2-D on (B, H, W, C)); channels are kept.

Max pooling sends the delta to the arg-max of each window only (the first one on ties, like PyTorch). Both kinds
loop over the kh*kw kernel offsets only, each step a whole strided (B, Ho, Wo, C) slab.
"""

from __future__ import annotations

import numpy as np

from visionbench.scratch._im2col import out_size
from visionbench.scratch.module import Module

__all__ = ["MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D"]


class _Pool2d(Module):
    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int]) -> None:
        super().__init__()
        if min(*kernel, *stride) < 1:
            raise ValueError(f"pooling kernel and stride must be >= 1, got {kernel} and {stride}")
        self.kernel, self.stride_hw = kernel, stride
        self._out: np.ndarray | None = None

    def _as4d(self, X: np.ndarray) -> np.ndarray:
        return X

    def _from4d(self, Y: np.ndarray) -> np.ndarray:
        return Y

    def _offsets(self, X4: np.ndarray) -> list[tuple[slice, slice]]:
        """Index of the (B, Ho, Wo, C) strided slab read by each kernel offset, in row-major offset order."""
        (kh, kw), (sh, sw) = self.kernel, self.stride_hw
        H, W = X4.shape[1:3]
        if H < kh or W < kw:
            raise ValueError(f"{type(self).__name__}: input {(H, W)} is smaller than the window {(kh, kw)}")
        Ho, Wo = out_size(H, kh, sh), out_size(W, kw, sw)
        return [
            (slice(i, i + sh * (Ho - 1) + 1, sh), slice(j, j + sw * (Wo - 1) + 1, sw))
            for i in range(kh)
            for j in range(kw)
        ]

    def backward(self, delta: np.ndarray) -> np.ndarray:
        return self.backward_delta(self._input, delta)


class _MaxPool(_Pool2d):
    # A running maximum over the kh*kw strided slabs is far cheaper than materialising every window.
    def _max(self, X4: np.ndarray) -> np.ndarray:
        offs = self._offsets(X4)
        out = X4[:, offs[0][0], offs[0][1]].copy()
        for si, sj in offs[1:]:
            np.maximum(out, X4[:, si, sj], out=out)
        return out

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        self._out = self._max(self._as4d(X))
        return self._from4d(self._out)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        X4 = self._as4d(input)
        out = self._out if (input is self._input and self._out is not None) else self._max(X4)
        d4 = self._as4d(delta)
        dX = np.zeros_like(X4, dtype=delta.dtype)
        (kh, kw), (sh, sw) = self.kernel, self.stride_hw
        disjoint = sh >= kh and sw >= kw  # each input cell is in one window at most: write instead of add
        free = np.ones(out.shape, dtype=bool)  # windows whose arg-max is not found yet: the first max wins ties
        hit = np.empty(out.shape, dtype=bool)
        for si, sj in self._offsets(X4):
            np.equal(X4[:, si, sj], out, out=hit)
            hit &= free
            np.greater(free, hit, out=free)  # free and not hit
            if disjoint:
                np.multiply(d4, hit, out=dX[:, si, sj])
            else:
                dX[:, si, sj] += d4 * hit
        return self._from4d(dX)


class _AvgPool(_Pool2d):
    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        X4 = self._as4d(X)
        offs = self._offsets(X4)
        out = X4[:, offs[0][0], offs[0][1]].copy()
        for si, sj in offs[1:]:
            out += X4[:, si, sj]
        out *= out.dtype.type(1.0 / len(offs))
        return self._from4d(out)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        X4 = self._as4d(input)
        offs = self._offsets(X4)
        d4 = self._as4d(delta) * delta.dtype.type(1.0 / len(offs))
        dX = np.zeros_like(X4, dtype=delta.dtype)
        for si, sj in offs:
            dX[:, si, sj] += d4
        return self._from4d(dX)


class _As1d:
    """Mixin: a (B, L, C) signal is a (B, 1, L, C) image, pooled by 1 x ``k_size`` windows."""

    def __init__(self, k_size: int, stride: int | None = None) -> None:
        super().__init__((1, k_size), (1, k_size if stride is None else stride))  # type: ignore[call-arg]

    def extra_repr(self) -> str:
        return f"{self.kernel[1]}, stride={self.stride_hw[1]}"  # type: ignore[attr-defined]

    def _as4d(self, X: np.ndarray) -> np.ndarray:
        return X[:, None]  # (B, 1, L, C)

    def _from4d(self, Y: np.ndarray) -> np.ndarray:
        return Y[:, 0]  # (B, L, C)


class _Square:
    """Mixin: 2-D pooling by ``k_size`` x ``k_size`` windows moved by ``stride`` on both axes."""

    def __init__(self, k_size: int, stride: int | None = None) -> None:
        s = k_size if stride is None else stride
        super().__init__((k_size, k_size), (s, s))  # type: ignore[call-arg]

    def extra_repr(self) -> str:
        return f"{self.kernel[0]}, stride={self.stride_hw[0]}"  # type: ignore[attr-defined]


class MaxPool2D(_Square, _MaxPool):
    """Max over k x k windows of (B, H, W, C).

    Args:
        k_size: window side.
        stride: step between windows (``k_size`` when omitted).
    """


class AvgPool2D(_Square, _AvgPool):
    """Mean over k x k windows of (B, H, W, C).

    Args:
        k_size: window side.
        stride: step between windows (``k_size`` when omitted).
    """


class MaxPool1D(_As1d, _MaxPool):
    """Max over windows of ``k_size`` of (B, L, C) -> (B, (L - k_size) // stride + 1, C).

    Args:
        k_size: window length.
        stride: step between windows (``k_size`` when omitted).
    """


class AvgPool1D(_As1d, _AvgPool):
    """Mean over windows of ``k_size`` of (B, L, C).

    Args:
        k_size: window length.
        stride: step between windows (``k_size`` when omitted).
    """
