"""Optimisers against torch.optim (float64, several steps), their state dicts, Optim and SGD."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionbench.scratch import SGD, AdamOptimizer, CELogSoftmax, Linear, MSELoss, Optim, ReLU, Sequential, SGDOptimizer

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
    mean_grad = net[0]._gradient["weight"].copy()
    net.zero_grad()
    opt_no_update = Optim(net, CELogSoftmax(), eps=0.0)
    opt_no_update.step(x, y)
    assert np.allclose(net[0]._gradient["weight"], mean_grad)


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
