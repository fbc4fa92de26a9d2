"""Optimisers against torch.optim (float64, several steps), their state dicts, Optim and SGD."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionbench.scratch import (
    SGD,
    AdamOptimizer,
    BatchNorm,
    CELogSoftmax,
    Linear,
    MSELoss,
    Optim,
    ReLU,
    Sequential,
    SGDOptimizer,
    param_options,
)

F64 = np.float64


def _net() -> Sequential:
    r = np.random.default_rng(0)
    return Sequential(Linear(4, 5, rng=r, dtype=F64), ReLU(), Linear(5, 3, rng=r, dtype=F64))


def _run_both(make_np, make_torch, steps: int = 5) -> None:
    net = _net()
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in net.parameters()]
    opt, topt = make_np(net), make_torch(tparams)
    r = np.random.default_rng(1)
    for s in range(steps):
        grads = [r.standard_normal(p.shape) for p in net.parameters()]
        opt.zero_grad()
        for (_, _, g), gn in zip(net.named_parameters(), grads):
            g += gn
        for tp, gn in zip(tparams, grads):
            tp.grad = torch.tensor(gn)
        if s == 3:  # the pipeline changes lr between steps
            opt.lr *= 0.5
            for group in topt.param_groups:
                group["lr"] *= 0.5
        opt.step()
        topt.step()
    for p, tp in zip(net.parameters(), tparams):
        assert np.abs(p - tp.detach().numpy()).max() < 1e-12


@pytest.mark.parametrize(
    ("momentum", "nesterov", "wd"), [(0.0, False, 0.0), (0.9, False, 0.0), (0.9, True, 1e-2), (0.5, False, 0.1)]
)
def test_sgd_matches_torch(momentum: float, nesterov: bool, wd: float) -> None:
    _run_both(
        lambda n: SGDOptimizer(n, lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=wd),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=momentum, nesterov=nesterov, weight_decay=wd),
    )


@pytest.mark.parametrize(("decoupled", "wd"), [(False, 0.0), (False, 0.05), (True, 0.05), (True, 0.0)])
def test_adam_matches_torch(decoupled: bool, wd: float) -> None:
    tcls = torch.optim.AdamW if decoupled else torch.optim.Adam
    _run_both(
        lambda n: AdamOptimizer(n, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=wd, decoupled=decoupled),
        lambda ps: tcls(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=wd),
    )


def _torch_groups(ps: list[torch.Tensor], lr: float, wd: float) -> list[dict]:
    # _net()'s parameters are [0.weight, 0.bias, 2.weight, 2.bias]; the head (layer 2) at full lr, the backbone at
    # a tenth, no decay on biases: train/optim.param_groups's rule.
    return [
        {"params": [ps[0]], "lr": lr * 0.1, "weight_decay": wd},
        {"params": [ps[1]], "lr": lr * 0.1, "weight_decay": 0.0},
        {"params": [ps[2]], "lr": lr, "weight_decay": wd},
        {"params": [ps[3]], "lr": lr, "weight_decay": 0.0},
    ]


@pytest.mark.parametrize("kind", ["sgd", "adam", "adamw"])
def test_lr_scale_and_no_decay_match_torch_param_groups(kind: str) -> None:
    wd, lr = 0.05, (0.1 if kind == "sgd" else 0.01)

    def make_np(net: Sequential):
        if kind == "sgd":
            return SGDOptimizer(net, lr, momentum=0.9, weight_decay=wd, **param_options(net, 0.1))
        return AdamOptimizer(net, lr, weight_decay=wd, decoupled=kind == "adamw", **param_options(net, 0.1))

    def make_torch(ps: list[torch.Tensor]):
        if kind == "sgd":
            return torch.optim.SGD(_torch_groups(ps, lr, wd), lr=lr, momentum=0.9)
        return (torch.optim.AdamW if kind == "adamw" else torch.optim.Adam)(_torch_groups(ps, lr, wd), lr=lr)

    _run_both(make_np, make_torch)


def test_param_options_head_is_the_last_parametrised_layer() -> None:
    net = Sequential(Linear(4, 5), BatchNorm(5), ReLU(), Sequential(Linear(5, 3), ReLU()))
    opts = param_options(net, 0.25)
    assert opts["lr_scale"] == {"0.weight": 0.25, "0.bias": 0.25, "1.weight": 0.25, "1.bias": 0.25}
    assert opts["no_decay"] == {"0.bias", "1.weight", "1.bias", "3.0.bias"}  # biases and BatchNorm's gamma/beta
    assert param_options(net, 0.0, head=net[1])["lr_scale"].keys() == {"0.weight", "0.bias", "3.0.weight", "3.0.bias"}

    class WithHead(Sequential):
        def get_classifier(self):
            return self[0]

    assert param_options(WithHead(Linear(4, 5), Linear(5, 3)))["lr_scale"] == {"1.weight": 1.0, "1.bias": 1.0}
    with pytest.raises(ValueError, match="no parameter"):
        SGDOptimizer(net, 0.1, lr_scale={"9.weight": 0.5})


def test_zero_lr_scale_freezes_and_no_decay_spares_biases() -> None:
    net = _net()
    for p in net.parameters():
        p += 1.0  # non-zero biases, so that decay would show
    before = [p.copy() for p in net.parameters()]
    opt = AdamOptimizer(net, 0.1, weight_decay=0.5, decoupled=True, **param_options(net, 0.0))
    opt.zero_grad()
    opt.step()  # zero gradient: only weight decay could move a parameter
    w0, b0, w2, b2 = net.parameters()
    assert np.array_equal(w0, before[0]) and np.array_equal(b0, before[1])  # backbone at lr 0
    assert np.allclose(w2, before[2] * (1 - 0.1 * 0.5)) and np.array_equal(b2, before[3])  # head weight decays only


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_optimizer_state_dict_resume_is_exact(kind: str) -> None:
    def make(net):
        return SGDOptimizer(net, 0.1, momentum=0.9) if kind == "sgd" else AdamOptimizer(net, 0.01)

    x, y = np.random.default_rng(2).standard_normal((8, 4)), np.arange(8) % 3
    loss = CELogSoftmax()
    a = _net()
    opt_a = Optim(a, loss, optimizer=make(a))
    for _ in range(3):
        opt_a.step(x, y)
    b = _net()
    b.load_state_dict(a.state_dict())
    ob = make(b)
    sd = {k: (np.asarray(v) if not isinstance(v, float | int) else v) for k, v in opt_a.optimizer.state_dict().items()}
    ob.load_state_dict(sd)
    opt_b = Optim(b, loss, optimizer=ob)
    for _ in range(3):
        assert opt_a.step(x, y) == opt_b.step(x, y)
    for p, q in zip(a.parameters(), b.parameters()):
        assert np.array_equal(p, q)


def test_optim_step_lowers_loss_and_averages_gradients() -> None:
    net = _net()
    x, y = np.random.default_rng(3).standard_normal((16, 4)), np.arange(16) % 3
    opt = Optim(net, CELogSoftmax(), eps=0.1)
    first = opt.step(x, y)
    for _ in range(30):
        last = opt.step(x, y)
    assert last < first
    # the gradient after a step is the batch mean of the per-example gradients
    net.zero_grad()
    net.forward(x)
    net.backward(CELogSoftmax().backward(y, net.forward(x)) / 16)
    mean_grad = net[0]._grads["weight"].copy()
    net.zero_grad()
    opt_no_update = Optim(net, CELogSoftmax(), eps=0.0)
    opt_no_update.step(x, y)
    assert np.allclose(net[0]._grads["weight"], mean_grad)


def test_sgd_function_visits_every_sample_once_per_epoch() -> None:
    seen: list[np.ndarray] = []

    class Spy(Linear):
        def forward(self, X):
            seen.append(X[:, 0].copy())
            return super().forward(X)

    X = np.arange(23, dtype=F64).reshape(23, 1)
    Y = np.zeros((23, 1))
    hist = SGD(Spy(1, 1, dtype=F64), MSELoss(), X, Y, batch_size=5, epochs=3, eps=1e-3)
    assert len(hist) == 3
    per_epoch = np.array_split(np.concatenate(seen), 3)
    for ep in per_epoch:
        assert sorted(ep.tolist()) == list(range(23))
    assert [len(s) for s in seen[:5]] == [5, 5, 5, 5, 3]


def _regression() -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(5)
    X = r.standard_normal((40, 3))
    return X, X @ np.array([[1.0], [-2.0], [0.5]])


def test_sgd_on_epoch_sees_every_epoch_and_changes_no_number() -> None:
    X, Y = _regression()
    plain = SGD(Linear(3, 1, rng=np.random.default_rng(1), dtype=F64), MSELoss(), X, Y, batch_size=8, epochs=4,
                eps=0.05, rng=np.random.default_rng(2))
    calls: list[tuple[int, float]] = []
    watched = SGD(Linear(3, 1, rng=np.random.default_rng(1), dtype=F64), MSELoss(), X, Y, batch_size=8, epochs=4,
                  eps=0.05, rng=np.random.default_rng(2), on_epoch=lambda e, v: calls.append((e, v)),
                  diverge_above=1e12)
    assert list(watched) == list(plain) and not watched.diverged and not plain.diverged
    assert calls == list(enumerate(plain))
    assert plain[-1] < plain[0] / 4  # it learns


def test_sgd_stops_at_divergence_only_when_asked() -> None:
    X, Y = _regression()
    calls: list[int] = []
    # lr 1.5 on this least-squares problem: every step overshoots, the loss grows ~1e4 times per epoch.
    stopped = SGD(Linear(3, 1, rng=np.random.default_rng(1), dtype=F64), MSELoss(), X, Y, batch_size=8, epochs=50,
                  eps=1.5, rng=np.random.default_rng(2), on_epoch=lambda e, v: calls.append(e), diverge_above=1e10)
    with np.errstate(over="ignore", invalid="ignore"):
        full = SGD(Linear(3, 1, rng=np.random.default_rng(1), dtype=F64), MSELoss(), X, Y, batch_size=8, epochs=50,
                   eps=1.5, rng=np.random.default_rng(2))
    assert stopped.diverged and np.isnan(stopped[-1]) and 1 < len(stopped) < 50
    assert calls == list(range(len(stopped) - 1))  # not called for the diverged epoch
    assert all(v <= 1e10 for v in stopped[:-1]) and full[len(stopped) - 1] > 1e10
    assert list(stopped[:-1]) == list(full[: len(stopped) - 1])
    assert len(full) == 50 and not full.diverged  # the course's SGD: no limit, every epoch runs
    # a finite loss above the limit stops too
    tight = SGD(Linear(3, 1, rng=np.random.default_rng(1), dtype=F64), MSELoss(), X, Y, epochs=3, diverge_above=0.0)
    assert tight.diverged and len(tight) == 1 and np.isnan(tight[0])
