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
