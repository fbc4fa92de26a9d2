"""The course's shape table, its reference Conv1D net, its aliases and its verification-script style of use."""

from __future__ import annotations

import numpy as np

from visionbench.scratch import *  # noqa: F403 - the course script does exactly this
from visionbench.scratch import Conv1D, CrossEntropy, Flatten, Linear, MaxPool1D, ReLU, Sequential, Sequentiel


def test_shape_table() -> None:
    x = np.random.default_rng(0).standard_normal((20, 10, 1))
    conv, pool, flat = Conv1D(3, 1, 5, 2), MaxPool1D(2, 2), Flatten()
    h1 = conv.forward(x)
    assert h1.shape == (20, 4, 5)
    h2 = pool.forward(h1)
    assert h2.shape == (20, 2, 5)
    h3 = flat.forward(h2)
    assert h3.shape == (20, 10)
    d = flat.backward_delta(h2, np.ones_like(h3))
    assert d.shape == (20, 2, 5)
    assert pool.backward_delta(h1, d).shape == (20, 4, 5)
    assert conv.backward_delta(x, np.ones_like(h1)).shape == (20, 10, 1)
    conv.backward_update_gradient(x, np.ones_like(h1))
    assert conv._grads["weight"].shape == (3, 1, 5)


def test_reference_net_has_4064_inputs() -> None:
    net = Sequentiel(Conv1D(3, 1, 32), MaxPool1D(2, 2), Flatten(), Linear(4064, 100), ReLU(), Linear(100, 10))
    x = np.random.default_rng(0).standard_normal((4, 256, 1)).astype(np.float32)
    assert net[2].forward(net[1].forward(net[0].forward(x))).shape == (4, 4064)
    y = net.forward(x)
    assert y.shape == (4, 10)
    loss = CrossEntropy()
    assert loss.forward(np.arange(4), y).shape == (4,)
    assert net.backward(loss.backward(np.arange(4), y)).shape == x.shape


def test_aliases_exist() -> None:
    assert Sequentiel is Sequential
    assert Sigmoide is Sigmoid and Tanh is TanH and MSE is MSELoss  # noqa: F405
    assert CrossEntropy is CELogSoftmax  # noqa: F405


def test_course_style_training_loop() -> None:
    # Two gaussians, Linear -> TanH -> Linear -> Sigmoide with MSE and a hand-written loop, as in the course.
    r = np.random.default_rng(0)
    X = np.vstack([r.normal(-1, 0.5, (50, 2)), r.normal(1, 0.5, (50, 2))])
    Y = np.vstack([np.zeros((50, 1)), np.ones((50, 1))])
    l1, act1, l2, act2 = Linear(2, 4, rng=r), Tanh(), Linear(4, 1, rng=r), Sigmoide()  # noqa: F405
    loss = MSE()  # noqa: F405
    for _ in range(200):
        h1 = l1.forward(X)
        a1 = act1.forward(h1)
        h2 = l2.forward(a1)
        yhat = act2.forward(h2)
        d = loss.backward(Y, yhat)
        d_h2 = act2.backward_delta(h2, d)
        d_a1 = l2.backward_delta(a1, d_h2)
        d_h1 = act1.backward_delta(h1, d_a1)
        for m in (l1, l2):
            m.zero_grad()
        l2.backward_update_gradient(a1, d_h2)
        l1.backward_update_gradient(X, d_h1)
        l1.update_parameters(1e-3)
        l2.update_parameters(1e-3)
    acc = ((yhat > 0.5) == Y).mean()
    assert acc > 0.95
