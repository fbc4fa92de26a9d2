"""Optimisers on a module's ``named_parameters()``: momentum SGD and Adam/AdamW with PyTorch's exact update rules,
plus the course's ``Optim(net, loss, eps)`` and ``SGD(...)`` training loop.

Gradients are whatever ``backward`` accumulated; :class:`Optim` feeds backward the per-example loss gradient divided
by the batch size, so its gradients (and its returned loss) are batch means.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from visionbench.scratch.losses import Loss
from visionbench.scratch.module import Module

__all__ = ["Optimizer", "SGDOptimizer", "AdamOptimizer", "Optim", "SGD"]


class Optimizer:
    """Base: holds ``lr`` (set freely between steps) and per-parameter state arrays keyed by parameter name."""

    def __init__(self, module: Module, lr: float, weight_decay: float = 0.0) -> None:
        self.module, self.lr, self.weight_decay = module, float(lr), float(weight_decay)
        self.step_count = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def zero_grad(self) -> None:
        """Reset the module's accumulated gradients."""
        self.module.zero_grad()

    def step(self) -> None:
        """Update every parameter in place from its accumulated gradient."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Flat dict of plain numbers and copies of the state arrays (``state.<param>.<buffer>``)."""
        d: dict[str, Any] = {"lr": self.lr, "weight_decay": self.weight_decay, "step_count": self.step_count}
        for pname, bufs in self.state.items():
            for bname, arr in bufs.items():
                d[f"state.{pname}.{bname}"] = arr.copy()
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (values may be 0-d numpy arrays, as after ``np.savez``)."""
        self.lr = float(d["lr"])
        self.weight_decay = float(d["weight_decay"])
        self.step_count = int(d["step_count"])
        names = {n for n, _, _ in self.module.named_parameters()}
        self.state = {}
        for key, arr in d.items():
            if not key.startswith("state."):
                continue
            pname, bname = key[len("state.") :].rsplit(".", 1)
            if pname not in names:
                raise ValueError(f"optimizer state key {key!r} names no parameter of the model")
            self.state.setdefault(pname, {})[bname] = np.array(arr, copy=True)


class SGDOptimizer(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov and L2 weight decay, as ``torch.optim.SGD`` (dampening 0).

    Args:
        module: the model whose ``named_parameters()`` are updated.
        lr: learning rate.
        momentum: momentum factor (0 = plain SGD).
        nesterov: Nesterov momentum.
        weight_decay: L2 penalty added to the gradient.
    """

    def __init__(
        self, module: Module, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0
    ) -> None:
        super().__init__(module, lr, weight_decay)
        self.momentum, self.nesterov = float(momentum), nesterov

    def step(self) -> None:
        self.step_count += 1
        for name, p, g in self.module.named_parameters():
            d = g + p.dtype.type(self.weight_decay) * p if self.weight_decay else g
            if self.momentum:
                st = self.state.setdefault(name, {})
                buf = st.get("momentum_buffer")
                if buf is None:
                    buf = st["momentum_buffer"] = np.array(d, dtype=p.dtype, copy=True)
                else:
                    buf *= p.dtype.type(self.momentum)
                    buf += d
                d = d + p.dtype.type(self.momentum) * buf if self.nesterov else buf
            p -= p.dtype.type(self.lr) * d


class AdamOptimizer(Optimizer):
    """Adam (Kingma & Ba, arXiv 1412.6980), AdamW when ``decoupled`` (Loshchilov & Hutter, arXiv 1711.05101).

    Same arithmetic as ``torch.optim.Adam`` / ``AdamW``: bias-corrected moments, denominator
    sqrt(v) / sqrt(1 - b2^t) + eps; weight decay added to the gradient (Adam) or p *= 1 - lr * wd (AdamW).

    Args:
        module: the model whose ``named_parameters()`` are updated.
        lr: learning rate.
        betas: decay rates of the first and second moments.
        eps: added to the denominator.
        weight_decay: decay factor.
        decoupled: AdamW-style decoupled decay (True) or L2 added to the gradient (False).
    """

    def __init__(
        self,
        module: Module,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = True,
    ) -> None:
        super().__init__(module, lr, weight_decay)
        self.betas, self.eps, self.decoupled = (float(betas[0]), float(betas[1])), float(eps), decoupled

    def step(self) -> None:
        self.step_count += 1
        t = self.step_count
        b1, b2 = self.betas
        bc1, bc2_sqrt = 1 - b1**t, np.sqrt(1 - b2**t)
        for name, p, g in self.module.named_parameters():
            f = p.dtype.type
            if self.weight_decay:
                if self.decoupled:
                    p *= f(1 - self.lr * self.weight_decay)
                else:
                    g = g + f(self.weight_decay) * p
            st = self.state.setdefault(name, {})
            if "exp_avg" not in st:
                st["exp_avg"], st["exp_avg_sq"] = np.zeros_like(p), np.zeros_like(p)
            m, v = st["exp_avg"], st["exp_avg_sq"]
            m *= f(b1)
            m += f(1 - b1) * g
            v *= f(b2)
            v += f(1 - b2) * (g * g)
            denom = np.sqrt(v) / f(bc2_sqrt) + f(self.eps)
            p -= f(self.lr / bc1) * (m / denom)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "beta1": self.betas[0], "beta2": self.betas[1], "eps": self.eps}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        super().load_state_dict(d)
        self.betas = (float(d.get("beta1", self.betas[0])), float(d.get("beta2", self.betas[1])))
        self.eps = float(d.get("eps", self.eps))


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
