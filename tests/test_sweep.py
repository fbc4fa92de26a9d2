"""`visionbench sweep`: an Optuna study of tiny digits runs (SQLite storage, a second process joining it, pruning,
best.yaml handed back to `visionbench train --config`), and one-line errors for bad search spaces."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

optuna = pytest.importorskip("optuna")

from visionbench.cli import main  # noqa: E402
from visionbench.errors import ConfigError  # noqa: E402
from visionbench.runs import read_run  # noqa: E402
from visionbench.sweep import SweepConfig, load_space, run_sweep, tpe_sampler  # noqa: E402

SPACE = "lr: {low: 1e-4, high: 1, log: true}\nbatch_size: [16, 32, 64]\nweight_decay: {low: 0, high: 1e-3}\n"
TINY = ["--epochs", "2", "--max-train-samples", "200", "--threads", "1", "--quiet"]


@pytest.fixture
def space(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(SPACE)
    return path


def _trials(storage, name):
    return optuna.load_study(study_name=name, storage=storage).trials


def test_six_trials_write_a_sqlite_study_sweep_json_and_a_best_yaml_that_train_accepts(tmp_path, space, capsys):
    out = tmp_path / "sweeps"
    assert main(["sweep", "--model", "mlp_small", "--space", str(space), "--trials", "6", "--study-name", "s6",
                 "--seed", "1", "--out", str(out), *TINY]) == 0
    folder = out / "s6"
    trials = _trials(f"sqlite:///{folder / 'optuna.db'}", "s6")
    assert len(trials) == 6 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert len({(t.params["lr"], t.params["batch_size"]) for t in trials}) == 6  # the sampler draws, not repeats
    assert all(1e-4 <= t.params["lr"] <= 1 and t.params["batch_size"] in (16, 32, 64) for t in trials)
    sweep = json.loads((folder / "sweep.json").read_text())
    assert [t["number"] for t in sweep["trials"]] == list(range(6))
    for entry, trial in zip(sweep["trials"], trials):
        run = read_run(folder / entry["run_dir"])
        assert entry["run_dir"] == f"runs/trial-{trial.number:04d}" and run.config["lr"] == trial.params["lr"]
        # The pruner saw the validation curve, and the objective is its best value: never the test set.
        assert trial.intermediate_values == {int(r["epoch"]): r["val_acc"] for r in run.history}
        if trial.state.name == "COMPLETE":
            assert trial.value == max(r["val_acc"] for r in run.history) == run.results["best_val_accuracy"]
    best = max((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    assert sweep["best"]["number"] == best.number and sweep["best"]["params"] == best.params
    assert "Best trial" in (folder / "sweep.md").read_text() and (folder / "sweep.html").is_file()
    assert f"best: trial {best.number}" in capsys.readouterr().out

    # best.yaml is a config file `visionbench train --config` accepts, with the best trial's values.
    assert main(["train", "--config", str(folder / "best.yaml"), "--output-dir", str(tmp_path / "runs")]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    config = read_run(run_dir).config
    assert (config["model"], config["lr"], config["batch_size"]) == ("mlp_small", best.params["lr"],
                                                                     best.params["batch_size"])
    assert config["epochs"] == 2 and config["max_train_samples"] == 200


def test_a_second_process_joining_the_same_storage_adds_trials_to_the_study(tmp_path, space):
    storage = f"sqlite:///{tmp_path / 'same.db'}"
    base = dict(epochs=1, max_train_samples=200, threads=1, quiet=True)
    first = run_sweep(SweepConfig(model="mlp_small", space=str(space), trials=1, storage=storage, study_name="same",
                                  out=str(tmp_path / "sweeps"), base=base))
    assert len(first.trials) == len(_trials(storage, "same")) == 1
    cmd = [sys.executable, "-m", "visionbench", "sweep", "--model", "mlp_small", "--space", str(space), "--trials",
           "2", "--storage", storage, "--study-name", "same", "--out", str(tmp_path / "sweeps"), "--epochs", "1",
           "--max-train-samples", "200", "--threads", "1", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr
    trials = _trials(storage, "same")
    assert len(trials) == 3 and [t.number for t in trials] == [0, 1, 2]
    assert trials[1].params != trials[0].params  # the joining process does not replay the first one's draws
    sweep = json.loads((tmp_path / "sweeps" / "same" / "sweep.json").read_text())
    assert sorted(t["run_dir"] for t in sweep["trials"]) == [f"runs/trial-000{i}" for i in range(3)]

    # Joining with another search is refused in one line, before any trial.
    other = tmp_path / "other.yaml"
    other.write_text("lr: [0.1, 0.01]\n")
    with pytest.raises(ConfigError, match="another space") as err:
        run_sweep(SweepConfig(model="mlp_small", space=str(other), trials=1, storage=storage, study_name="same",
                              out=str(tmp_path / "sweeps"), base=base))
    assert "\n" not in str(err.value) and len(_trials(storage, "same")) == 3


def test_trial_n_draws_from_seed_and_n_whichever_process_runs_it():
    def x(trial):
        return trial.suggest_float("x", 0.0, 1.0)

    alone = optuna.create_study(sampler=tpe_sampler(5), direction="maximize")
    alone.optimize(x, n_trials=3)
    storage = optuna.storages.InMemoryStorage()
    a, b = (optuna.create_study(storage=storage, study_name="s", sampler=tpe_sampler(5), direction="maximize",
                                load_if_exists=True) for _ in range(2))
    ta, tb = a.ask(), b.ask()  # two workers starting together, same seed
    assert x(ta) != x(tb)
    a.tell(ta, x(ta))
    b.tell(tb, x(tb))
    a.optimize(x, n_trials=1)
    assert [t.params for t in a.trials] == [t.params for t in alone.trials]


def test_a_pruner_that_stops_every_trial_leaves_pruned_runs_and_no_best(tmp_path, space):
    result = run_sweep(SweepConfig(model="mlp_small", space=str(space), trials=2, study_name="p",
                                   out=str(tmp_path), base=dict(epochs=3, max_train_samples=200, threads=1,
                                                                quiet=True)),
                       pruner=optuna.pruners.ThresholdPruner(lower=1.1))  # no accuracy reaches 1.1
    assert [t["state"] for t in result.trials] == ["pruned", "pruned"] and result.best is None
    for t in result.trials:
        run = read_run(tmp_path / "p" / t["run_dir"])
        assert run.results["status"] == "pruned" and run.results["epochs_completed"] == 1
    assert not (tmp_path / "p" / "best.yaml").exists()
    assert "No trial has completed yet" in (tmp_path / "p" / "sweep.md").read_text()


@pytest.mark.parametrize("text, words", [
    ("lr: {low: 1e-4, high: 1}\nweight_decy: [0.1]\n", ["'weight_decy'", "did you mean: weight_decay"]),
    ("lr: {low: 1, high: 0.1}\n", ["lr:", "low <= high"]),
    ("lr: {low: 0, high: 1, log: true}\n", ["lr:", "log range needs low > 0"]),
    ("lr: {min: 0.1, max: 1}\n", ["lr:", "unknown key 'max'"]),
    ("lr: [0.1, 0]\n", ["lr:", "--lr must be a positive number"]),
    ("optimizer: {low: 0, high: 1}\n", ["optimizer:", "list of choices"]),
    ("optimizer: [sgd, adamx]\n", ["optimizer:", "must be one of"]),
    ("epochs: [1, 2]\n", ["epochs is not searched", "--epochs"]),
    ("optimizer: sgd\n", ["nothing to search"]),
    ("lr: [0.1\n", ["cannot parse"]),
    ("- lr\n", ["expected a mapping"]),
])
def test_a_bad_space_file_is_one_line_naming_the_file_and_the_key(tmp_path, capsys, text, words):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_space(path)
    message = str(err.value)
    assert message.startswith(f"--space {path}:") and "\n" not in message
    for word in words:
        assert word in message
    assert main(["sweep", "--model", "mlp_small", "--space", str(path), "--out", str(tmp_path / "sw")]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "sw").exists()


@pytest.mark.parametrize("args, words", [
    (["--model", "mlp_smal"], ["unknown model 'mlp_smal'", "did you mean"]),
    (["--model", "mlp_small", "--storage", "nosuchdb://x"], ["--storage nosuchdb://x: cannot open"]),
    (["--model", "mlp_small", "--trials", "0"], ["--trials must be >= 1"]),
    (["--model", "mlp_small", "--epochs", "2", "--steps", "9"], ["give one budget"]),
])
def test_bad_sweep_options_are_one_line_and_leave_no_folder(tmp_path, space, capsys, args, words):
    assert main(["sweep", *args, "--space", str(space), "--out", str(tmp_path / "sw"), "--study-name", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and all(w in err for w in words), err
    assert not (tmp_path / "sw" / "x").exists()


def test_space_values_are_read_as_their_field_types(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"warmup-steps": {"low": 0, "high": 20, "step": 5}, "lr": ["1e-3", 0.01],
                                "optimizer": "sgd"}))
    params = {p.name: p for p in load_space(path)}
    assert (params["warmup_steps"].kind, params["warmup_steps"].low, params["warmup_steps"].step) == ("int", 0, 5)
    assert params["lr"].choices == (1e-3, 0.01) and params["optimizer"].choices == ("sgd",)


def test_the_sweep_help_imports_neither_optuna_nor_torch():
    code = ("import sys\nfrom visionbench.cli import main\ntry:\n    main(['sweep', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint('optuna' in sys.modules, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip().splitlines()[-1] == "False False"
