"""Linear, activations, Flatten, BatchNorm and Dropout against PyTorch autograd (float64) and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _scratch_ref import check_against_torch, check_finite_differences

from visionbench.scratch import (
    BatchNorm,
    Dropout,
    Flatten,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    TanH,
)

F64 = np.float64


def _x(*shape: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 3, 4), (1, 7, 2), (9, 1, 1)])
def test_linear(shape: tuple[int, int, int], bias: bool) -> None:
    n, i, o = shape
    lin = Linear(i, o, bias=bias, rng=np.random.default_rng(3), dtype=F64)
    if bias:
        lin._params["bias"][:] = _x(o, seed=4)
        check_against_torch(lin, _x(n, i), lambda x, w, b: x @ w + b, ("weight", "bias"))
    else:
        check_against_torch(lin, _x(n, i), lambda x, w: x @ w, ("weight",))
    check_finite_differences(lin, _x(n, i))


@pytest.mark.parametrize(
    ("layer", "fn"),
    [
        (TanH(), torch.tanh),
        (Sigmoid(), torch.sigmoid),
        (ReLU(), torch.relu),
        (LeakyReLU(0.1), lambda x: F.leaky_relu(x, 0.1)),
        (Softmax(), lambda x: torch.softmax(x, -1)),
        (LogSoftmax(), lambda x: torch.log_softmax(x, -1)),
        (Flatten(), lambda x: x.reshape(x.shape[0], -1)),
    ],
    ids=["tanh", "sigmoid", "relu", "leaky_relu", "softmax", "log_softmax", "flatten"],
)
def test_parameterless(layer, fn) -> None:
    x = _x(4, 3, 5) if isinstance(layer, Flatten) else _x(6, 5)
    check_against_torch(layer, x, fn)
    check_finite_differences(layer, x)


def test_activation_backward_receives_the_input() -> None:
    # The course passes the pre-activation input, not the output, to backward_delta.
    x, d = _x(3, 4), _x(3, 4, seed=2)
    assert np.allclose(TanH().backward_delta(x, d), d * (1 - np.tanh(x) ** 2))


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_train(shape: tuple[int, ...], affine: bool) -> None:
    c = shape[-1]
    bn = BatchNorm(c, affine=affine, dtype=F64)
    if affine:
        bn._params["weight"][:] = _x(c, seed=5)
        bn._params["bias"][:] = _x(c, seed=6)
    x = _x(*shape)

    def ref(xt, *wb):
        flat = xt.reshape(-1, c)  # (N, C): channels-last means every other axis is a batch axis
        w, b = wb if wb else (None, None)
        return F.batch_norm(flat, None, None, w, b, training=True, eps=1e-5).reshape(xt.shape)

    check_against_torch(bn, x, ref, ("weight", "bias") if affine else ())
    check_finite_differences(bn, x, tol=1e-5)


def test_batchnorm_running_stats_and_eval() -> None:
    bn = BatchNorm(3, dtype=F64)
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for s in range(3):
        x = _x(2, 4, 4, 3, seed=s)
        bn.forward(x)
        F.batch_norm(torch.tensor(x).reshape(-1, 3), rm, rv, training=True, momentum=0.1)
    assert np.abs(bn._buffers["running_mean"] - rm.numpy()).max() < 1e-12
    assert np.abs(bn._buffers["running_var"] - rv.numpy()).max() < 1e-12
    bn.eval()
    bn._params["weight"][:] = _x(3, seed=7)
    x = _x(5, 3, seed=9)
    check_against_torch(bn, x, lambda xt, w, b: F.batch_norm(xt, rm, rv, w, b, training=False), ("weight", "bias"))
    check_finite_differences(bn, x)


def test_dropout_mask_from_rng_and_gradient() -> None:
    x = _x(50, 40)
    d = Dropout(0.3).set_rng(np.random.default_rng(11))
    y1 = d.forward(x)
    kept = y1 != 0
    assert 0.6 < kept.mean() < 0.8
    assert np.allclose(y1[kept], x[kept] / 0.7)
    assert np.allclose(d.backward(np.ones_like(x)), kept / 0.7)
    y2 = Dropout(0.3).set_rng(np.random.default_rng(11)).forward(x)
    assert np.array_equal(y1, y2)
    d.eval()
    assert d.forward(x) is x


@pytest.mark.parametrize("layer_factory", [lambda: Linear(4, 3), lambda: BatchNorm(3)])
def test_float32_default_and_astype(layer_factory) -> None:
    layer = layer_factory()
    assert all(p.dtype == np.float32 for p in layer.parameters())
    layer.astype(np.float64)
    assert all(p.dtype == np.float64 for p in layer.parameters())
    assert all(g.dtype == np.float64 for _, _, g in layer.named_parameters())
