"""``Linear(input, output)``: Y = X W + b with W of shape (input, output), as in the course."""

from __future__ import annotations

from typing import Any

import numpy as np

from visionbench.scratch.init import InitName, init_weight, resolve_dtype
from visionbench.scratch.module import Module

__all__ = ["Linear"]


class Linear(Module):
    """Fully connected layer on (batch, input) data.

    Args:
        input: input features.
        output: output features.
        bias: learn a bias of shape (output,).
        init: weight scheme (see :func:`~visionbench.scratch.init.init_weight`); the bias starts at zero.
        rng: generator for the weights (a fixed seed 0 when omitted).
        dtype: float32 by default.
    """

    def __init__(
        self,
        input: int,
        output: int,
        bias: bool = True,
        init: InitName = "xavier",
        rng: np.random.Generator | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.input, self.output, self.has_bias = input, output, bias
        rng = rng if rng is not None else np.random.default_rng(0)
        dt = resolve_dtype(dtype)
        self._params["weight"] = init_weight((input, output), init, rng, dt)
        if bias:
            self._params["bias"] = np.zeros(output, dtype=dt)
        self._grads = {k: np.zeros_like(v) for k, v in self._params.items()}

    @property
    def W(self) -> np.ndarray:
        """The weight matrix (input, output)."""
        return self._params["weight"]

    @property
    def b(self) -> np.ndarray | None:
        """The bias (output,), or None."""
        return self._params.get("bias")

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        out = X @ self._params["weight"]
        if self.has_bias:
            out += self._params["bias"]
        return out

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        self._grads["weight"] += input.T @ delta
        if self.has_bias:
            self._grads["bias"] += delta.sum(axis=0)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return delta @ self._params["weight"].T

    def macs(self, in_shape: tuple[int, ...]) -> int:
        return int(np.prod(in_shape[:-1])) * self.input * self.output

    def extra_repr(self) -> str:
        return f"{self.input}, {self.output}, bias={self.has_bias}"
