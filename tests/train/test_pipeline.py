"""The training pipeline end to end on tiny digits runs: outputs, determinism, exact resume, divergence, the run
lock, the output-folder check, a run stopped before its first checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from visionbench.errors import ConfigError, RunError
from visionbench.runs import read_run
from visionbench.train import backends, evaluate_run, train
from visionbench.train.schedule import lr_at


def _last_state(run_dir):
    pt = run_dir / "checkpoints" / "last.pt"
    if pt.is_file():
        return torch.load(pt, map_location="cpu", weights_only=True)["model"]
    with np.load(run_dir / "checkpoints" / "last.npz") as data:  # NumPy-engine run
        return {k: torch.from_numpy(data[k]) for k in data.files if k.startswith("model/")}


def test_run_directory_holds_every_output(tiny_cfg):
    result = train(tiny_cfg())
    assert result.status == "completed"
    run = read_run(result.run_dir)
    assert [int(r["epoch"]) for r in run.history] == [1, 2, 3]
    for name in ("config.json", "history.csv", "results.json", "train.log", "checkpoints/last.pt",
                 "checkpoints/best.pt"):
        assert (result.run_dir / name).is_file(), name
    r = run.results
    for key in ("test_accuracy", "test_macro_f1", "test_loss", "test_top5_accuracy", "per_class", "confusion_matrix",
                "train_seconds", "seconds_per_epoch", "train_images_per_second", "inference_images_per_second",
                "params_total", "params_trainable", "flops_per_image", "peak_memory_mb", "versions", "machine"):
        assert key in r, key
    assert r["status"] == "completed" and r["dataset"] == "digits" and r["seed"] == 3
    assert 0.0 <= r["test_accuracy"] <= 1.0
    assert np.asarray(r["confusion_matrix"]).sum() == 450  # the fixed digits test split
    assert r["flops_per_image"] > 0 and r["params_total"] == r["params_trainable"] > 0
    cfg = json.loads((result.run_dir / "config.json").read_text())
    assert cfg["lr"] is not None and cfg["optimizer"] in ("sgd", "adam", "adamw")  # resolved from the recipe
    assert cfg["dataset_info"]["train_size"] + cfg["dataset_info"]["val_size"] == 240


def test_same_seed_same_metrics_and_weights(tiny_cfg):
    a = train(tiny_cfg(epochs=2))
    b = train(tiny_cfg(epochs=2))
    assert a.run_dir != b.run_dir  # never overwritten
    assert a.results["test_accuracy"] == b.results["test_accuracy"]
    assert a.results["test_loss"] == b.results["test_loss"]
    sa, sb = _last_state(a.run_dir), _last_state(b.run_dir)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("model, kwargs", [("mlp_small", {}), ("cnn", {}), ("scratch_mlp", {"dropout": 0.2})])
def test_resume_gives_exactly_the_uninterrupted_weights(tiny_cfg, interrupted, model, kwargs):
    cfg = tiny_cfg(model=model, augment="shift", model_kwargs=kwargs)
    full = train(cfg)
    steps_per_epoch = int(np.ceil(216 / cfg.batch_size))  # 240 capped, 24 held out for validation
    backend_cls = backends.ScratchBackend if model.startswith("scratch") else backends.TorchBackend
    stopped = interrupted(cfg, backend_cls, steps_per_epoch + 2)  # Ctrl-C in epoch 2
    assert stopped.status == "interrupted"
    assert "visionbench train --resume" in stopped.message
    assert len(read_run(stopped.run_dir).history) == 1
    resumed = train(None, resume=stopped.run_dir)
    assert resumed.status == "completed" and resumed.run_dir == stopped.run_dir
    sa, sb = _last_state(full.run_dir), _last_state(resumed.run_dir)
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    assert resumed.results["test_accuracy"] == full.results["test_accuracy"]


def test_non_finite_loss_stops_with_status_diverged(tiny_cfg, monkeypatch):
    original = backends.TorchBackend.train_step
    calls = {"n": 0}

    def explode_in_epoch_2(self, x, y, *args):
        calls["n"] += 1
        loss, correct = original(self, x, y, *args)
        return (float("nan") if calls["n"] > 8 else loss), correct

    monkeypatch.setattr(backends.TorchBackend, "train_step", explode_in_epoch_2)
    result = train(tiny_cfg())
    assert result.status == "diverged"
    assert "epoch 2" in result.message and "lr" in result.message and "--lr" in result.message
    assert "\n" not in result.message
    run = read_run(result.run_dir)
    assert run.results["status"] == "diverged" and run.results["epochs_completed"] == 1
    assert (result.run_dir / "checkpoints" / "last.pt").is_file()  # the last good epoch is kept


def test_on_epoch_returning_true_prunes_the_run_after_that_epoch(tiny_cfg):
    rows = []

    def prune_at_epoch_2(row):
        rows.append(dict(row))
        return row["epoch"] == 2

    result = train(tiny_cfg(epochs=4), on_epoch=prune_at_epoch_2)
    assert result.status == "pruned" and "epoch 2" in result.message and "\n" not in result.message
    assert [r["epoch"] for r in rows] == [1, 2] and all(0.0 <= r["val_acc"] <= 1.0 for r in rows)
    run = read_run(result.run_dir)
    assert run.results["status"] == "pruned" and run.results["epochs_completed"] == 2 and len(run.history) == 2
    assert run.results["best_val_accuracy"] == max(r["val_acc"] for r in rows)
    assert run.results["test_accuracy"] is not None  # the best weights are tested, as for a diverged run
    meta = json.loads(torch.load(result.run_dir / "checkpoints" / "last.pt", weights_only=True)["meta"])
    assert meta["epoch"] == 2  # the pruned epoch is checkpointed


def test_really_too_high_learning_rate_diverges(tiny_cfg):
    result = train(tiny_cfg(model="mlp_small", optimizer="sgd", lr=1e12, momentum=0.9, schedule="constant",
                            model_kwargs={"batch_norm": False}))
    assert result.status == "diverged"


@pytest.mark.parametrize(
    "kw, option",
    [({"lr": 0.0}, "--lr"), ({"epochs": 0}, "--epochs"), ({"batch_size": 0}, "--batch-size"),
     ({"val_split": 1.0}, "--val-split"), ({"val_split": 0.0}, "--val-split")],
)
def test_impossible_hyper_parameters_fail_before_any_work(tiny_cfg, kw, option, tmp_path):
    with pytest.raises(ConfigError, match=option):
        train(tiny_cfg(**kw))
    assert not (tmp_path / "runs").exists()


def test_resume_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(RunError, match="not a run directory"):
        train(None, resume=tmp_path)


def test_resume_refuses_another_model(tiny_cfg):
    first = train(tiny_cfg(epochs=1))
    with pytest.raises(RunError, match="mlp_small"):
        train(tiny_cfg(model="cnn"), resume=first.run_dir)


def test_schedules_shape():
    total = 100
    assert lr_at(0, total, 1.0, "constant") == 1.0
    assert lr_at(60, total, 1.0, "step") == pytest.approx(0.1)
    assert lr_at(80, total, 1.0, "step") == pytest.approx(0.01)
    assert lr_at(0, total, 1.0, "cosine") == pytest.approx(1.0)
    assert lr_at(100, total, 1.0, "cosine") == pytest.approx(0.0)
    assert lr_at(4, total, 1.0, "cosine", warmup_steps=10) == pytest.approx(0.5)
    peak = max(lr_at(s, total, 1.0, "onecycle") for s in range(total))
    assert peak == pytest.approx(1.0) and lr_at(0, total, 1.0, "onecycle") == pytest.approx(0.04)


def test_backbone_lr_scale_zero_trains_only_the_head(tiny_cfg):
    from visionbench.models import create_model

    result = train(tiny_cfg(epochs=1, backbone_lr_scale=0.0))
    torch.manual_seed(3)  # the run's seed: the same initial weights
    initial = create_model("mlp_small", num_classes=10, in_chans=1, img_size=8).state_dict()
    final = _last_state(result.run_dir)
    assert torch.equal(final["features.1.weight"], initial["features.1.weight"])  # backbone Linear
    assert not torch.equal(final["head.weight"], initial["head.weight"])


def test_training_speed_counts_the_images_actually_seen(tiny_cfg):
    # 216 training images in batches of 32 are 7 steps an epoch; 10 steps end 3 steps into epoch 2.
    result = train(tiny_cfg(epochs=None, steps=10))
    r = result.results
    history = read_run(result.run_dir).history
    assert [int(h["steps"]) for h in history] == [7, 3]
    seen = 216 + 3 * 32
    assert r["train_images_per_second"] == pytest.approx(seen / r["train_seconds"], rel=0.05)  # seconds rounded


def test_a_run_being_trained_is_locked_and_a_second_resume_is_one_line(tiny_cfg, capsys):
    from visionbench.cli import main
    from visionbench.runs import lock_dir

    first = train(tiny_cfg(epochs=1))
    assert not (first.run_dir / ".lock").exists()  # released at the end
    before = (first.run_dir / "results.json").read_bytes()
    with lock_dir(first.run_dir):  # as a live training process holds it (a killed one would have lost it)
        assert read_run(first.run_dir).status == "running"
        assert main(["train", "--resume", str(first.run_dir)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {first.run_dir}: process ") and "is training this run now" in err
        assert err.count("\n") == 1
        with pytest.raises(RunError, match="is training this run now"):
            evaluate_run(first.run_dir)
    assert (first.run_dir / "results.json").read_bytes() == before  # untouched
    assert read_run(first.run_dir).status == "completed"


def test_a_read_only_output_folder_is_one_line_before_any_data_is_read(tiny_cfg, tmp_path, monkeypatch):
    import errno
    import os

    from visionbench import runs
    from visionbench.train import session

    def no_data(*args, **kwargs):
        raise AssertionError("data was loaded before the output folder was checked")

    def read_only(folder):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(session, "load_dataset", no_data)
    monkeypatch.setattr(runs, "_probe_write", read_only)  # the tests run as root, which writes anywhere
    with pytest.raises(RunError) as err:
        train(tiny_cfg())
    assert str(err.value) == (f"--output-dir {tmp_path}/runs: cannot write in {tmp_path} (Read-only file system); "
                              "the folder is read-only: choose another output folder")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(RunError, match="a-file is a file, not a folder; choose another output folder"):
        train(tiny_cfg(output_dir=str(tmp_path / "a-file" / "runs")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
    monkeypatch.undo()
    done = train(tiny_cfg(epochs=1))
    monkeypatch.setattr(runs, "_probe_write", read_only)
    with pytest.raises(RunError) as err:
        train(None, resume=done.run_dir)
    assert str(err.value) == (f"--resume {done.run_dir}: cannot write in {done.run_dir} (Read-only file system); "
                              "copy the folder somewhere writable and resume the copy")


def test_a_run_stopped_before_its_first_checkpoint_starts_again_in_its_folder(tiny_cfg):
    full = train(tiny_cfg(epochs=2))
    cut = train(tiny_cfg(epochs=2))
    # As if killed right after config.json: no checkpoint, no history, no results.
    for name in ("history.csv", "results.json", "train.log", "checkpoints/last.pt", "checkpoints/best.pt"):
        (cut.run_dir / name).unlink()
    (cut.run_dir / "checkpoints" / ".last.pt.k1ll.tmp").write_bytes(b"half a checkpoint")
    resumed = train(None, resume=cut.run_dir)
    assert resumed.status == "completed" and resumed.run_dir == cut.run_dir
    assert sorted(p.name for p in (cut.run_dir / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    sa, sb = _last_state(full.run_dir), _last_state(resumed.run_dir)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # With history but no checkpoint the run cannot be replayed: one line, nothing overwritten.
    (cut.run_dir / "checkpoints" / "last.pt").unlink()
    with pytest.raises(RunError, match="nothing to resume from: no checkpoint last.pt, though the run has trained"):
        train(None, resume=cut.run_dir)


def test_a_run_without_its_best_checkpoint_cannot_be_evaluated_or_probed(tiny_cfg):
    from visionbench.train.loop import load_run_session

    result = train(tiny_cfg(epochs=1))
    run, session, ckpt = load_run_session(result.run_dir)
    assert ckpt.name == "best.pt" and run.path == result.run_dir and session.cfg.model == "mlp_small"
    ckpt.unlink()
    for fn in (evaluate_run, load_run_session):
        with pytest.raises(RunError, match="no checkpoint best.pt; the run ended before its first epoch") as info:
            fn(result.run_dir)
        assert "\n" not in str(info.value)
