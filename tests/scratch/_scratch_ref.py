"""Shared checks for the NumPy engine tests: PyTorch autograd in float64 and central finite differences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from visionbench.scratch import Module

TOL = 1e-10


def check_against_torch(
    layer: Module,
    x: np.ndarray,
    torch_fn: Callable[..., torch.Tensor],
    param_names: tuple[str, ...] = (),
    seed: int = 0,
) -> None:
    """Forward, d/dinput and d/dparams of ``layer`` (float64) equal ``torch_fn(x, *params)`` under autograd."""
    rng = np.random.default_rng(seed)
    layer.zero_grad()
    y = layer.forward(x)
    xt = torch.tensor(x, requires_grad=True)
    pts = [torch.tensor(layer._params[n].copy(), requires_grad=True) for n in param_names]
    yt = torch_fn(xt, *pts)
    assert y.shape == tuple(yt.shape), (y.shape, tuple(yt.shape))
    assert np.abs(y - yt.detach().numpy()).max() < TOL
    delta = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(delta))
    layer.backward_update_gradient(x, delta)
    dx = layer.backward_delta(x, delta)
    assert np.abs(dx - xt.grad.numpy()).max() < TOL
    for n, pt in zip(param_names, pts):
        assert np.abs(layer._grads[n] - pt.grad.numpy()).max() < TOL, n


def central_difference(objective: Callable[[], float], flat: np.ndarray, i: int, h: float = 1e-6) -> float:
    """d objective / d flat[i] by central differences; ``flat`` is a view of the live array the objective reads."""
    old = flat[i]
    flat[i] = old + h
    up = objective()
    flat[i] = old - h
    down = objective()
    flat[i] = old
    return (up - down) / (2 * h)


def check_finite_differences(layer: Module, x: np.ndarray, seed: int = 0, h: float = 1e-6, tol: float = 1e-6) -> None:
    """Analytic gradients of L = sum(delta * layer(x)) match central differences, for the input and every parameter."""
    rng = np.random.default_rng(seed)
    y = layer.forward(x)
    delta = rng.standard_normal(y.shape)

    def objective() -> float:
        return float((delta * layer.forward(x)).sum())

    layer.zero_grad()
    layer.forward(x)
    layer.backward_update_gradient(x, delta)
    dx = layer.backward_delta(x, delta)
    targets = [(x, dx)] + [(p, g.copy()) for _, p, g in layer.named_parameters()]
    for arr, grad in targets:
        flat, gflat = arr.reshape(-1), grad.reshape(-1)
        for i in rng.choice(flat.size, size=min(flat.size, 12), replace=False):
            num = central_difference(objective, flat, i, h)
            assert abs(num - gflat[i]) < tol * max(1.0, abs(num)), (i, num, gflat[i])
