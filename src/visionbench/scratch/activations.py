"""Element-wise activations and (log-)softmax; ``backward_delta`` receives the layer's input (pre-activation)."""

from __future__ import annotations

import numpy as np

from visionbench.scratch.module import Module

__all__ = ["TanH", "Sigmoid", "ReLU", "LeakyReLU", "Softmax", "LogSoftmax", "sigmoid", "log_softmax", "softmax"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function (no overflow warning for large |x|)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax along ``axis``, shifted by the max for stability."""
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax along ``axis``, shifted by the max for stability."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class _Activation(Module):
    def backward(self, delta: np.ndarray) -> np.ndarray:
        # No parameters: skip the empty gradient update.
        return self.backward_delta(self._input, delta)


class TanH(_Activation):
    """Hyperbolic tangent."""

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        self._out = np.tanh(X)
        return self._out

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        t = self._out if input is self._input else np.tanh(input)
        return delta * (1 - t * t)


class Sigmoid(_Activation):
    """Logistic function 1 / (1 + exp(-x))."""

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        self._out = sigmoid(X)
        return self._out

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        s = self._out if input is self._input else sigmoid(input)
        return delta * s * (1 - s)


class ReLU(_Activation):
    """max(0, x); the gradient at exactly 0 is 0, as in PyTorch."""

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        return np.maximum(X, 0)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return delta * (input > 0)


class LeakyReLU(_Activation):
    """x for x > 0, ``negative_slope * x`` otherwise.

    Args:
        negative_slope: slope for negative inputs (PyTorch's default 0.01).
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        return np.where(X > 0, X, X * X.dtype.type(self.negative_slope))

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return np.where(input > 0, delta, delta * delta.dtype.type(self.negative_slope))

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Softmax(_Activation):
    """softmax over the last axis (class probabilities)."""

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        self._out = softmax(X)
        return self._out

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        s = self._out if input is self._input else softmax(input)
        return s * (delta - (delta * s).sum(axis=-1, keepdims=True))


class LogSoftmax(_Activation):
    """log softmax over the last axis."""

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        self._out = log_softmax(X)
        return self._out

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        ls = self._out if input is self._input else log_softmax(input)
        return delta - np.exp(ls) * delta.sum(axis=-1, keepdims=True)
