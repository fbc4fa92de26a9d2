"""Module API: accumulation, zero_grad, update_parameters, Sequential vs hand-chained, named_parameters, state_dict,
modes and RNG propagation, AutoEncoder (tied and untied)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionbench.scratch import (
    AutoEncoder,
    BatchNorm,
    Conv2D,
    Dropout,
    Flatten,
    Linear,
    MaxPool2D,
    ReLU,
    Sequential,
    TanH,
)

F64 = np.float64
rng = np.random.default_rng(0)


def test_accumulation_zero_grad_and_update() -> None:
    lin = Linear(4, 3, dtype=F64)
    x, d = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    lin.backward_update_gradient(x, d)
    once = lin._grads["weight"].copy()
    lin.backward_update_gradient(x, d)
    assert np.allclose(lin._grads["weight"], 2 * once)
    w = lin.W.copy()
    lin.update_parameters(0.1)
    assert np.allclose(lin.W, w - 0.1 * 2 * once)
    lin.zero_grad()
    assert not lin._grads["weight"].any() and not lin._grads["bias"].any()


def _convnet() -> Sequential:
    r = np.random.default_rng(1)
    return Sequential(
        Conv2D(3, 2, 3, padding=1, rng=r, dtype=F64), ReLU(), MaxPool2D(2), Flatten(),
        Linear(3 * 3 * 3, 4, rng=r, dtype=F64), TanH(), Linear(4, 2, rng=r, dtype=F64),
    )  # fmt: skip


def test_sequential_equals_hand_chained() -> None:
    net = _convnet()
    x, d = rng.standard_normal((3, 6, 6, 2)), rng.standard_normal((3, 2))
    # by hand, with the course methods
    acts = [x]
    for m in net.layers:
        acts.append(m.forward(acts[-1]))
    net.zero_grad()
    delta = d
    for m, inp in zip(reversed(net.layers), reversed(acts[:-1])):
        m.backward_update_gradient(inp, delta)
        delta = m.backward_delta(inp, delta)
    hand = {n: g.copy() for n, _, g in net.named_parameters()}
    hand_dx = delta
    # the Sequential's full backward
    net.zero_grad()
    y = net.forward(x)
    assert np.allclose(y, acts[-1])
    dx = net.backward(d)
    assert np.abs(dx - hand_dx).max() < 1e-14
    for n, _, g in net.named_parameters():
        assert np.abs(g - hand[n]).max() < 1e-14
    # and the Sequential's course methods
    net.zero_grad()
    net.backward_update_gradient(x, d)
    assert np.abs(net.backward_delta(x, d) - hand_dx).max() < 1e-14
    for n, _, g in net.named_parameters():
        assert np.abs(g - hand[n]).max() < 1e-14


def test_sequential_gradients_match_torch() -> None:
    net = _convnet()
    x = rng.standard_normal((3, 6, 6, 2))
    params = {n: torch.tensor(p.copy(), requires_grad=True) for n, p, _ in net.named_parameters()}
    xt = torch.tensor(x, requires_grad=True)
    h = torch.nn.functional.conv2d(xt.permute(0, 3, 1, 2), params["0.weight"].permute(3, 2, 0, 1), params["0.bias"],
                                   padding=1)  # fmt: skip
    h = torch.nn.functional.max_pool2d(torch.relu(h), 2).permute(0, 2, 3, 1).reshape(3, -1)  # (B, H*W*C)
    out = torch.tanh(h @ params["4.weight"] + params["4.bias"]) @ params["6.weight"] + params["6.bias"]
    d = rng.standard_normal((3, 2))
    out.backward(torch.tensor(d))
    net.zero_grad()
    assert np.abs(net.forward(x) - out.detach().numpy()).max() < 1e-10
    assert np.abs(net.backward(d) - xt.grad.numpy()).max() < 1e-10
    for n, _, g in net.named_parameters():
        assert np.abs(g - params[n].grad.numpy()).max() < 1e-10, n


def test_named_parameters_are_live_and_ordered() -> None:
    net = Sequential(Linear(3, 4), BatchNorm(4), ReLU(), Linear(4, 2))
    names = [n for n, _, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
    _, p, g = net.named_parameters()[0]
    assert p is net[0].W and g is net[0]._grads["weight"]


def test_state_dict_round_trip_and_errors() -> None:
    net = Sequential(Linear(3, 4), BatchNorm(4), Linear(4, 2))
    net.forward(rng.standard_normal((6, 3)).astype(np.float32))
    sd = net.state_dict()
    assert "1.running_mean" in sd and "1.running_var" in sd
    other = Sequential(Linear(3, 4, rng=np.random.default_rng(9)), BatchNorm(4), Linear(4, 2))
    other.load_state_dict(sd)
    for k, v in other.state_dict().items():
        assert np.array_equal(v, sd[k])
    sd["0.weight"][:] = 0  # a copy: the model is untouched
    assert net[0].W.any()
    bad = dict(sd, **{"2.weight": np.zeros((5, 2))})
    with pytest.raises(ValueError, match="2.weight"):
        other.load_state_dict(bad)
    with pytest.raises(ValueError, match="missing"):
        other.load_state_dict({k: v for k, v in sd.items() if k != "0.bias"})


def test_train_eval_and_rng_propagate() -> None:
    net = Sequential(Linear(3, 3), Dropout(0.5), Sequential(Dropout(0.5)))
    net.eval()
    assert not any(m.training for m in (net, net[1], net[2], net[2][0]))
    net.train()
    assert net[2][0].training
    g = np.random.default_rng(5)
    net.set_rng(g)
    assert net[1]._rng is g and net[2][0]._rng is g
    x = np.ones((4, 3), np.float32)
    a = net.set_rng(np.random.default_rng(5)).forward(x)
    b = net.set_rng(np.random.default_rng(5)).forward(x)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("tied", [False, True])
def test_autoencoder_gradients_match_torch(tied: bool) -> None:
    ae = AutoEncoder.from_widths([6, 4, 2], tied=tied, rng=np.random.default_rng(3), dtype=F64)
    names = [n for n, _, _ in ae.named_parameters()]
    assert (sum(n.endswith("weight") for n in names) == 2) if tied else (sum(n.endswith("weight") for n in names) == 4)
    x = rng.uniform(0, 1, (5, 6))
    params = {n: torch.tensor(p.copy(), requires_grad=True) for n, p, _ in ae.named_parameters()}
    w1, w2 = params["encoder.0.weight"], params["encoder.2.weight"]
    code = torch.tanh(torch.tanh(torch.tensor(x) @ w1 + params["encoder.0.bias"]) @ w2 + params["encoder.2.bias"])
    d1 = w2.T if tied else params["decoder.0.weight"]
    d2 = w1.T if tied else params["decoder.2.weight"]
    out = torch.sigmoid(torch.tanh(code @ d1 + params["decoder.0.bias"]) @ d2 + params["decoder.2.bias"])
    out.sum().backward()
    ae.zero_grad()
    assert np.abs(ae.forward(x) - out.detach().numpy()).max() < 1e-10
    ae.backward(np.ones((5, 6)))
    for n, _, g in ae.named_parameters():
        assert np.abs(g - params[n].grad.numpy()).max() < 1e-10, n
    assert ae.encode(x).shape == (5, 2)


@pytest.mark.parametrize(
    ("factory", "shape"),
    [
        (lambda: Linear(4, 3, dtype=F64), (5, 4)),
        (lambda: Conv2D(3, 2, 3, stride=2, padding=1, dtype=F64), (2, 5, 5, 2)),
        (lambda: BatchNorm(3, dtype=F64), (6, 3)),
    ],
    ids=["linear", "conv2d", "batchnorm"],
)
def test_accumulation_for_every_parametrised_layer(factory, shape: tuple[int, ...]) -> None:
    layer = factory()
    x = rng.standard_normal(shape)
    d = rng.standard_normal(layer.forward(x).shape)
    layer.backward_update_gradient(x, d)
    once = {n: g.copy() for n, _, g in layer.named_parameters()}
    layer.backward_update_gradient(x, d)
    before = {n: p.copy() for n, p, _ in layer.named_parameters()}
    for n, _, g in layer.named_parameters():
        assert np.allclose(g, 2 * once[n])
    layer.update_parameters(0.5)
    for n, p, _ in layer.named_parameters():
        assert np.allclose(p, before[n] - 0.5 * 2 * once[n])
    layer.zero_grad()
    assert all(not g.any() for _, _, g in layer.named_parameters())


def test_init_schemes() -> None:
    from visionbench.scratch.init import init_weight

    r = np.random.default_rng(0)
    w = init_weight((400, 600), "xavier", r)
    assert w.dtype == np.float32 and np.abs(w).max() <= np.sqrt(6 / 1000)
    assert abs(w.std() - np.sqrt(2 / 1000)) < 0.002  # uniform(-b, b) has std b / sqrt(3)
    he = init_weight((3, 3, 64, 32), "he", r, dtype=np.float64)
    assert he.dtype == np.float64 and abs(he.std() - np.sqrt(2 / (9 * 64))) < 0.005
    with pytest.raises(ValueError, match="unknown init"):
        init_weight((2, 2), "bogus", r)  # type: ignore[arg-type]


def _macs_net() -> Sequential:
    r = np.random.default_rng(4)
    return Sequential(
        Conv2D(3, 2, 4, padding=1, rng=r, dtype=F64), BatchNorm(4, dtype=F64), ReLU(), MaxPool2D(2), Flatten(),
        Dropout(0.5), Linear(16, 3, rng=r, dtype=F64),
    )  # fmt: skip


def _grads_after(net: Sequential, x: np.ndarray, delta: np.ndarray, probe: bool) -> tuple[list, np.ndarray, int]:
    net.set_rng(np.random.default_rng(9)).train()
    net.zero_grad()
    net.forward(x)
    macs = net.macs((1, 4, 4, 2)) if probe else 0
    dx = net.backward(delta)
    return [g.copy() for _, _, g in net.named_parameters()], dx, macs


def test_macs_between_forward_and_backward_changes_nothing() -> None:
    x, delta = rng.standard_normal((5, 4, 4, 2)), rng.standard_normal((5, 3))
    plain, probed = _macs_net(), _macs_net()
    g_plain, dx_plain, _ = _grads_after(plain, x, delta, probe=False)
    g_probed, dx_probed, macs = _grads_after(probed, x, delta, probe=True)
    assert macs == 4 * 4 * 3 * 3 * 2 * 4 + 16 * 3  # conv (padding 1 keeps 4x4) + linear, for one example
    assert all(np.array_equal(a, b) for a, b in zip(g_plain, g_probed))
    assert np.array_equal(dx_plain, dx_probed)
    # No other trace either: modes, BatchNorm statistics and the Dropout generator are those of the plain run.
    assert all(m.training for m in probed.layers)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(plain.named_buffers(), probed.named_buffers()))
    assert plain[5]._rng.random() == probed[5]._rng.random()


def test_macs_keeps_each_layers_own_mode() -> None:
    net = _macs_net()
    net[1].eval()  # e.g. a frozen BatchNorm inside a network in train mode
    net.macs((1, 4, 4, 2))
    assert net.training and not net[1].training and net[0].training


def test_autoencoder_macs_has_no_side_effect() -> None:
    ae = AutoEncoder.from_widths([6, 4, 2], rng=np.random.default_rng(3), dtype=F64)
    x = rng.uniform(0, 1, (5, 6))
    ae.forward(x)
    encoder_inputs = [m._input for m in ae.encoder.layers]
    assert ae.macs((1, 6)) == 2 * (6 * 4 + 4 * 2)
    assert all(m._input is i for m, i in zip(ae.encoder.layers, encoder_inputs))
    ae.backward(np.ones((5, 6)))  # the stored batch of 5, not the probe's single example
