"""Losses: per-example forward and per-example gradient against PyTorch (float64) and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from visionbench.scratch import BCELoss, CELogSoftmax, CELoss, CrossEntropy, Loss, MSELoss

TOL = 1e-10


def _check(loss: Loss, y: np.ndarray, yhat: np.ndarray, torch_fn) -> None:
    yt = torch.tensor(yhat, requires_grad=True)
    ref = torch_fn(yt)
    assert loss.forward(y, yhat).shape == (len(yhat),)
    assert np.abs(loss.forward(y, yhat) - ref.detach().numpy()).max() < TOL
    ref.sum().backward()  # per-example losses are independent, so this gives each example's own gradient
    assert np.abs(loss.backward(y, yhat) - yt.grad.numpy()).max() < TOL
    # central differences on a few entries
    g, h = loss.backward(y, yhat), 1e-6
    for idx in [(0, 0), (len(yhat) - 1, yhat.shape[1] - 1), (1, 1)]:
        up, down = yhat.copy(), yhat.copy()
        up[idx] += h
        down[idx] -= h
        num = (loss.forward(y, up).sum() - loss.forward(y, down).sum()) / (2 * h)
        assert abs(num - g[idx]) < 1e-6 * max(1, abs(num))


rng = np.random.default_rng(0)


def test_mse() -> None:
    y, yhat = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    _check(MSELoss(), y, yhat, lambda t: F.mse_loss(t, torch.tensor(y), reduction="none").sum(1))


def test_bce_sign_and_value() -> None:
    y = (rng.random((6, 2)) > 0.5).astype(float)
    p = rng.uniform(0.05, 0.95, (6, 2))
    _check(BCELoss(), y, p, lambda t: F.binary_cross_entropy(t, torch.tensor(y), reduction="none").sum(1))
    assert (BCELoss().forward(y, p) > 0).all()
    assert np.isfinite(BCELoss().forward(np.array([[1.0]]), np.array([[0.0]]))).all()  # clipped log


@pytest.mark.parametrize("onehot", [False, True])
def test_ce_on_probabilities(onehot: bool) -> None:
    labels = rng.integers(0, 4, 5)
    p = torch.softmax(torch.tensor(rng.standard_normal((5, 4))), 1).numpy()
    y = np.eye(4)[labels] if onehot else labels
    _check(CELoss(), y, p, lambda t: -torch.log(t)[torch.arange(5), torch.tensor(labels)])


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("onehot", [False, True])
def test_ce_logsoftmax(smoothing: float, onehot: bool) -> None:
    labels = rng.integers(0, 6, 7)
    z = 3 * rng.standard_normal((7, 6))
    y = np.eye(6)[labels] if onehot else labels
    target = torch.tensor(y) if onehot else torch.tensor(labels)
    _check(
        CELogSoftmax(label_smoothing=smoothing),
        y,
        z,
        lambda t: F.cross_entropy(t, target, reduction="none", label_smoothing=smoothing),
    )


def test_crossentropy_alias_is_on_logits() -> None:
    z = np.array([[2.0, 0.0, -1.0]])
    assert np.allclose(CrossEntropy().forward(np.array([0]), z), -np.log(np.exp(2) / np.exp([2, 0, -1]).sum()))
