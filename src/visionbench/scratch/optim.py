"""Optimisers on a module's ``named_parameters()``: momentum SGD and Adam/AdamW with PyTorch's exact update rules.

Like a PyTorch optimizer with parameter groups, an optimiser can scale the learning rate of some parameters
(``lr_scale``, by name) and exempt some from weight decay (``no_decay``); :func:`param_options` gives both with the
PyTorch backend's rule (the classifier head at full lr, the rest scaled; no decay on biases and normalisation).

Gradients are whatever ``backward`` accumulated (the course's training loop is in :mod:`visionbench.scratch.loop`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from visionbench.scratch.module import Module

__all__ = ["Optimizer", "SGDOptimizer", "AdamOptimizer", "param_options"]


class Optimizer:
    """Base: holds ``lr`` (set freely between steps) and per-parameter state arrays keyed by parameter name.

    Args:
        module: the model whose ``named_parameters()`` are updated.
        lr: base learning rate; parameter ``name`` moves at ``lr * lr_scale.get(name, 1)``.
        weight_decay: decay factor of every parameter not in ``no_decay``.
        lr_scale: learning-rate multipliers by parameter name (0 freezes a parameter, as a torch group at lr 0).
        no_decay: names of the parameters without weight decay (biases, normalisation parameters).

    Raises:
        ValueError: ``lr_scale`` or ``no_decay`` names a parameter the module does not have.
    """

    def __init__(
        self,
        module: Module,
        lr: float,
        weight_decay: float = 0.0,
        *,
        lr_scale: Mapping[str, float] | None = None,
        no_decay: Iterable[str] = (),
    ) -> None:
        self.module, self.lr, self.weight_decay = module, float(lr), float(weight_decay)
        self.lr_scale = {name: float(v) for name, v in (lr_scale or {}).items()}
        self.no_decay = frozenset(no_decay)
        unknown = sorted((set(self.lr_scale) | self.no_decay) - {n for n, _, _ in module.named_parameters()})
        if unknown:
            raise ValueError(f"lr_scale/no_decay name no parameter of the module: {unknown}")
        self.step_count = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def _params(self) -> Iterator[tuple[str, np.ndarray, np.ndarray, float, float]]:
        # (name, parameter, gradient, its lr, its weight decay) for every parameter, in the module's order.
        for name, p, g in self.module.named_parameters():
            wd = 0.0 if name in self.no_decay else self.weight_decay
            yield name, p, g, self.lr * self.lr_scale.get(name, 1.0), wd

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
        lr_scale: learning-rate multipliers by parameter name.
        no_decay: names of the parameters without weight decay.
    """

    def __init__(
        self,
        module: Module,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        lr_scale: Mapping[str, float] | None = None,
        no_decay: Iterable[str] = (),
    ) -> None:
        super().__init__(module, lr, weight_decay, lr_scale=lr_scale, no_decay=no_decay)
        self.momentum, self.nesterov = float(momentum), nesterov

    def step(self) -> None:
        self.step_count += 1
        for name, p, g, lr, wd in self._params():
            d = g + p.dtype.type(wd) * p if wd else g
            if self.momentum:
                st = self.state.setdefault(name, {})
                buf = st.get("momentum_buffer")
                if buf is None:
                    buf = st["momentum_buffer"] = np.array(d, dtype=p.dtype, copy=True)
                else:
                    buf *= p.dtype.type(self.momentum)
                    buf += d
                d = d + p.dtype.type(self.momentum) * buf if self.nesterov else buf
            p -= p.dtype.type(lr) * d


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
        lr_scale: learning-rate multipliers by parameter name.
        no_decay: names of the parameters without weight decay.
    """

    def __init__(
        self,
        module: Module,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = True,
        *,
        lr_scale: Mapping[str, float] | None = None,
        no_decay: Iterable[str] = (),
    ) -> None:
        super().__init__(module, lr, weight_decay, lr_scale=lr_scale, no_decay=no_decay)
        self.betas, self.eps, self.decoupled = (float(betas[0]), float(betas[1])), float(eps), decoupled

    def step(self) -> None:
        self.step_count += 1
        t = self.step_count
        b1, b2 = self.betas
        bc1, bc2_sqrt = 1 - b1**t, np.sqrt(1 - b2**t)
        for name, p, g, lr, wd in self._params():
            f = p.dtype.type
            if wd:
                if self.decoupled:
                    p *= f(1 - lr * wd)
                else:
                    g = g + f(wd) * p
            st = self.state.setdefault(name, {})
            if "exp_avg" not in st:
                st["exp_avg"], st["exp_avg_sq"] = np.zeros_like(p), np.zeros_like(p)
            m, v = st["exp_avg"], st["exp_avg_sq"]
            m *= f(b1)
            m += f(1 - b1) * g
            v *= f(b2)
            v += f(1 - b2) * (g * g)
            denom = np.sqrt(v) / f(bc2_sqrt) + f(self.eps)
            p -= f(lr / bc1) * (m / denom)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "beta1": self.betas[0], "beta2": self.betas[1], "eps": self.eps}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        super().load_state_dict(d)
        self.betas = (float(d.get("beta1", self.betas[0])), float(d.get("beta2", self.betas[1])))
        self.eps = float(d.get("eps", self.eps))


def param_options(module: Module, backbone_lr_scale: float = 1.0, head: Module | None = None) -> dict[str, Any]:
    """The ``lr_scale`` and ``no_decay`` arguments of an optimiser, with the PyTorch backend's rule.

    The head's parameters keep the full lr and every other one gets ``backbone_lr_scale``; biases and normalisation
    parameters (every parameter with at most one axis) get no weight decay.

    Args:
        module: the model.
        backbone_lr_scale: lr multiplier of every parameter outside the head (0 trains the head only).
        head: the classifier head; default ``module.get_classifier()`` when the module has it, else the last layer
            (in forward order) that owns parameters.

    Returns:
        ``{"lr_scale": {name: scale}, "no_decay": {names}}``, to pass as keyword arguments to an :class:`Optimizer`.
    """
    if head is None:
        get_classifier = getattr(module, "get_classifier", None)
        head = get_classifier() if callable(get_classifier) else _last_parametrised(module)
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    named = module.named_parameters()
    lr_scale = {name: float(backbone_lr_scale) for name, p, _ in named if id(p) not in head_ids}
    no_decay = {name for name, p, _ in named if p.ndim <= 1}
    return {"lr_scale": lr_scale, "no_decay": no_decay}


def _last_parametrised(module: Module) -> Module | None:
    # The last module, depth first in forward order, that owns parameters itself.
    for _, child in reversed(list(module.children())):
        found = _last_parametrised(child)
        if found is not None:
            return found
    return module if module._params else None
