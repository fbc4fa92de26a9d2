"""The course's training loop: ``Optim(net, loss, eps)`` (one update on a batch) and ``SGD(...)`` (mini-batch epochs).

:class:`Optim` feeds backward the per-example loss gradient divided by the batch size, so its gradients (and its
returned loss) are batch means.
"""

from __future__ import annotations

import numpy as np

from visionbench.scratch.losses import Loss
from visionbench.scratch.module import Module
from visionbench.scratch.optim import Optimizer

__all__ = ["Optim", "SGD"]


class Optim:
    """The course's optimiser: ``step(batch_x, batch_y)`` = forward, loss, backward, update.

    Args:
        net: the network.
        loss: a :class:`~visionbench.scratch.losses.Loss`.
        eps: learning rate of the plain gradient step (``net.update_parameters(eps)``) when ``optimizer`` is None.
        optimizer: an :class:`Optimizer` on ``net`` to use instead of the plain step (momentum SGD, Adam...).
    """

    def __init__(self, net: Module, loss: Loss, eps: float = 1e-3, optimizer: Optimizer | None = None) -> None:
        self.net, self.loss, self.eps, self.optimizer = net, loss, eps, optimizer

    def step(self, batch_x: np.ndarray, batch_y: np.ndarray) -> float:
        """One update on a batch; gradients are averaged over the batch. Returns the mean loss before the update."""
        self.net.zero_grad()
        yhat = self.net.forward(batch_x)
        loss = self.loss.forward(batch_y, yhat)
        delta = self.loss.backward(batch_y, yhat) / yhat.dtype.type(len(batch_x))
        self.net.backward(delta)
        if self.optimizer is None:
            self.net.update_parameters(self.eps)
        else:
            self.optimizer.step()
        return float(loss.mean())


def SGD(  # noqa: N802 - the course's name
    net: Module,
    loss: Loss,
    X: np.ndarray,
    Y: np.ndarray,
    batch_size: int = 32,
    epochs: int = 10,
    eps: float = 1e-3,
    shuffle: bool = True,
    rng: np.random.Generator | None = None,
    optimizer: Optimizer | None = None,
) -> list[float]:
    """Mini-batch training: each epoch shuffles (optionally), splits into batches and visits every sample once.

    Args:
        net: the network.
        loss: the loss.
        X: inputs, first axis = examples.
        Y: targets, first axis = examples.
        batch_size: examples per batch (the last batch may be smaller).
        epochs: passes over the data.
        eps: learning rate of the plain step (ignored when ``optimizer`` is given).
        shuffle: draw a new order every epoch.
        rng: generator for the shuffles (seed 0 when omitted).
        optimizer: optional :class:`Optimizer` on ``net``.

    Returns:
        The mean training loss of every epoch (average of the batch losses weighted by batch size).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    opt = Optim(net, loss, eps, optimizer)
    history = []
    n = len(X)
    for _ in range(epochs):
        order = rng.permutation(n) if shuffle else np.arange(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            total += opt.step(X[idx], Y[idx]) * len(idx)
        history.append(total / n)
    return history
