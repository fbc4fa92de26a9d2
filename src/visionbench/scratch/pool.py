"""Channels-last max and average pooling (1-D on (B, L, C), 2-D on (B, H, W, C)); channels are kept.

Max pooling sends the delta to the arg-max of each window only (the first one on ties, like PyTorch).
"""

from __future__ import annotations

import numpy as np

from visionbench.scratch._im2col import col2im, windows
from visionbench.scratch.module import Module

__all__ = ["MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D"]


class _Pool2d(Module):
    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int]) -> None:
        super().__init__()
        if min(*kernel, *stride) < 1:
            raise ValueError(f"pooling kernel and stride must be >= 1, got {kernel} and {stride}")
        self.kernel, self.stride_hw = kernel, stride
        self._idx: np.ndarray | None = None

    def _as4d(self, X: np.ndarray) -> np.ndarray:
        return X

    def _from4d(self, Y: np.ndarray) -> np.ndarray:
        return Y

    def _win(self, X4: np.ndarray) -> np.ndarray:
        (kh, kw), (sh, sw) = self.kernel, self.stride_hw
        if X4.shape[1] < kh or X4.shape[2] < kw:
            raise ValueError(f"{type(self).__name__}: input {X4.shape[1:3]} is smaller than the window {(kh, kw)}")
        win = windows(X4, kh, kw, sh, sw)  # (B, Ho, Wo, kh, kw, C)
        B, Ho, Wo = win.shape[:3]
        return np.ascontiguousarray(win).reshape(B, Ho, Wo, kh * kw, X4.shape[3])  # (B, Ho, Wo, kh*kw, C)

    def backward(self, delta: np.ndarray) -> np.ndarray:
        return self.backward_delta(self._input, delta)

    def _scatter(self, dwin: np.ndarray, X4: np.ndarray) -> np.ndarray:
        (kh, kw), (sh, sw) = self.kernel, self.stride_hw
        _, B, Ho, Wo, C = dwin.shape
        dX = col2im(dwin.reshape(kh, kw, B, Ho, Wo, C), X4.shape[1], X4.shape[2], sh, sw)
        return self._from4d(dX)


class _MaxPool(_Pool2d):
    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        win = self._win(self._as4d(X))
        idx = win.argmax(axis=3)  # (B, Ho, Wo, C)
        self._idx = idx
        return self._from4d(np.take_along_axis(win, idx[:, :, :, None], axis=3)[:, :, :, 0])

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        X4 = self._as4d(input)
        idx = self._idx if (input is self._input and self._idx is not None) else self._win(X4).argmax(axis=3)
        kk = self.kernel[0] * self.kernel[1]
        d4 = self._as4d(delta)
        offsets = np.arange(kk).reshape(kk, 1, 1, 1, 1)
        dwin = (offsets == idx[None]) * d4[None]  # (kh*kw, B, Ho, Wo, C), non-zero at the arg-max only
        return self._scatter(dwin.astype(delta.dtype, copy=False), X4)


class _AvgPool(_Pool2d):
    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        return self._from4d(self._win(self._as4d(X)).mean(axis=3))

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        X4 = self._as4d(input)
        kk = self.kernel[0] * self.kernel[1]
        d4 = self._as4d(delta) / delta.dtype.type(kk)
        return self._scatter(np.broadcast_to(d4[None], (kk, *d4.shape)), X4)


class _As1d:
    """Mixin: a (B, L, C) signal is a (B, 1, L, C) image."""

    def _as4d(self, X: np.ndarray) -> np.ndarray:
        return X[:, None]  # (B, 1, L, C)

    def _from4d(self, Y: np.ndarray) -> np.ndarray:
        return Y[:, 0]  # (B, L, C)


class MaxPool2D(_MaxPool):
    """Max over k x k windows of (B, H, W, C).

    Args:
        k_size: window side.
        stride: step between windows (``k_size`` when omitted).
    """

    def __init__(self, k_size: int, stride: int | None = None) -> None:
        s = k_size if stride is None else stride
        super().__init__((k_size, k_size), (s, s))

    def extra_repr(self) -> str:
        return f"{self.kernel[0]}, stride={self.stride_hw[0]}"


class AvgPool2D(_AvgPool):
    """Mean over k x k windows of (B, H, W, C).

    Args:
        k_size: window side.
        stride: step between windows (``k_size`` when omitted).
    """

    def __init__(self, k_size: int, stride: int | None = None) -> None:
        s = k_size if stride is None else stride
        super().__init__((k_size, k_size), (s, s))

    def extra_repr(self) -> str:
        return f"{self.kernel[0]}, stride={self.stride_hw[0]}"


class MaxPool1D(_As1d, _MaxPool):
    """Max over windows of ``k_size`` of (B, L, C) -> (B, (L - k_size) // stride + 1, C).

    Args:
        k_size: window length.
        stride: step between windows (``k_size`` when omitted).
    """

    def __init__(self, k_size: int, stride: int | None = None) -> None:
        super().__init__((1, k_size), (1, k_size if stride is None else stride))

    def extra_repr(self) -> str:
        return f"{self.kernel[1]}, stride={self.stride_hw[1]}"


class AvgPool1D(_As1d, _AvgPool):
    """Mean over windows of ``k_size`` of (B, L, C).

    Args:
        k_size: window length.
        stride: step between windows (``k_size`` when omitted).
    """

    def __init__(self, k_size: int, stride: int | None = None) -> None:
        super().__init__((1, k_size), (1, k_size if stride is None else stride))

    def extra_repr(self) -> str:
        return f"{self.kernel[1]}, stride={self.stride_hw[1]}"
