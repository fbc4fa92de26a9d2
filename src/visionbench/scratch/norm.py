"""``BatchNorm`` (over every axis but the last, so one class serves (B, F) and channels-last (B, H, W, C)) and
``Dropout`` (inverted dropout, masks drawn from the module's generator set by ``set_rng``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from visionbench.scratch.init import resolve_dtype
from visionbench.scratch.module import Module

__all__ = ["BatchNorm", "BatchNorm1D", "BatchNorm2D", "Dropout"]


class BatchNorm(Module):
    """Batch normalisation (Ioffe & Szegedy 2015, arXiv 1502.03167) with PyTorch's conventions.

    Train mode normalises with the batch statistics (biased variance) and updates the running statistics with
    ``momentum`` (the unbiased variance, as PyTorch does); eval mode uses the running statistics.

    Args:
        num_features: size of the last axis (features or channels).
        eps: added to the variance.
        momentum: weight of the new batch in the running statistics.
        affine: learn a scale ``weight`` (starts at 1) and a shift ``bias`` (starts at 0).
        dtype: float32 by default.
    """

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True, dtype: Any = None
    ) -> None:
        super().__init__()
        dt = resolve_dtype(dtype)
        self.num_features, self.eps, self.momentum, self.affine = num_features, eps, momentum, affine
        if affine:
            self._params = {"weight": np.ones(num_features, dt), "bias": np.zeros(num_features, dt)}
            self._grads = {k: np.zeros_like(v) for k, v in self._params.items()}
        self._buffers = {"running_mean": np.zeros(num_features, dt), "running_var": np.ones(num_features, dt)}
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def _stats(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.training:
            axes = tuple(range(X.ndim - 1))
            return X.mean(axis=axes), X.var(axis=axes)
        return self._buffers["running_mean"], self._buffers["running_var"]

    def _normalise(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if X.shape[-1] != self.num_features:
            raise ValueError(f"BatchNorm expects {self.num_features} features on the last axis, got {X.shape[-1]}")
        mean, var = self._stats(X)
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(X.dtype, copy=False)
        return (X - mean) * inv_std, inv_std

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        if self.training:
            n = X.size // X.shape[-1]
            mean, var = self._stats(X)
            m = self.momentum
            rm, rv = self._buffers["running_mean"], self._buffers["running_var"]
            rm *= 1 - m
            rm += m * mean
            rv *= 1 - m
            rv += m * var * (n / max(n - 1, 1))
        xhat, inv_std = self._normalise(X)
        self._cache = (xhat, inv_std)
        if not self.affine:
            return xhat
        return xhat * self._params["weight"] + self._params["bias"]

    def _cached(self, input: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if input is self._input and self._cache is not None:
            return self._cache
        return self._normalise(input)

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        if not self.affine:
            return
        xhat, _ = self._cached(input)
        axes = tuple(range(delta.ndim - 1))
        self._grads["weight"] += (delta * xhat).sum(axis=axes)
        self._grads["bias"] += delta.sum(axis=axes)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        xhat, inv_std = self._cached(input)
        dxhat = delta * self._params["weight"] if self.affine else delta
        if not self.training:
            return dxhat * inv_std
        axes = tuple(range(delta.ndim - 1))
        n = delta.size // delta.shape[-1]
        return (inv_std / n) * (n * dxhat - dxhat.sum(axis=axes) - xhat * (dxhat * xhat).sum(axis=axes))

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


class BatchNorm1D(BatchNorm):
    """BatchNorm on (batch, features)."""


class BatchNorm2D(BatchNorm):
    """BatchNorm on channels-last (batch, H, W, channels)."""


class Dropout(Module):
    """Inverted dropout: in train mode zero each input with probability ``p`` and scale the rest by 1 / (1 - p).

    Args:
        p: drop probability in [0, 1).
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout p must be in [0, 1), got {p}")
        self.p = p
        self._mask: np.ndarray | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        if not self.training or self.p == 0.0:
            self._mask = None
            return X
        keep = self._rng.random(X.shape, dtype=np.float64 if X.dtype == np.float64 else np.float32) >= self.p
        self._mask = keep.astype(X.dtype) * X.dtype.type(1.0 / (1.0 - self.p))
        return X * self._mask

    def backward(self, delta: np.ndarray) -> np.ndarray:
        return self.backward_delta(self._input, delta)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return delta if self._mask is None else delta * self._mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
