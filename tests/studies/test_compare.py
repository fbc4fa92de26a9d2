"""compare: several models and seeds into one comparison directory, the report, resume, existing runs."""

from __future__ import annotations

import csv

import pytest

from visionbench.cli import main
from visionbench.errors import ConfigError
from visionbench.runs import find_runs
from visionbench.studies.compare import CompareConfig, compare_runs, run_comparison

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
    page = (out / "comparison.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and 'src="plots/' not in page  # every plot embedded
    assert "<table>" in page and "<script" not in page and "±" in page


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


def test_each_run_is_isolated_and_a_failing_run_does_not_stop_the_others(tmp_path):
    # img_size 4 is too small for resnet20 (it needs 8): that run fails inside its worker; the linear model trains.
    cc = CompareConfig(dataset="digits", models=["resnet20", "scratch_linear"], seeds=[0], steps=3,
                       output_dir=str(tmp_path), train_overrides={**TINY, "img_size": 4})
    result = run_comparison(cc)
    status = {r.run_dir.name.split("-seed")[0]: r.status for r in result.runs}
    assert status == {"resnet20": "failed", "scratch_linear": "completed"}
    failed = next(r for r in result.runs if r.status == "failed")
    assert "img_size" in failed.message and "\n" not in failed.message
    ok = next(r for r in result.runs if r.status == "completed")
    assert ok.results["run_memory_mb"] is not None and ok.results["peak_memory_mb"] > 0
    md = (result.out_dir / "comparison.md").read_text()
    assert "failed" in md and "img_size" in md


def test_a_time_budget_gives_each_model_its_own_steps(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Two seeds: their step counts differ (each is planned from its own probe), yet they average as one model.
    assert main(["compare", "--models", "scratch_linear,mlp_small", "--time-budget", "0.5", "--max-train-samples",
                 "150", "--quiet", "--threads", "1", "--seeds", "0,1", "--output-dir", "cmp"]) == 0
    out = capsys.readouterr().out
    assert "Steps" in out
    (target,) = (tmp_path / "cmp").iterdir()
    with (target / "comparison.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and all(int(float(r["steps_completed"])) >= 1 for r in rows)
    with (target / "comparison_summary.csv").open() as f:
        assert {r["model"]: r["n_seeds"] for r in csv.DictReader(f)} == {"scratch_linear": "2", "mlp_small": "2"}


def _train_runs(tmp_path, *extra_per_run):
    for i, extra in enumerate(extra_per_run):
        assert main(["train", "--model", "scratch_linear", "--steps", "3", "--max-train-samples", "150", "--quiet",
                     "--threads", "1", "--seed", str(i), "--output-dir", "runs", *extra]) == 0


def test_compare_refuses_mixed_runs_unless_allowed_and_report_rebuilds_in_place(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _train_runs(tmp_path, ["--lr", "0.01"], ["--lr", "0.02"])
    capsys.readouterr()
    assert main(["compare", "runs", "--output-dir", "cmp"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "lr" in err and "--allow-mixed" in err and "\n" not in err
    assert not (tmp_path / "cmp").exists() or not any((tmp_path / "cmp").iterdir())
    assert main(["compare", "runs", "--output-dir", "cmp", "--allow-mixed"]) == 0
    (target,) = (tmp_path / "cmp").iterdir()
    with (target / "comparison_summary.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 2  # one row per configuration
    md = (target / "comparison.md").read_text()
    assert f"visionbench report {target.relative_to(tmp_path)}" in md or "visionbench report" in md
    before = sorted(p.name for p in (tmp_path / "cmp").iterdir())
    (target / "comparison.md").unlink()
    capsys.readouterr()
    assert main(["report", str(target)]) == 0
    assert (target / "comparison.md").is_file()
    assert sorted(p.name for p in (tmp_path / "cmp").iterdir()) == before  # rebuilt in place, no new folder


def test_the_same_seed_twice_is_counted_once_with_a_warning(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _train_runs(tmp_path, [], [])  # seeds 0 and 1
    _train_runs(tmp_path, [])  # seed 0 again
    capsys.readouterr()
    assert main(["compare", "runs", "--output-dir", "cmp"]) == 0
    out = capsys.readouterr().out
    assert "warning" in out.lower()
    (target,) = (tmp_path / "cmp").iterdir()
    with (target / "comparison_summary.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["n_seeds"] == "2"


def test_compare_on_an_imagefolder_tree_names_its_folder_safely(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 4)):
        for label, shade in (("dark", 40), ("light", 210)):
            folder = tmp_path / "my data" / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(shade + rng.normal(0, 10, (8, 8)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels, mode="L").save(folder / f"{i}.png")
    cc = CompareConfig(dataset=f"imagefolder:{tmp_path / 'my data'}", models=["scratch_linear"], seeds=[0], steps=3,
                       output_dir=str(tmp_path / "cmp"), isolate=False,
                       train_overrides={"quiet": True, "threads": 1, "img_size": 8})
    result = run_comparison(cc)
    assert result.out_dir.parent == tmp_path / "cmp"
    assert result.out_dir.name.endswith("imagefolder-my_data")
    assert (result.out_dir / "comparison.md").is_file()
