"""Conv1D/Conv2D and pooling against PyTorch autograd (float64) and finite differences, over shapes, strides,
paddings and kernel sizes, with and without bias."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F
from _scratch_ref import check_against_torch, check_finite_differences

from visionbench.scratch import AvgPool1D, AvgPool2D, Conv1D, Conv2D, MaxPool1D, MaxPool2D

F64 = np.float64


def _x(*shape: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# (batch, H, W, chan_in, chan_out, kernel, stride, padding)
CONV2D_CASES = [
    (2, 5, 5, 1, 3, 3, 1, 0),
    (2, 6, 7, 2, 4, 3, 1, 1),
    (1, 8, 8, 3, 2, 3, 2, 1),
    (3, 7, 6, 2, 3, 2, 2, 0),
    (2, 9, 9, 2, 2, 5, 3, 2),
    (1, 4, 5, 1, 1, 1, 1, 0),
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CONV2D_CASES)
def test_conv2d(case: tuple[int, ...], bias: bool) -> None:
    b, h, w, ci, co, k, s, p = case
    conv = Conv2D(k, ci, co, stride=s, padding=p, bias=bias, rng=np.random.default_rng(2), dtype=F64)
    if bias:
        conv._params["bias"][:] = _x(co, seed=3)

    def ref(x, wt, bt=None):
        # NHWC <-> NCHW and (kh, kw, Cin, Cout) -> (Cout, Cin, kh, kw)
        y = F.conv2d(x.permute(0, 3, 1, 2), wt.permute(3, 2, 0, 1), bt, stride=s, padding=p)
        return y.permute(0, 2, 3, 1)

    x = _x(b, h, w, ci)
    check_against_torch(conv, x, ref, ("weight", "bias") if bias else ("weight",))
    check_finite_differences(conv, x)


# (batch, length, chan_in, chan_out, k_size, stride, padding)
CONV1D_CASES = [(2, 10, 1, 5, 3, 2, 0), (3, 12, 2, 3, 3, 1, 0), (1, 9, 3, 2, 4, 3, 1), (2, 6, 2, 2, 1, 1, 0)]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CONV1D_CASES)
def test_conv1d(case: tuple[int, ...], bias: bool) -> None:
    b, n, ci, co, k, s, p = case
    conv = Conv1D(k, ci, co, s, padding=p, bias=bias, rng=np.random.default_rng(2), dtype=F64)
    assert conv._params["weight"].shape == (k, ci, co)
    if bias:
        conv._params["bias"][:] = _x(co, seed=3)

    def ref(x, wt, bt=None):
        # (B, L, C) <-> (B, C, L) and (k, Cin, Cout) -> (Cout, Cin, k)
        return F.conv1d(x.permute(0, 2, 1), wt.permute(2, 1, 0), bt, stride=s, padding=p).permute(0, 2, 1)

    x = _x(b, n, ci)
    check_against_torch(conv, x, ref, ("weight", "bias") if bias else ("weight",))
    check_finite_differences(conv, x)


# (batch, H, W, C, kernel, stride)
POOL2D_CASES = [(2, 4, 4, 3, 2, 2), (1, 7, 5, 2, 3, 2), (2, 6, 6, 1, 3, 3), (1, 5, 5, 2, 2, 1)]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL2D_CASES)
def test_pool2d(case: tuple[int, ...], kind: str) -> None:
    b, h, w, c, k, s = case
    layer = MaxPool2D(k, s) if kind == "max" else AvgPool2D(k, s)
    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    x = _x(b, h, w, c)
    check_against_torch(layer, x, lambda t: fn(t.permute(0, 3, 1, 2), k, s).permute(0, 2, 3, 1))
    check_finite_differences(layer, x)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", [(2, 10, 3, 2, 2), (1, 9, 2, 3, 2), (2, 8, 1, 3, 1)])
def test_pool1d(case: tuple[int, ...], kind: str) -> None:
    b, n, c, k, s = case
    layer = MaxPool1D(k, s) if kind == "max" else AvgPool1D(k, s)
    fn = F.max_pool1d if kind == "max" else F.avg_pool1d
    x = _x(b, n, c)
    check_against_torch(layer, x, lambda t: fn(t.permute(0, 2, 1), k, s).permute(0, 2, 1))
    check_finite_differences(layer, x)


def test_maxpool_sends_delta_to_argmax_only() -> None:
    x = np.array([[1.0, 5.0, 2.0, 3.0]]).reshape(1, 4, 1)  # (B, L, C)
    pool = MaxPool1D(2, 2)
    assert pool.forward(x).ravel().tolist() == [5.0, 3.0]
    dx = pool.backward_delta(x, np.array([[[10.0], [20.0]]]))
    assert dx.ravel().tolist() == [0.0, 10.0, 0.0, 20.0]


def test_conv2d_float32_stays_float32() -> None:
    conv = Conv2D(3, 2, 4, padding=1)
    x = _x(2, 5, 5, 2).astype(np.float32)
    y = conv.forward(x)
    assert y.dtype == np.float32 and conv.backward(np.ones_like(y)).dtype == np.float32
    assert conv._grads["weight"].dtype == np.float32


def test_eval_forward_in_chunks_equals_train_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    import visionbench.scratch.conv as conv_mod

    monkeypatch.setattr(conv_mod, "EVAL_CHUNK_BYTES", 30_000)  # one 12x12 sample per chunk below
    conv = Conv2D(3, 2, 3, padding=1, dtype=F64)
    x = _x(10, 12, 12, 2)
    y_train = conv.forward(x)
    conv.eval()
    y_eval = conv.forward(x)
    assert np.allclose(y_train, y_eval, atol=1e-12, rtol=0)
    d = _x(*y_eval.shape, seed=4)
    conv.zero_grad()
    conv.backward(d)  # recomputes the columns it did not keep
    g_eval = conv._grads["weight"].copy()
    conv.train()
    conv.zero_grad()
    conv.forward(x)
    conv.backward(d)
    assert np.allclose(conv._grads["weight"], g_eval, atol=1e-10, rtol=0)
