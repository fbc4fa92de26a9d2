"""``Flatten``: C-order reshape (batch, ...) -> (batch, prod(...)), and its inverse for the delta."""

from __future__ import annotations

import numpy as np

from visionbench.scratch.module import Module

__all__ = ["Flatten"]


class Flatten(Module):
    """Keep the batch axis, flatten the rest in C order (so channels-last maps flatten as (H, W, C))."""

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        return X.reshape(X.shape[0], -1)  # (B, prod(rest))

    def backward(self, delta: np.ndarray) -> np.ndarray:
        return self.backward_delta(self._input, delta)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return delta.reshape(input.shape)  # (B, *rest)
