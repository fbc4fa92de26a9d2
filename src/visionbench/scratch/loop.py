"""The course's training loop: ``Optim(net, loss, eps)`` (one update on a batch) and ``SGD(...)`` (mini-batch epochs).

:class:`Optim` feeds backward the per-example loss gradient divided by the batch size, so its gradients (and its
returned loss) are batch means. ``SGD`` returns the mean loss of every epoch; beyond the course, it can call a function
after every epoch and stop at the first epoch whose loss is non-finite or too large (``History.diverged``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from visionbench.scratch.losses import Loss
from visionbench.scratch.module import Module
from visionbench.scratch.optim import Optimizer

__all__ = ["Optim", "SGD", "History"]


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


class History(list[float]):
    """What :func:`SGD` returns: the mean training loss of every epoch (a list), and whether it stopped on divergence.

    A diverged training's last entry is NaN, for the epoch whose loss was non-finite or above the limit.
    """

    diverged: bool = False


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
    *,
    on_epoch: Callable[[int, float], None] | None = None,
    diverge_above: float | None = None,
) -> History:
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
        on_epoch: called as ``on_epoch(epoch, mean_loss)`` after every completed epoch (``epoch`` counts from 0),
            e.g. to evaluate the network or change the optimiser's learning rate.
        diverge_above: when given, an epoch whose mean loss is non-finite or above this value ends the training:
            its loss is recorded as NaN, ``on_epoch`` is not called for it and the result is marked ``diverged``.

    Returns:
        The mean training loss of every epoch (average of the batch losses weighted by batch size), as a
        :class:`History`.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    opt = Optim(net, loss, eps, optimizer)
    history = History()
    n = len(X)
    for epoch in range(epochs):
        order = rng.permutation(n) if shuffle else np.arange(n)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            total += opt.step(X[idx], Y[idx]) * len(idx)
        mean = total / n
        if diverge_above is not None and not (np.isfinite(mean) and mean <= diverge_above):
            history.append(float("nan"))
            history.diverged = True
            break
        history.append(mean)
        if on_epoch is not None:
            on_epoch(epoch, mean)
    return history
