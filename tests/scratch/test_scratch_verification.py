"""The handout's verification scenario, played with the course's own names and semantics.

The course checks its modules on seed 1 with ``randn(20, 10)`` through ``Linear(10, 1)`` and through
``Conv1D(3, 1, 5, stride=2)`` -> ``MaxPool1D(2, 2)`` -> ``Flatten``, with the MSE, BCE and CrossEntropy losses. It
reads ``_parameters`` and ``_gradient`` as arrays of the weight's shape. Every shape is checked here, and every
gradient against central finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from _scratch_ref import central_difference

from visionbench.scratch import *  # noqa: F403 - exactly what the course's script does
from visionbench.scratch import BCE, Conv1D, CrossEntropy, Flatten, Linear, MaxPool1D, Sequentiel, Sigmoide

COURSE_NAMES = ["Linear", "Sigmoide", "Softmax", "Tanh", "ReLU", "Conv1D", "MaxPool1D", "Flatten", "MSE", "BCE",
                "CrossEntropy", "Sequentiel", "Optim", "SGD"]


def test_every_course_name_imports_with_star():
    namespace: dict = {}
    exec("from visionbench.scratch import *", namespace)
    missing = [name for name in COURSE_NAMES if name not in namespace]
    assert not missing


def _numeric_grad(f, array: np.ndarray) -> np.ndarray:
    flat = array.reshape(-1)  # a view: the objective sees every nudge
    return np.array([central_difference(f, flat, i) for i in range(flat.size)]).reshape(array.shape)


def test_linear_with_mse_bce_and_their_gradients():
    np.random.seed(1)
    X = np.random.randn(20, 10)
    Y = np.random.randn(20, 1)
    lin = Linear(10, 1, dtype=np.float64)
    assert lin._parameters.shape == (10, 1) and lin._gradient.shape == (10, 1)
    assert lin._bias is not None and lin._bias.shape == (1,)
    yhat = lin.forward(X)
    assert yhat.shape == (20, 1)
    mse = MSE()  # noqa: F405
    assert mse.forward(Y, yhat).shape == (20,)
    delta = mse.backward(Y, yhat)
    assert delta.shape == (20, 1)
    lin.zero_grad()
    lin.backward_update_gradient(X, delta)
    numeric = _numeric_grad(lambda: mse.forward(Y, lin.forward(X)).sum(), lin._parameters)
    np.testing.assert_allclose(lin._gradient, numeric, rtol=1e-6, atol=1e-8)
    assert lin.backward_delta(X, delta).shape == (20, 10)
    # Gradients accumulate (summed over the batch and over calls) until zero_grad.
    first = lin._gradient.copy()
    lin.backward_update_gradient(X, delta)
    np.testing.assert_allclose(lin._gradient, 2 * first)
    # BCE on a sigmoid output: element-wise loss (the shape of yhat), input clipped.
    sig = Sigmoide()
    labels = (np.random.rand(20, 1) > 0.5).astype(float)
    p = sig.forward(lin.forward(X))
    bce = BCE()
    assert bce.forward(labels, p).shape == (20, 1)
    assert np.isfinite(bce.forward(labels, np.clip(p * 0, 0, 0))).all()  # log(0) is clipped, not -inf
    lin.zero_grad()
    lin.backward_update_gradient(X, sig.backward_delta(lin.forward(X), bce.backward(labels, p)))
    numeric = _numeric_grad(lambda: bce.forward(labels, sig.forward(lin.forward(X))).sum(), lin._parameters)
    np.testing.assert_allclose(lin._gradient, numeric, rtol=1e-5, atol=1e-8)


def test_conv_pool_flatten_shapes_and_gradients_with_cross_entropy():
    np.random.seed(1)
    X = np.random.randn(20, 10).reshape(20, 10, 1)
    conv, pool, flat = Conv1D(3, 1, 5, stride=2, dtype=np.float64), MaxPool1D(2, 2), Flatten()
    assert conv._parameters.shape == (3, 1, 5) and conv._gradient.shape == (3, 1, 5)
    h1 = conv.forward(X)
    h2 = pool.forward(h1)
    h3 = flat.forward(h2)
    assert (h1.shape, h2.shape, h3.shape) == ((20, 4, 5), (20, 2, 5), (20, 10))
    labels = np.random.randint(0, 10, size=20)
    ce = CrossEntropy()
    assert ce.forward(labels, h3).shape == (20,)
    onehot = np.eye(10)[labels]
    np.testing.assert_allclose(ce.forward(onehot, h3), ce.forward(labels, h3))  # labels or one-hot
    d3 = ce.backward(labels, h3)
    d2 = flat.backward_delta(h2, d3)
    d1 = pool.backward_delta(h1, d2)
    assert (d3.shape, d2.shape, d1.shape) == ((20, 10), (20, 2, 5), (20, 4, 5))
    conv.zero_grad()
    conv.backward_update_gradient(X, d1)
    assert conv.backward_delta(X, d1).shape == (20, 10, 1)
    net = Sequentiel(conv, pool, flat)

    def total() -> float:
        return float(ce.forward(labels, net.forward(X)).sum())

    np.testing.assert_allclose(conv._gradient, _numeric_grad(total, conv._parameters), rtol=1e-5, atol=1e-8)
    if conv._bias is not None:
        np.testing.assert_allclose(conv._gradient_bias, _numeric_grad(total, conv._bias), rtol=1e-5, atol=1e-8)


def test_course_style_assignment_writes_into_the_live_arrays():
    lin = Linear(3, 2, dtype=np.float64)
    same = lin._params["weight"]
    lin._parameters = np.ones((3, 2))
    assert lin._params["weight"] is same and (same == 1).all()
    lin._gradient = np.zeros((3, 2))
    with pytest.raises(ValueError, match="expected shape"):
        lin._parameters = np.ones((2, 3))
    assert Tanh()._parameters is None and Tanh()._gradient is None  # noqa: F405
