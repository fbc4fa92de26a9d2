"""Losses with the course's API: ``forward(y, yhat)`` is one value per example (shape (N,)), ``backward(y, yhat)`` is
d loss_i / d yhat_i per example (no division by the batch size here; :class:`~visionbench.scratch.loop.Optim` and the
pipeline average over the batch)."""

from __future__ import annotations

import numpy as np

from visionbench.scratch.activations import log_softmax, softmax

__all__ = ["Loss", "MSELoss", "BCELoss", "BCE", "CELoss", "CELogSoftmax", "one_hot"]


def one_hot(y: np.ndarray, num_classes: int, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Integer labels (N,) -> one-hot (N, num_classes); a 2-D ``y`` is returned as is (cast to ``dtype``)."""
    y = np.asarray(y)
    if y.ndim == 2:
        return y.astype(dtype, copy=False)
    out = np.zeros((y.shape[0], num_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y.astype(np.int64)] = 1
    return out


class Loss:
    """Base class of the losses."""

    def forward(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        """One loss value per example, shape (N,)."""
        raise NotImplementedError

    def backward(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        """Gradient of each example's loss with respect to its ``yhat`` row, shape of ``yhat``."""
        raise NotImplementedError

    def __call__(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        return self.forward(y, yhat)


class MSELoss(Loss):
    """Squared error summed over the outputs of each example: ||y - yhat||^2."""

    def forward(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        d = (yhat - np.asarray(y).reshape(yhat.shape)).reshape(yhat.shape[0], -1)  # (N, outputs)
        return (d * d).sum(axis=1)

    def backward(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        return 2 * (yhat - np.asarray(y).reshape(yhat.shape))


class BCELoss(Loss):
    """Binary cross-entropy on probabilities, summed over outputs: -(y log yhat + (1 - y) log(1 - yhat)).

    Args:
        eps: ``yhat`` is clipped to [eps, 1 - eps] so that the logs stay finite (PyTorch clamps the logs at -100).
    """

    def __init__(self, eps: float = 1e-12) -> None:
        self.eps = eps

    def elementwise(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        """The loss of every output, shape of ``yhat``."""
        y = np.asarray(y).reshape(yhat.shape)
        p = np.clip(yhat, self.eps, 1 - self.eps)
        return -(y * np.log(p) + (1 - y) * np.log1p(-p))

    def forward(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        return self.elementwise(y, yhat).reshape(yhat.shape[0], -1).sum(axis=1)  # (N,)

    def backward(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        y = np.asarray(y).reshape(yhat.shape)
        p = np.clip(yhat, self.eps, 1 - self.eps)
        return (p - y) / (p * (1 - p))


class BCE(BCELoss):
    """The course's ``BCE``: the same clipped binary cross-entropy, but element-wise: ``forward`` returns the loss of
    every output (the shape of ``yhat``) rather than one value per example; ``backward`` is unchanged."""

    def forward(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        return self.elementwise(y, yhat)


class CELoss(Loss):
    """Cross-entropy on probabilities (after a Softmax): -sum_k y_k log yhat_k; labels (N,) or one-hot (N, K).

    Args:
        eps: ``yhat`` is clipped below at eps so that the log stays finite.
    """

    def __init__(self, eps: float = 1e-12) -> None:
        self.eps = eps

    def forward(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        t = one_hot(y, yhat.shape[1], yhat.dtype)
        return -(t * np.log(np.maximum(yhat, self.eps))).sum(axis=1)

    def backward(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        t = one_hot(y, yhat.shape[1], yhat.dtype)
        return -t / np.maximum(yhat, self.eps)


class CELogSoftmax(Loss):
    """Cross-entropy on logits through a log-softmax, with optional label smoothing.

    With smoothing e and K classes the target is q = (1 - e) y + e / K, the loss -sum_k q_k log softmax(z)_k and its
    gradient softmax(z) * sum_k q_k - q, exactly ``torch.nn.functional.cross_entropy(z, y, label_smoothing=e)`` per
    example.

    Args:
        label_smoothing: e in [0, 1).
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing

    def _target(self, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        t = one_hot(y, z.shape[1], z.dtype)
        if self.label_smoothing:
            e = self.label_smoothing
            t = t * z.dtype.type(1 - e) + z.dtype.type(e / z.shape[1])
        return t

    def forward(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        y = np.asarray(y)
        ls = log_softmax(yhat)
        if y.ndim == 1 and not self.label_smoothing:
            return -ls[np.arange(yhat.shape[0]), y.astype(np.int64)]
        return -(self._target(y, yhat) * ls).sum(axis=1)

    def backward(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        t = self._target(np.asarray(y), yhat)
        return softmax(yhat) * t.sum(axis=1, keepdims=True) - t
