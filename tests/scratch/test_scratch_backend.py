"""The NumPy engine inside the training pipeline (train/backends.py): the same parameter groups as the PyTorch
backend (head at full lr, the rest at ``backbone_lr_scale``; no weight decay on biases) and no hidden defaults."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionbench.models import create_model
from visionbench.train.backends import ScratchBackend, TorchBackend, make_backend
from visionbench.train.config import TrainConfig

# A fully resolved config (what TrainConfig.resolve gives), spelled out so the test does not depend on any recipe.
RESOLVED = dict(model="scratch_mlp", optimizer="adamw", lr=0.05, momentum=0.9, nesterov=False, weight_decay=0.5,
                label_smoothing=0.0)  # fmt: skip


def _backend(**kw) -> ScratchBackend:
    cfg = TrainConfig(**{**RESOLVED, **kw})
    model = create_model("scratch_mlp", num_classes=10, in_chans=1, img_size=8, dropout=0.0)
    backend = make_backend("scratch", model, cfg, torch.device("cpu"))
    assert isinstance(backend, ScratchBackend)
    return backend


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, 1, 8, 8, generator=g), torch.arange(16) % 10


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_zero_backbone_lr_scale_trains_the_head_only(optimizer: str) -> None:
    backend = _backend(optimizer=optimizer, backbone_lr_scale=0.0)
    before = backend.model.state_dict()
    backend.set_lr(0.05)
    for _ in range(2):
        backend.train_step(*_batch())
    after = backend.model.state_dict()
    changed = {k for k in before if not np.array_equal(before[k], after[k])}
    head = str(len(backend.model) - 1)  # Linear(128, 10), the classifier head of scratch_mlp
    assert changed == {f"{head}.weight", f"{head}.bias"}


def test_backbone_lr_scale_scales_the_backbone_step() -> None:
    # SGD without momentum: a step is -lr * grad, so the backbone moves by exactly the scale times as much.
    full, scaled = (
        _backend(optimizer="sgd", momentum=0.0, weight_decay=0.0),
        _backend(optimizer="sgd", momentum=0.0, weight_decay=0.0, backbone_lr_scale=0.25),
    )
    w0 = full.model.state_dict()
    full.train_step(*_batch())
    scaled.train_step(*_batch())
    a, b = full.model.state_dict(), scaled.model.state_dict()
    assert np.allclose(b["0.weight"] - w0["0.weight"], 0.25 * (a["0.weight"] - w0["0.weight"]), atol=1e-7)
    head = str(len(full.model) - 1)
    assert np.array_equal(b[f"{head}.weight"], a[f"{head}.weight"])  # the head at full lr in both


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_biases_do_not_decay(optimizer: str) -> None:
    backend = _backend(optimizer=optimizer)
    for _, p, _ in backend.model.named_parameters():
        p += 1.0  # non-zero biases, so that decay would show
    before = backend.model.state_dict()
    backend.optimizer.zero_grad()
    backend.optimizer.step()  # a zero gradient: only weight decay can move a parameter
    after = backend.model.state_dict()
    for name in before:
        if name.endswith("bias"):
            assert np.array_equal(after[name], before[name]), name
        else:
            assert np.all(np.abs(after[name]) < np.abs(before[name])), name  # the weights shrink


@pytest.mark.parametrize("engine, model", [("scratch", "scratch_mlp"), ("torch", "mlp_small")])
@pytest.mark.parametrize("field", ["lr", "optimizer", "weight_decay", "label_smoothing"])
def test_unresolved_config_is_an_error_not_a_second_default(engine: str, model: str, field: str) -> None:
    cfg = TrainConfig(**{**RESOLVED, "model": model, field: None})
    net = create_model(model, num_classes=10, in_chans=1, img_size=8)
    with pytest.raises(ValueError, match=rf"TrainConfig\.{field} is None: resolve the config"):
        make_backend(engine, net, cfg, torch.device("cpu"))
    assert isinstance(
        make_backend(engine, net, TrainConfig(**{**RESOLVED, "model": model}), torch.device("cpu")),
        ScratchBackend if engine == "scratch" else TorchBackend,
    )
