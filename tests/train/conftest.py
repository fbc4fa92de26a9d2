from __future__ import annotations

import pytest

from visionbench.train import TrainConfig


@pytest.fixture
def tiny_cfg(tmp_path):
    """A seconds-long run on a slice of digits."""

    def make(**kw):
        base = dict(model="mlp_small", dataset="digits", epochs=3, batch_size=32, max_train_samples=240,
                    output_dir=str(tmp_path / "runs"), quiet=True, threads=1, seed=3)
        base.update(kw)
        return TrainConfig(**base)

    return make


@pytest.fixture
def interrupted(monkeypatch):
    """``interrupted(cfg, backend_cls, at_step)``: train ``cfg`` with Ctrl-C arriving at its ``at_step``-th training
    step (counted from 1) of ``backend_cls``; returns the stopped run's result, the backend restored."""
    from visionbench.train import train

    def run(cfg, backend_cls, at_step: int):
        original = backend_cls.train_step
        calls = {"n": 0}

        def stop_there(self, x, y, *args):
            calls["n"] += 1
            if calls["n"] == at_step:
                raise KeyboardInterrupt
            return original(self, x, y, *args)

        monkeypatch.setattr(backend_cls, "train_step", stop_there)
        try:
            return train(cfg)
        finally:
            monkeypatch.setattr(backend_cls, "train_step", original)

    return run
