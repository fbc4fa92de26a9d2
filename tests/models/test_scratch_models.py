"""Every registered scratch_* model: builds, gives (B, num_classes) from its input_layout, trains a step, round-trips
its state dict, reports FLOPs."""

from __future__ import annotations

import numpy as np
import pytest

from visionbench import scratch
from visionbench.models import create_model, get_entry, list_models

SCRATCH = list_models("scratch_*")
EXPECTED = {"scratch_linear", "scratch_mlp", "scratch_cnn1d", "scratch_cnn2d", "scratch_autoencoder"}


def _batch(layout: str, b: int, c: int, s: int) -> np.ndarray:
    x = np.random.default_rng(0).standard_normal((b, c, s, s)).astype(np.float32)  # (B, C, H, W) as the pipeline has
    if layout == "flat":
        return x.reshape(b, -1)  # (B, C*H*W)
    if layout == "seq":
        return x.reshape(b, -1, 1)  # (B, C*H*W, 1)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # (B, H, W, C)


def test_all_variants_registered() -> None:
    assert EXPECTED <= set(SCRATCH)
    assert all(get_entry(n).engine == "scratch" for n in SCRATCH)


@pytest.mark.parametrize("name", SCRATCH)
@pytest.mark.parametrize(("c", "s"), [(1, 8), (3, 12)])
def test_builds_trains_and_round_trips(name: str, c: int, s: int) -> None:
    model = create_model(name, num_classes=5, in_chans=c, img_size=s, seed=1)
    assert model.num_classes == 5 and model.input_layout in ("flat", "seq", "nhwc")
    x = _batch(model.input_layout, 4, c, s)
    y = np.array([0, 1, 2, 4])
    out = model.forward(x)
    assert out.shape == (4, 5) and out.dtype == np.float32 and np.isfinite(out).all()
    assert model.flops_per_example() > 0
    before = model.state_dict()
    opt = scratch.AdamOptimizer(model, 1e-2)
    loss = scratch.CELogSoftmax(label_smoothing=0.1)
    opt.zero_grad()
    model.backward(loss.backward(y, model.forward(x)) / 4)
    assert all(np.abs(g).sum() > 0 for _, _, g in model.named_parameters())
    opt.step()
    after = model.state_dict()
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    other = create_model(name, num_classes=5, in_chans=c, img_size=s, seed=2)
    other.load_state_dict(after)
    model.eval()
    other.eval()
    assert np.array_equal(model.forward(x), other.forward(x))


def test_seed_determinism_and_float64() -> None:
    a = create_model("scratch_cnn2d", num_classes=3, in_chans=1, img_size=8, seed=7)
    b = create_model("scratch_cnn2d", num_classes=3, in_chans=1, img_size=8, seed=7)
    for (_, p, _), (_, q, _) in zip(a.named_parameters(), b.named_parameters()):
        assert np.array_equal(p, q)
    m = create_model("scratch_mlp", num_classes=3, in_chans=1, img_size=8, dtype="float64")
    assert m.forward(np.zeros((2, 64))).dtype == np.float64


def test_cnn1d_is_the_course_net_for_a_256_signal() -> None:
    model = create_model("scratch_cnn1d", num_classes=10, in_chans=1, img_size=16)
    assert model[3].W.shape == (4064, 100)


def test_flops_of_the_linear_model() -> None:
    model = create_model("scratch_linear", num_classes=10, in_chans=1, img_size=8)
    assert model.flops_per_example() == 2 * 64 * 10


def test_autoencoder_pretrain_lowers_reconstruction_loss() -> None:
    model = create_model("scratch_autoencoder", num_classes=3, in_chans=1, img_size=4, widths=(8, 3))
    x = np.random.default_rng(0).standard_normal((32, 16)).astype(np.float32)
    hist = model.pretrain(x, epochs=5, lr=1e-2, batch_size=8)
    assert hist[-1] < hist[0]
    assert not any("decoder" in k for k in model.state_dict())
