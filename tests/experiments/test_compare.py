"""compare: several models and seeds into one comparison directory, the report, resume, existing runs."""

from __future__ import annotations

import csv

import pytest

from visionbench.cli import main
from visionbench.errors import ConfigError
from visionbench.experiments.compare import CompareConfig, compare_runs, run_comparison
from visionbench.runs import find_runs

TINY = {"max_train_samples": 150, "quiet": True, "threads": 1}


def test_compare_two_models_two_seeds(tmp_path):
    cc = CompareConfig(dataset="digits", models=["mlp_small", "scratch_linear"], seeds=[0, 1], epochs=1,
                       output_dir=str(tmp_path), train_overrides=TINY)
    result = run_comparison(cc)
    out = result.out_dir
    assert len(find_runs(out / "runs")) == 4
    for name in ("plan.json", "comparison.csv", "comparison_summary.csv", "comparison.md",
                 "plots/learning_curves.png", "plots/accuracy_vs_time.png", "plots/confusion_matrices.png"):
        assert (out / name).is_file(), name
    with (out / "comparison_summary.csv").open() as f:
        summary = list(csv.DictReader(f))
    assert {row["model"] for row in summary} == {"mlp_small", "scratch_linear"}
    assert all(row["n_seeds"] == "2" for row in summary)
    assert "±" in (out / "comparison.md").read_text()


def test_compare_resume_skips_finished_runs(tmp_path):
    cc = CompareConfig(dataset="digits", models=["mlp_small"], seeds=[0], epochs=1, output_dir=str(tmp_path),
                       train_overrides=TINY)
    first = run_comparison(cc)
    before = {p: (p / "results.json").stat().st_mtime_ns for p in find_runs(first.out_dir / "runs")}
    again = run_comparison(cc, resume=first.out_dir)
    assert again.out_dir == first.out_dir
    after = {p: (p / "results.json").stat().st_mtime_ns for p in find_runs(first.out_dir / "runs")}
    assert before == after  # nothing retrained


def test_unknown_model_fails_before_training(tmp_path):
    cc = CompareConfig(models=["mlp_small", "resnet2O"], output_dir=str(tmp_path), train_overrides=TINY)
    with pytest.raises(ConfigError, match="resnet20"):
        run_comparison(cc)
    assert not any(tmp_path.iterdir())


def test_compare_existing_runs_from_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for model in ("mlp_small", "scratch_linear"):
        assert main(["train", "--model", model, "--epochs", "1", "--max-train-samples", "150", "--quiet",
                     "--output-dir", "runs"]) == 0
    capsys.readouterr()
    assert main(["compare", "runs", "--output-dir", "cmp"]) == 0
    out = capsys.readouterr().out
    assert "mlp_small" in out and "scratch_linear" in out
    (target,) = (tmp_path / "cmp").iterdir()
    assert (target / "comparison.md").is_file()
    # A second report never overwrites the first.
    result = compare_runs([tmp_path / "runs"], output_dir=str(tmp_path / "cmp"))
    assert result.out_dir != target
