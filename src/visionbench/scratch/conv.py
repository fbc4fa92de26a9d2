"""Channels-last convolutions: ``Conv1D`` on (batch, length, chan) and ``Conv2D`` on (batch, H, W, chan).

Forward is im2col + one matrix product; the weight gradient is one matrix product with the cached columns; the input
gradient is one matrix product followed by :func:`~visionbench.scratch._im2col.col2im`. ``Conv1D`` is
``Conv2D`` with a (1, k) kernel on a height-1 image, so both share one exact code path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from visionbench.scratch._im2col import col2im, im2col, out_size, pad_hw
from visionbench.scratch.init import InitName, init_weight, resolve_dtype
from visionbench.scratch.module import Module

__all__ = ["Conv1D", "Conv2D"]

EVAL_CHUNK_BYTES = 64 << 20  # largest im2col matrix built at once in eval mode


class _ConvNd(Module):
    """Shared core; the weight is stored (*kernel, chan_in, chan_out) and viewed as (kh, kw, chan_in, chan_out)."""

    def __init__(
        self,
        kernel: tuple[int, ...],
        chan_in: int,
        chan_out: int,
        stride: int,
        padding: int,
        bias: bool,
        init: InitName,
        rng: np.random.Generator | None,
        dtype: Any,
    ) -> None:
        super().__init__()
        if stride < 1 or padding < 0:
            raise ValueError(f"stride must be >= 1 and padding >= 0, got stride={stride}, padding={padding}")
        self.kernel, self.chan_in, self.chan_out = kernel, chan_in, chan_out
        self.stride, self.padding, self.has_bias = stride, padding, bias
        rng = rng if rng is not None else np.random.default_rng(0)
        dt = resolve_dtype(dtype)
        self._params["weight"] = init_weight((*kernel, chan_in, chan_out), init, rng, dt)
        if bias:
            self._params["bias"] = np.zeros(chan_out, dtype=dt)
        self._grads = {k: np.zeros_like(v) for k, v in self._params.items()}
        self._cols: np.ndarray | None = None

    # The 2-D view of the problem: kernel (kh, kw), strides (sh, sw), paddings (ph, pw), input (B, H, W, C).
    def _geom(self) -> tuple[int, int, int, int, int, int]:
        raise NotImplementedError

    def _as4d(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _from4d(self, Y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _columns(self, X4: np.ndarray) -> tuple[np.ndarray, int, int]:
        kh, kw, sh, sw, ph, pw = self._geom()
        B, H, W, C = X4.shape
        if C != self.chan_in:
            raise ValueError(f"{type(self).__name__} expects {self.chan_in} input channels (last axis), got {C}")
        Ho, Wo = out_size(H, kh, sh, ph), out_size(W, kw, sw, pw)
        if Ho < 1 or Wo < 1:
            raise ValueError(f"{type(self).__name__}: input {X4.shape[1:3]} is smaller than the kernel {(kh, kw)}")
        return im2col(pad_hw(X4, ph, pw), kh, kw, sh, sw), Ho, Wo

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        X4 = self._as4d(X)
        if not self.training:
            # Inference keeps no columns and bounds their size: large eval batches go through in chunks.
            self._cols = None
            kh, kw, sh, sw, ph, pw = self._geom()
            per_sample = out_size(X4.shape[1], kh, sh, ph) * out_size(X4.shape[2], kw, sw, pw) * kh * kw * X4.shape[3]
            chunk = max(1, EVAL_CHUNK_BYTES // max(1, per_sample * X4.itemsize))
            if X4.shape[0] > chunk:
                parts = [self._conv4d(X4[i : i + chunk])[0] for i in range(0, X4.shape[0], chunk)]
                return self._from4d(np.concatenate(parts))
            return self._from4d(self._conv4d(X4)[0])
        out, self._cols = self._conv4d(X4)
        return self._from4d(out)

    def _conv4d(self, X4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols, Ho, Wo = self._columns(X4)
        w2 = self._params["weight"].reshape(-1, self.chan_out)  # (kh*kw*Cin, Cout)
        out = cols @ w2
        if self.has_bias:
            out += self._params["bias"]
        return out.reshape(X4.shape[0], Ho, Wo, self.chan_out), cols  # (B, Ho, Wo, Cout)

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        cols = self._cols if (input is self._input and self._cols is not None) else self._columns(self._as4d(input))[0]
        d2 = delta.reshape(-1, self.chan_out)  # (B*Ho*Wo, Cout)
        gw = self._grads["weight"]
        gw += (cols.T @ d2).reshape(gw.shape)  # (kh, kw, Cin, Cout) in the layer's own layout
        if self.has_bias:
            self._grads["bias"] += d2.sum(axis=0)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        kh, kw, sh, sw, ph, pw = self._geom()
        X4 = self._as4d(input)
        B, H, W, _ = X4.shape
        d4 = self._as4d(delta)  # (B, Ho, Wo, Cout)
        Ho, Wo = d4.shape[1:3]
        w2 = self._params["weight"].reshape(-1, self.chan_out)  # (kh*kw*Cin, Cout)
        # One large product (a stack of kh*kw thin ones threads badly), then a strided view per kernel offset.
        dcols = d4.reshape(B * Ho * Wo, self.chan_out) @ w2.T  # (B*Ho*Wo, kh*kw*Cin)
        dwin = dcols.reshape(B, Ho, Wo, kh, kw, self.chan_in).transpose(3, 4, 0, 1, 2, 5)  # (kh, kw, B, Ho, Wo, Cin)
        dX = col2im(dwin, H + 2 * ph, W + 2 * pw, sh, sw)
        dX = dX[:, ph : ph + H, pw : pw + W]
        return self._from4d(dX)

    def macs(self, in_shape: tuple[int, ...]) -> int:
        kh, kw, sh, sw, ph, pw = self._geom()
        x4 = (in_shape[0], 1, *in_shape[1:]) if len(in_shape) == 3 else in_shape
        Ho, Wo = out_size(x4[1], kh, sh, ph), out_size(x4[2], kw, sw, pw)
        return in_shape[0] * Ho * Wo * kh * kw * self.chan_in * self.chan_out


class Conv2D(_ConvNd):
    """2-D convolution (cross-correlation, as in PyTorch) on channels-last images.

    Args:
        k_size: kernel side, or (kh, kw).
        chan_in: input channels.
        chan_out: output channels.
        stride: step between windows on both axes.
        padding: zeros added on each side of both axes.
        bias: learn a per-channel bias.
        init: weight scheme; the weight has shape (kh, kw, chan_in, chan_out).
        rng: generator for the weights.
        dtype: float32 by default.
    """

    def __init__(
        self,
        k_size: int | tuple[int, int],
        chan_in: int,
        chan_out: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        init: InitName = "he",
        rng: np.random.Generator | None = None,
        dtype: Any = None,
    ) -> None:
        kernel = (k_size, k_size) if isinstance(k_size, int) else tuple(k_size)
        super().__init__(kernel, chan_in, chan_out, stride, padding, bias, init, rng, dtype)

    def _geom(self) -> tuple[int, int, int, int, int, int]:
        return (*self.kernel, self.stride, self.stride, self.padding, self.padding)

    def _as4d(self, X: np.ndarray) -> np.ndarray:
        return X

    def _from4d(self, Y: np.ndarray) -> np.ndarray:
        return Y

    def extra_repr(self) -> str:
        return f"{self.kernel}, {self.chan_in}, {self.chan_out}, stride={self.stride}, padding={self.padding}"


class Conv1D(_ConvNd):
    """1-D convolution on (batch, length, chan_in) -> (batch, (length + 2 * padding - k_size) // stride + 1, chan_out).

    Args:
        k_size: kernel length.
        chan_in: input channels.
        chan_out: output channels.
        stride: step between windows.
        padding: zeros added at both ends (0 in the course).
        bias: learn a per-channel bias.
        init: weight scheme; the weight has shape (k_size, chan_in, chan_out).
        rng: generator for the weights.
        dtype: float32 by default.
    """

    def __init__(
        self,
        k_size: int,
        chan_in: int,
        chan_out: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        init: InitName = "he",
        rng: np.random.Generator | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__((k_size,), chan_in, chan_out, stride, padding, bias, init, rng, dtype)
        self.k_size = k_size

    def _geom(self) -> tuple[int, int, int, int, int, int]:
        return 1, self.k_size, 1, self.stride, 0, self.padding

    def _as4d(self, X: np.ndarray) -> np.ndarray:
        return X[:, None]  # (B, 1, L, C)

    def _from4d(self, Y: np.ndarray) -> np.ndarray:
        return Y[:, 0]  # (B, L, C)

    def extra_repr(self) -> str:
        return f"{self.k_size}, {self.chan_in}, {self.chan_out}, stride={self.stride}, padding={self.padding}"
