"""End to end, one run per engine and input layout: train on the embedded digits dataset through the public API,
learn far better than chance (10 classes), and let ``evaluate_run`` reproduce the run's test numbers exactly.

Thresholds sit well below what seed 0 measured here (in the comments), so a change of library version does not
fail them while a broken pipeline (no learning, wrong layout, wrong labels) does.
"""

from __future__ import annotations

import json

import pytest

from visionbench.train import TrainConfig, evaluate_run, train

CASES = [
    # (model, epochs, accuracy above which the run passes: measured with seed 0, 2 cores)
    ("mlp", 3, 0.75),  # torch, flat input: 0.907
    ("cnn", 2, 0.80),  # torch, NCHW convolutions: 0.967
    ("vit_tutorial", 20, 0.60),  # torch, patches + attention (8x8 resized to 16x16): 0.876
    ("scratch_mlp", 3, 0.70),  # NumPy, flat layout: 0.876
    ("scratch_cnn2d", 2, 0.70),  # NumPy, channels-last (B, H, W, C) layout: 0.896
    ("scratch_cnn1d", 2, 0.75),  # NumPy, sequence (B, L, 1) layout: 0.938
]


@pytest.mark.parametrize(("model", "epochs", "threshold"), CASES, ids=[c[0] for c in CASES])
def test_trains_far_above_chance_and_evaluates_exactly(tmp_path, model: str, epochs: int, threshold: float) -> None:
    cfg = TrainConfig(model=model, dataset="digits", epochs=epochs, quiet=True, output_dir=str(tmp_path), threads=1,
                      seed=0)  # fmt: skip
    result = train(cfg)
    assert result.status == "completed", result.message
    saved = json.loads((result.run_dir / "results.json").read_text())
    assert saved["epochs_completed"] == epochs
    assert saved["test_accuracy"] > threshold, f"{model}: test accuracy {saved['test_accuracy']:.4f}"

    again = evaluate_run(result.run_dir)  # rebuilds everything from the run directory alone
    assert again["test_accuracy"] == saved["test_accuracy"]
    assert again["test_loss"] == saved["test_loss"]
    assert again["confusion_matrix"] == saved["confusion_matrix"]
