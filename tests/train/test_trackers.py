"""--log-to tensorboard|mlflow: what each tracker receives, read back with the tracker's own reader, against the run
directory; resume into the same tracker runs; failures; nothing imported without --log-to."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from visionbench.errors import ConfigError, RunError
from visionbench.train import TrainConfig, backends, train
from visionbench.train.trackers import TRACKERS_FILE, metric_name

# Looked up, not imported: MLflow decides at import whether to send telemetry, and here no test runs yet.
pytestmark = pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("tensorboard", "mlflow")),
                                reason="the tensorboard and mlflow extras are not installed")

COLUMNS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "steps")  # history.csv's


def _history(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def _scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return acc, {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _mlflow_run(run_dir):
    from mlflow.tracking import MlflowClient

    state = json.loads((run_dir / TRACKERS_FILE).read_text())["mlflow"]
    client = MlflowClient(tracking_uri=state["tracking_uri"])
    return client, client.get_run(state["run_id"])


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch):
    # MLflow 3 sends usage telemetry unless told not to (or it sees a CI or pytest variable); tests never touch the
    # network. Read at each event, so setting it here is early enough (training children inherit it).
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "trackers-test")
    return uri


def test_metric_names_group_by_split():
    assert [metric_name(c) for c in ("train_loss", "val_acc", "val_map50", "train_loss_box_reg", "lr")] == \
        ["train/loss", "val/acc", "val/map50", "train/loss_box_reg", "lr"]


def test_tensorboard_scalars_equal_history_csv(tiny_cfg):
    result = train(tiny_cfg(log_to=("tensorboard",)))
    assert result.status == "completed"
    acc, scalars = _scalars(result.run_dir / "tensorboard")
    history = _history(result.run_dir)
    assert len(history) == 3
    for column in COLUMNS:
        steps, values = zip(*scalars[metric_name(column)])
        assert list(steps) == [1, 2, 3], column
        np.testing.assert_allclose(values, [float(r[column]) for r in history], rtol=1e-6, err_msg=column)
    assert scalars["results/test_accuracy"] == [(3, pytest.approx(result.results["test_accuracy"], rel=1e-6))]
    assert scalars["results/params_total"][0][1] == result.results["params_total"]
    assert "config/text_summary" in acc.Tags()["tensors"]
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")


def test_mlflow_gets_params_epochs_results_and_status(tiny_cfg, mlflow_store):
    result = train(tiny_cfg(log_to=("mlflow",)))
    client, run = _mlflow_run(result.run_dir)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "trackers-test"
    params = run.data.params
    assert params["model"] == "mlp_small" and params["seed"] == "3" and params["batch_size"] == "32"
    assert params["budget.steps"] == str(result.results["steps"]) and params["log_to"] == '["mlflow"]'
    tags = run.data.tags
    assert (tags["model"], tags["dataset"], tags["seed"], tags["status"]) == ("mlp_small", "digits", "3", "completed")
    assert tags["run_dir"] == str(result.run_dir.resolve())
    history = _history(result.run_dir)
    for column in COLUMNS:
        got = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, metric_name(column)))
        assert [s for s, _ in got] == [1, 2, 3], column
        np.testing.assert_allclose([v for _, v in got], [float(r[column]) for r in history], rtol=1e-12)
    metrics = run.data.metrics
    for key in ("test_accuracy", "test_macro_f1", "test_loss", "train_seconds", "params_total"):
        assert metrics[key] == pytest.approx(result.results[key], rel=1e-12), key
    assert "seed" not in metrics and "epochs" not in metrics  # configuration, sent as parameters


def test_resume_goes_on_in_the_same_tracker_runs_without_repeating_epochs(tiny_cfg, interrupted, monkeypatch,
                                                                          mlflow_store):
    # No checkpoint after epoch 0 until the end: the stopped run has sent epochs 1 and 2, which the resumed one trains
    # again from the epoch-0 checkpoint.
    monkeypatch.setattr("visionbench.train.loop.CHECKPOINT_EVERY_SECONDS", 1e9)
    cfg = tiny_cfg(epochs=4, log_to=("tensorboard", "mlflow"))
    steps_per_epoch = int(np.ceil(216 / cfg.batch_size))  # 240 capped, about a tenth held out
    stopped = interrupted(cfg, backends.TorchBackend, 2 * steps_per_epoch + 2)  # Ctrl-C in epoch 3
    assert stopped.status == "interrupted"
    client, run = _mlflow_run(stopped.run_dir)
    assert run.info.status == "KILLED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val/acc")] == [1, 2]
    first_id = run.info.run_id

    resumed = train(None, resume=stopped.run_dir)
    assert resumed.status == "completed"
    client, run = _mlflow_run(resumed.run_dir)
    assert run.info.run_id == first_id and run.info.status == "FINISHED"
    assert len(client.search_runs([run.info.experiment_id])) == 1
    history = _history(resumed.run_dir)
    for column in ("val_acc", "train_loss"):
        got = sorted((m.step, m.value) for m in client.get_metric_history(first_id, metric_name(column)))
        assert [s for s, _ in got] == [1, 2, 3, 4]
        np.testing.assert_allclose([v for _, v in got], [float(r[column]) for r in history], rtol=1e-12)
    _, scalars = _scalars(resumed.run_dir / "tensorboard")
    for column in ("val_acc", "train_loss", "seconds"):  # seconds differ between the runs: the newer ones count
        steps, values = zip(*scalars[metric_name(column)])
        assert list(steps) == [1, 2, 3, 4], column
        np.testing.assert_allclose(values, [float(r[column]) for r in history], rtol=1e-6, err_msg=column)
    assert [s for s, _ in scalars["results/test_accuracy"]] == [4]


def test_default_mlflow_store_is_beside_the_runs(tiny_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    result = train(tiny_cfg(epochs=1, log_to=("mlflow",)))
    assert (tmp_path / "runs" / "mlruns" / "mlflow.db").is_file()
    client, run = _mlflow_run(result.run_dir)
    assert client.get_experiment(run.info.experiment_id).name == "digits"
    assert run.info.status == "FINISHED"


def test_a_tracker_failing_during_training_warns_once_and_the_run_goes_on(tiny_cfg, monkeypatch, mlflow_store,
                                                                           capsys):
    from visionbench.train import trackers

    def down(self, row):
        raise ConnectionError("server went away\nsecond line")

    monkeypatch.setattr(trackers._MLflow, "log_epoch", down)
    result = train(tiny_cfg(log_to=("mlflow", "tensorboard")))
    assert result.status == "completed"
    warned = [line for line in capsys.readouterr().err.splitlines() if "--log-to mlflow" in line]
    assert warned == ["warning: --log-to mlflow: sending epoch 1 failed (server went away); the run goes on without "
                      "mlflow (its run directory has every number)"]
    assert "sending epoch 1 failed" in (result.run_dir / "train.log").read_text()
    _, scalars = _scalars(result.run_dir / "tensorboard")  # the other tracker got everything
    assert [s for s, _ in scalars["val/acc"]] == [1, 2, 3]
    _, run = _mlflow_run(result.run_dir)
    assert run.info.status == "FAILED"  # dropped: closed as an unfinished run


def test_a_tracker_that_cannot_open_stops_the_run_in_one_line_before_training(tiny_cfg, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://nowhere")
    calls = {"n": 0}
    original = backends.TorchBackend.train_step

    def counted(self, x, y):
        calls["n"] += 1
        return original(self, x, y)

    monkeypatch.setattr(backends.TorchBackend, "train_step", counted)
    with pytest.raises(RunError) as err:
        train(tiny_cfg(log_to=("mlflow",)))
    message = str(err.value)
    assert "\n" not in message and message.startswith("--log-to mlflow: cannot open it at nosuchscheme://nowhere (")
    assert "visionbench train --resume" in message
    assert calls["n"] == 0


def test_a_tracker_failing_to_open_after_another_keeps_the_first_for_the_resume(tiny_cfg, monkeypatch, tmp_path,
                                                                                 mlflow_store):
    from visionbench.train import trackers

    def broken(self, *args):
        raise ImportError("tensorboard is broken here")

    with monkeypatch.context() as m:
        m.setattr(trackers._TensorBoard, "__init__", broken)
        with pytest.raises(RunError, match=r"^--log-to tensorboard: cannot open it \(tensorboard is broken here\)"):
            train(tiny_cfg(epochs=1, log_to=("mlflow", "tensorboard")))
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if (p / "config.json").is_file()]
    _, run = _mlflow_run(run_dir)
    assert run.info.status == "FAILED"
    resumed = train(None, resume=run_dir)
    assert resumed.status == "completed"
    client, again = _mlflow_run(run_dir)
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    assert len(client.search_runs([run.info.experiment_id])) == 1


def test_a_missing_package_is_one_line_before_any_data_is_loaded(tiny_cfg, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed

    def no_data(*args, **kwargs):
        raise AssertionError("data loaded")

    monkeypatch.setattr("visionbench.train.loop.build_session", no_data)
    with pytest.raises(ConfigError, match=r"^--log-to mlflow needs the mlflow package: pip install "
                                          r"'visionbench\[mlflow\]' \(or drop --log-to mlflow\)$"):
        train(tiny_cfg(log_to=("mlflow",)))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    from visionbench.cli import main

    assert main(["train", "--model", "mlp_small", "--log-to", "tensorboard,mlflow", "--output-dir",
                 str(tmp_path / "cli")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'visionbench[mlflow]'" in err


def test_log_to_names_are_checked_and_read_from_files():
    with pytest.raises(ConfigError, match=r"--log-to tensorbord: unknown tracker.*did you mean: tensorboard\?"):
        TrainConfig(log_to=("tensorbord",)).validate()
    with pytest.raises(ConfigError, match="--log-to must be a list of names"):
        TrainConfig(log_to=3).validate()  # type: ignore[arg-type]
    assert TrainConfig(log_to="tensorboard, mlflow").log_to == ("tensorboard", "mlflow")  # type: ignore[arg-type]
    assert TrainConfig.from_dict({"log_to": ["mlflow", "mlflow"]}).log_to == ("mlflow",)  # config.json's list
    assert TrainConfig().log_to == ()


def test_log_to_does_not_make_runs_different_experiments():
    from visionbench.report.fingerprint import fingerprint
    from visionbench.sweep import SweepConfig, _signature

    config = TrainConfig(model="cnn", seed=1).to_dict()
    assert fingerprint(config) == fingerprint({**config, "log_to": ["mlflow"]})  # report grouping
    plain = SweepConfig(model="cnn", space="s.yaml", base={"epochs": 2})
    logged = SweepConfig(model="cnn", space="s.yaml", base={"epochs": 2, "log_to": ("tensorboard",)})
    assert _signature(plain, []) == _signature(logged, [])  # a sweep process joining with another --log-to
    elsewhere = SweepConfig(model="cnn", space="s.yaml", base={"epochs": 2, "data_dir": "/data", "threads": 4})
    assert _signature(plain, []) == _signature(elsewhere, [])  # ... or from a machine with its data elsewhere


def test_a_comparison_joiner_logs_where_it_is_told(tiny_cfg, tmp_path):
    from visionbench.studies.compare import CompareConfig, plan_comparison, run_comparison

    overrides = {k: v for k, v in tiny_cfg().to_dict().items()
                 if k in ("batch_size", "max_train_samples", "quiet", "threads")}
    out = plan_comparison(CompareConfig(models=["mlp_small"], seeds=[0], epochs=1, isolate=False,
                                        output_dir=str(tmp_path / "cmp"), train_overrides=overrides))
    joined = run_comparison(CompareConfig(train_overrides={"quiet": True, "log_to": ("tensorboard",)}), resume=out)
    (run,) = joined.runs
    assert run.status == "completed"
    assert json.loads((run.run_dir / "config.json").read_text())["log_to"] == ["tensorboard"]
    assert (run.run_dir / "tensorboard").is_dir()
    assert joined.report  # the report groups it like any run of the plan


def test_without_log_to_no_tracker_module_is_imported(tmp_path):
    code = ("import sys\nfrom visionbench.train import TrainConfig, train\n"
            f"r = train(TrainConfig(model='mlp_small', epochs=1, max_train_samples=120, quiet=True, threads=1, "
            f"output_dir={str(tmp_path)!r}))\n"
            "print(r.status, [m for m in ('mlflow', 'tensorboard', 'torch.utils.tensorboard') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "completed []", proc.stderr[-2000:]


def test_a_logged_run_is_evaluated_where_the_tracker_is_not_installed(tiny_cfg, monkeypatch):
    from visionbench.train import evaluate_run

    run = train(tiny_cfg(epochs=1, log_to=("tensorboard",)))
    assert run.status == "completed"
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # another machine, without the package
    assert evaluate_run(run.run_dir)["test_accuracy"] == run.results["test_accuracy"]


def test_resuming_a_logged_run_without_the_package_says_to_install_it(tiny_cfg, interrupted, monkeypatch):
    stopped = interrupted(tiny_cfg(log_to=("tensorboard",)), backends.TorchBackend, 9)
    assert stopped.status == "interrupted"
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ConfigError, match=r"^--resume .*: the run sends its epochs to a tracker, and --log-to "
                                          r"tensorboard needs the tensorboard package: pip install "
                                          r"'visionbench\[tensorboard\]'$"):
        train(None, resume=stopped.run_dir)


def test_the_default_store_is_opened_under_its_folder_lock(tmp_path):
    import os

    from visionbench import runs
    from visionbench.train import trackers

    with trackers._locked(tmp_path):  # what a second worker opening the same store waits for
        assert runs.lock_owner(tmp_path) == os.getpid() and runs.try_lock(tmp_path) is None
    assert runs.lock_owner(tmp_path) is None and not (tmp_path / runs.LOCK_NAME).exists()
    with trackers._locked(None):  # the user's own tracking URI: nothing to lock
        assert not any(tmp_path.iterdir())
