"""Detection runs go through the one pipeline: run directory, COCO metrics in results.json, history, exact resume."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from visionbench.errors import ConfigError, RunError
from visionbench.runs import read_run
from visionbench.train import backends, evaluate_run, train
from visionbench.train.config import TrainConfig
from visionbench.train.tasks import DETECTION_LOSSES

# Tiny scenes of the bundled digits and a tiny detector: a few seconds per run on a CPU.
SCENES = {"canvas": 64, "min_scale": 16, "max_scale": 32, "max_objects": 3, "train_scenes": 40, "test_scenes": 12}
TINY_FRCNN = {"widths": [8, 16, 16], "out_channels": 16, "representation": 32, "proposals_train": 50,
              "proposals_test": 20, "rois_per_image": 16}


def _cfg(tmp_path, **overrides):
    values = dict(model="digit_frcnn", dataset="scenes:digits", dataset_options=dict(SCENES), epochs=2, batch_size=8,
                  lr=1e-3, warmup_steps=0, seed=1, device="cpu", threads=1, output_dir=str(tmp_path / "runs"),
                  model_kwargs=dict(TINY_FRCNN), quiet=True, eval_batch_size=8)
    values.update(overrides)
    return TrainConfig(**values)


def _weights(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)["model"]


def test_detection_run_writes_coco_metrics_history_and_config(tmp_path):
    result = train(_cfg(tmp_path))
    assert result.status == "completed", result.message
    r = json.loads((result.run_dir / "results.json").read_text())
    assert r["task"] == "detection" and r["dataset"] == "scenes:digits"
    for key in ("test_map", "test_map50", "test_map75", "test_mar_100", "best_val_map", "params_total",
                "train_seconds", "inference_images_per_second"):
        assert key in r, key
    assert 0.0 <= r["test_map"] <= r["test_map50"] <= 1.0
    assert set(r["test_per_class_ap"]) == {str(k) for k in range(10)}
    assert r["test_num_images"] == SCENES["test_scenes"]
    # Classification through detection, on the 450 test digits of the source dataset, one per canvas.
    through = r["through_detection"]
    assert through["dataset"] == "digits" and through["num_images"] == 450
    assert through["scale"] == 24 and through["canvas"] == 64 and "no box counts as wrong" in through["protocol"]
    cm = through["confusion_matrix"]
    assert len(cm) == 10 and all(len(row) == 11 for row in cm) and sum(map(sum, cm)) == 450
    assert r["test_no_box"] == sum(row[10] for row in cm)
    assert r["test_accuracy"] == pytest.approx(sum(cm[k][k] for k in range(10)) / 450)
    assert 0.0 <= r["test_macro_f1"] <= 1.0 and r["test_loss"] is None
    with open(result.run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    assert {"train_loss", "val_map", "val_map50", *(f"train_{k}" for k in DETECTION_LOSSES)} <= set(rows[0])
    # The loss is the sum of its four terms, epoch by epoch.
    for row in rows:
        assert float(row["train_loss"]) == pytest.approx(sum(float(row[f"train_{k}"]) for k in DETECTION_LOSSES))
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["dataset_options"] == SCENES
    assert config["dataset_info"]["scenes"]["train_scenes"] == SCENES["train_scenes"]
    assert config["dataset_info"]["train_size"] + config["dataset_info"]["val_size"] == SCENES["train_scenes"]


def test_detection_run_figures_come_from_the_run_directory(tmp_path):
    from visionbench.report.detection import detection_figures, read_examples

    result = train(_cfg(tmp_path, epochs=1))
    images, targets, predictions = read_examples(result.run_dir)
    assert images.shape == (SCENES["test_scenes"], 1, 64, 64) and images.dtype.name == "uint8"
    assert sum(len(t["labels"]) for t in targets) == result.results["test_num_gt"]
    assert sum(len(p["labels"]) for p in predictions) <= result.results["test_num_predictions"]
    names = [name for name, _, _ in detection_figures(result.run_dir)]
    assert names == ["detections", "pr-curve"]
    curve = result.results["test_pr_curve50"]
    assert len(curve["recall"]) == 101 and len(curve["precision"]) == 101


def test_detection_resume_gives_exactly_the_uninterrupted_weights(tmp_path, interrupted):
    cfg = _cfg(tmp_path, epochs=3)
    full = train(cfg)
    steps_per_epoch = -(-(SCENES["train_scenes"] - 4) // cfg.batch_size)  # 4 scenes held out for validation
    stopped = interrupted(cfg, backends.DetectionBackend, steps_per_epoch + 2)  # Ctrl-C in epoch 2
    assert stopped.status == "interrupted" and len(read_run(stopped.run_dir).history) == 1
    resumed = train(None, resume=stopped.run_dir)
    assert resumed.status == "completed"
    a, b = _weights(full.run_dir), _weights(resumed.run_dir)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.results["test_map"] == full.results["test_map"]


def test_evaluate_run_recomputes_the_detection_metrics(tmp_path):
    result = train(_cfg(tmp_path, epochs=1))
    again = evaluate_run(result.run_dir)
    assert again["test_map"] == result.results["test_map"]
    assert again["test_map50"] == result.results["test_map50"]


@pytest.mark.parametrize("model, dataset, words", [
    ("digit_frcnn", "digits", "detection model but --dataset digits is a classification dataset"),
    ("mlp_small", "scenes:digits", "classification model but --dataset scenes:digits is a detection dataset"),
])
def test_task_mismatch_is_one_clear_line(tmp_path, model, dataset, words):
    with pytest.raises(ConfigError, match=words) as err:
        train(_cfg(tmp_path, model=model, dataset=dataset, model_kwargs={},
                   dataset_options=SCENES if dataset.startswith("scenes") else {}))
    assert "\n" not in str(err.value)


def test_detection_refuses_augmentation(tmp_path):
    with pytest.raises(ConfigError, match="--augment"):
        train(_cfg(tmp_path, augment="shift"))


def test_examples_of_mixed_size_images_are_saved_and_read_back(tmp_path):
    # A COCO folder holds images of different sizes; the test examples must not need one shape (np.stack raised
    # after training, so the run lost its results).
    from visionbench.data import DetectionSplit
    from visionbench.report.detection import read_examples
    from visionbench.train.tasks import DetectionTask

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (3, h, w), dtype=np.uint8) for h, w in ((20, 30), (32, 16), (20, 30))]
    targets = [{"boxes": np.array([[1, 2, 8, 9]], np.float32), "labels": np.array([i % 2])} for i in range(3)]
    predictions = [{"boxes": np.array([[1, 2, 7, 9]], np.float32), "labels": np.array([1]),
                    "scores": np.array([0.9], np.float32)} for _ in range(3)]
    DetectionTask().save_examples(tmp_path, DetectionSplit(images, targets), {"predictions": predictions})
    got, gt, pred = read_examples(tmp_path)
    assert len(got) == 3 and all(np.array_equal(a, b) for a, b in zip(got, images))
    assert [t["labels"].tolist() for t in gt] == [[0], [1], [0]] and pred[1]["scores"].tolist() == pytest.approx([0.9])
    # A damaged file is one line, not a BadZipFile traceback.
    (tmp_path / "test_examples.npz").write_bytes(b"PK\x03\x04" + b"\0" * 40)
    with pytest.raises(RunError, match="test_examples.npz: unreadable"):
        read_examples(tmp_path)
