"""Strict grouping: the fingerprint, refusing mixed configurations or data, --allow-mixed rows, duplicate seeds."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from report_fakes import BASE_CONFIG, FakeRun

from visionbench.errors import ConfigError
from visionbench.report import build_comparison_report, fingerprint
from visionbench.report.fingerprint import FINGERPRINT_KEYS


def test_fingerprint_ignores_seed_and_machine_but_not_hyper_parameters() -> None:
    base = {**BASE_CONFIG, "model": "cnn", "seed": 1}
    fp, facts = fingerprint(base)
    assert len(fp) == 10 and int(fp, 16) >= 0
    assert facts["dataset_info.train_size"] == 90 and facts["lr"] == 0.1
    # seed, device, threads and command are not part of it; key order does not matter
    other = dict(reversed(list({**base, "seed": 7, "device": "cuda", "threads": 8, "command": "x"}.items())))
    assert fingerprint(other)[0] == fp
    assert fingerprint({**base, "lr": 0.01})[0] != fp
    assert fingerprint({**base, "model_kwargs": {"drop_rate": 0.1}})[0] != fp
    assert fingerprint({**base, "dataset_info": {**base["dataset_info"], "test_size": 31}})[0] != fp


def test_fingerprint_missing_keys_are_none() -> None:
    fp, facts = fingerprint({"model": "cnn", "dataset": "toy", "epochs": 3})
    assert set(facts) == set(FINGERPRINT_KEYS)
    assert facts["warmup_steps"] is None and facts["dataset_info.val_size"] is None
    assert fingerprint({"model": "cnn", "dataset": "toy", "epochs": 3, "warmup_steps": None})[0] == fp


def test_time_budget_leaves_steps_and_epochs_out() -> None:
    a = {**BASE_CONFIG, "time_budget": 60, "steps": 120, "epochs": 2}
    b = {**BASE_CONFIG, "time_budget": 60, "steps": 340, "epochs": 5}
    assert fingerprint(a)[0] == fingerprint(b)[0]
    assert "steps" not in fingerprint(a)[1] and "epochs" not in fingerprint(a)[1]
    assert fingerprint({**a, "time_budget": 30})[0] != fingerprint(a)[0]
    # without a time budget the step count matters
    assert fingerprint({**BASE_CONFIG, "steps": 120})[0] != fingerprint({**BASE_CONFIG, "steps": 340})[0]


def test_one_model_with_two_configurations_is_refused(tmp_path: Path, fake_run: FakeRun) -> None:
    runs = [fake_run(tmp_path, "cnn", 1, 0.9), fake_run(tmp_path, "cnn", 2, 0.8, config={"lr": 0.01})]
    with pytest.raises(ConfigError) as err:
        build_comparison_report(runs, tmp_path / "cmp")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("cnn: runs differ in lr (0.1 in cnn-s1, 0.01 in cnn-s2)")
    assert "--allow-mixed" in msg
    assert not (tmp_path / "cmp" / "comparison.md").exists()


def test_first_differing_key_is_named(tmp_path: Path, fake_run: FakeRun) -> None:
    runs = [fake_run(tmp_path, "cnn", 1, 0.9),
            fake_run(tmp_path, "cnn", 2, 0.8, config={"lr": 0.01, "batch_size": 64, "epochs": 5})]
    with pytest.raises(ConfigError, match=r"runs differ in epochs \(3 in cnn-s1, 5 in cnn-s2\)"):
        build_comparison_report(runs, tmp_path / "cmp")


def test_models_on_different_data_are_refused(tmp_path: Path, fake_run: FakeRun) -> None:
    info = {**BASE_CONFIG["dataset_info"], "test_size": 50}
    runs = [fake_run(tmp_path, "cnn", 1, 0.9), fake_run(tmp_path, "mlp", 1, 0.8, config={"dataset_info": info})]
    with pytest.raises(ConfigError) as err:
        build_comparison_report(runs, tmp_path / "cmp")
    msg = str(err.value)
    assert "\n" not in msg and "different data" in msg
    assert "dataset_info.test_size is 50 for mlp" in msg and "30 for cnn" in msg and "--allow-mixed" in msg


def test_different_hyper_parameters_across_models_are_fine(tmp_path: Path, fake_run: FakeRun) -> None:
    runs = [fake_run(tmp_path, "cnn", 1, 0.9), fake_run(tmp_path, "mlp", 1, 0.8, config={"lr": 0.001})]
    report = build_comparison_report(runs, tmp_path / "cmp")
    assert [a["config"] for a in report["summary"]] == ["", ""]
    assert report["warnings"] == []


def test_input_size_differing_across_models_is_a_note_not_a_warning(tmp_path: Path, fake_run: FakeRun) -> None:
    # The main job's normal case: a ViT sees 8x8 digits resized to 16x16.
    runs = [fake_run(tmp_path, "cnn", 1, 0.9), fake_run(tmp_path, "vit", 1, 0.8, config={"img_size": 16})]
    report = build_comparison_report(runs, tmp_path / "cmp")
    assert report["warnings"] == []
    head = report["markdown"].split("## Plots")[0]
    assert "> Note:" in head and "img_size" in head and "cnn 8" in head and "vit 16" in head


def test_allow_mixed_gives_one_row_per_configuration(tmp_path: Path, fake_run: FakeRun) -> None:
    runs = [
        fake_run(tmp_path, "cnn", 1, 0.90),
        fake_run(tmp_path, "cnn", 2, 0.92),
        fake_run(tmp_path, "cnn", 1, 0.80, config={"lr": 0.01}, name="cnn-lr-s1"),
        fake_run(tmp_path, "mlp", 1, 0.70),
    ]
    report = build_comparison_report(runs, tmp_path / "cmp", allow_mixed=True)
    rows = {(a["model"], a["config"]): a for a in report["summary"]}
    assert set(rows) == {("cnn", "lr=0.1"), ("cnn", "lr=0.01"), ("mlp", "")}
    assert rows[("cnn", "lr=0.1")]["n_seeds"] == 2 and rows[("cnn", "lr=0.01")]["n_seeds"] == 1
    assert rows[("cnn", "lr=0.1")]["test_accuracy_mean"] == pytest.approx(0.91)
    md = report["markdown"]
    assert "| Model | Config | Runs |" in md
    assert any(line.startswith("| cnn | lr=0.01 | 1 |") for line in md.splitlines())
    with (tmp_path / "cmp" / "comparison_summary.csv").open(newline="") as f:
        assert {(r["model"], r["config"]) for r in csv.DictReader(f)} == set(rows)


def test_allow_mixed_labels_the_data_that_differs(tmp_path: Path, fake_run: FakeRun) -> None:
    runs = [fake_run(tmp_path, "cnn", 1, 0.9), fake_run(tmp_path, "mlp", 1, 0.8, config={"max_train_samples": 50})]
    report = build_comparison_report(runs, tmp_path / "cmp", allow_mixed=True)
    labels = {a["model"]: a["config"] for a in report["summary"]}
    assert labels == {"cnn": "max_train_samples=—", "mlp": "max_train_samples=50"}
    assert all(a["vs_best_diff_mean"] is None for a in report["summary"])  # no paired test across different data


def test_duplicate_seed_is_counted_once_and_warned(tmp_path: Path, fake_run: FakeRun) -> None:
    runs = [
        fake_run(tmp_path / "a", "cnn", 1, None, status="interrupted"),  # first by path, but not completed
        fake_run(tmp_path / "b", "cnn", 1, 0.90),
        fake_run(tmp_path / "c", "cnn", 1, 0.50),  # completed too, later by path: dropped
        fake_run(tmp_path / "a", "cnn", 2, 0.94),
    ]
    report = build_comparison_report(runs, tmp_path / "cmp")
    (agg,) = report["summary"]
    assert agg["n_seeds"] == 2 and agg["n_flagged"] == 0
    assert agg["test_accuracy_mean"] == pytest.approx(0.92)
    (warning,) = report["warnings"]
    assert "seed 1 appears 3 times" in warning and "counted once, from b/cnn-s1" in warning
    assert warning in report["markdown"]
    counted = {r["path"]: r["counted"] for r in report["rows"]}
    assert counted == {str(runs[0]): False, str(runs[1]): True, str(runs[2]): False, str(runs[3]): True}
    assert "duplicate of seed 1 in b/cnn-s1, not counted" in report["markdown"]


def test_failed_run_is_listed_with_its_message_and_not_averaged(tmp_path: Path, fake_run: FakeRun) -> None:
    runs = [
        fake_run(tmp_path, "cnn", 1, 0.90),
        fake_run(tmp_path, "cnn", 2, 0.94),
        fake_run(tmp_path, "cnn", 3, None, status="diverged", message="loss is nan at epoch 1 step 3 | lr 0.1"),
    ]
    report = build_comparison_report(runs, tmp_path / "cmp")
    (agg,) = report["summary"]
    assert agg["n_seeds"] == 2 and agg["test_accuracy_mean"] == pytest.approx(0.92)
    line = next(x for x in report["markdown"].splitlines() if "| 3 | **diverged**" in x)
    assert "loss is nan at epoch 1 step 3 \\| lr 0.1" in line  # the pipe is escaped, the table stays whole
    with (tmp_path / "cmp" / "comparison.csv").open(newline="") as f:
        by_seed = {r["seed"]: r for r in csv.DictReader(f)}
    assert by_seed["3"]["status"] == "diverged" and by_seed["3"]["message"].startswith("loss is nan")
