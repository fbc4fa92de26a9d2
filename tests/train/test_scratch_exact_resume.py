"""Exact resume of NumPy-engine runs whose state is more than weights (issue 13, item 5): BatchNorm running
statistics and SGD momentum buffers must come back bit for bit, so an interrupted run ends where an uninterrupted
one does."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from visionbench.train import backends, loop, train


def _state(run_dir) -> dict[str, np.ndarray]:
    with np.load(run_dir / "checkpoints" / "last.npz") as data:
        return {k: data[k] for k in data.files if k != "meta"}


def _history(run_dir) -> list[dict[str, str]]:
    with (run_dir / "history.csv").open(newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


@pytest.mark.parametrize("model, kwargs", [
    ("scratch_mlp", {"batch_norm": True, "widths": [32]}),
    ("scratch_cnn2d", {"batch_norm": True}),
])
def test_batch_norm_statistics_and_momentum_resume_bit_for_bit(tiny_cfg, monkeypatch, interrupted, model, kwargs):
    monkeypatch.setattr(loop, "CHECKPOINT_EVERY_SECONDS", 0.0)  # a checkpoint after every epoch, so the resume
    # starts from epoch 1's state (non-zero momentum, moved statistics), not from the initial one
    cfg = tiny_cfg(model=model, model_kwargs=kwargs, optimizer="sgd", momentum=0.9, nesterov=True,
                   weight_decay=1e-3, augment="shift")
    full = train(cfg)
    state = _state(full.run_dir)
    # The state under test is there and is not trivial: running statistics moved, momentum buffers are non-zero.
    stats = [k for k in state if k.endswith(("running_mean", "running_var"))]
    buffers = [k for k in state if k.endswith("momentum_buffer")]
    assert stats and buffers
    assert any(not np.allclose(state[k], 0.0 if k.endswith("mean") else 1.0) for k in stats)
    assert all(np.abs(state[k]).max() > 0 for k in buffers)

    steps_per_epoch = int(np.ceil(216 / cfg.batch_size))
    stopped = interrupted(cfg, backends.ScratchBackend, steps_per_epoch + 3)  # Ctrl-C in epoch 2
    assert stopped.status == "interrupted" and "checkpoint of epoch 1 is kept" in stopped.message
    resumed = train(None, resume=stopped.run_dir)
    assert resumed.status == "completed"
    again = _state(resumed.run_dir)
    assert again.keys() == state.keys()
    for key in state:
        assert again[key].dtype == state[key].dtype and np.array_equal(again[key], state[key]), key
    assert _history(resumed.run_dir) == _history(full.run_dir)  # every epoch's numbers but its seconds
    assert resumed.results["test_accuracy"] == full.results["test_accuracy"]
    assert resumed.results["test_loss"] == full.results["test_loss"]
