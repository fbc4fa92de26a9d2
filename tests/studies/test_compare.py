"""compare: several models and seeds into one comparison directory, the report, resume, existing runs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from visionbench.cli import main
from visionbench.errors import ConfigError
from visionbench.runs import find_runs, read_run
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


# --- killed, diverged and live runs on resume (issue 13, items 3-5) ----------------------------------------------

def _killing_comparison(cc, victim, die_on):
    """Run ``cc`` in this (child) process with a checkpoint every epoch, and SIGKILL it at the atomic write of
    ``runs/<victim>/<die_on>`` (``config.json``, or ``checkpoints/last.*`` for its third write: epoch 2)."""
    import os
    import signal
    from pathlib import Path

    from visionbench.train import loop

    loop.CHECKPOINT_EVERY_SECONDS = 0.0
    rename, seen = os.replace, {"n": 0}

    def replace(src, dst, *args, **kwargs):
        dst = Path(dst)
        if victim in dst.parts and dst.name.startswith(die_on):
            seen["n"] += 1
            if die_on == "config.json" or seen["n"] == 3:
                os.kill(os.getpid(), signal.SIGKILL)  # its temporary file written, not renamed
        rename(src, dst, *args, **kwargs)

    os.replace = replace
    run_comparison(cc)


def _record_jobs(monkeypatch):
    from visionbench.studies import compare

    jobs, real = [], compare.train_job

    def recording(job, *, isolate=True):
        jobs.append(("resume", Path(job["resume"]).name) if "resume" in job else ("new", job["config"]["run_name"]))
        return real(job, isolate=isolate)

    monkeypatch.setattr(compare, "train_job", recording)
    return jobs


def _leftovers(folder):
    return [p.relative_to(folder) for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name == ".lock"]


@pytest.mark.parametrize("die_on", ["checkpoints/last", "config.json"], ids=["during-training", "at-its-start"])
def test_a_killed_comparison_resumes_the_killed_run_and_trains_only_the_missing_ones(tmp_path, monkeypatch, die_on):
    from visionbench.studies.compare import worker_context

    cc = CompareConfig(dataset="digits", models=["scratch_linear", "mlp_small"], seeds=[0, 1], epochs=3,
                       output_dir=str(tmp_path), name="cmp", isolate=False, train_overrides=TINY)
    proc = worker_context().Process(target=_killing_comparison, args=(cc, "mlp_small-seed0", die_on.split("/")[-1]))
    proc.start()
    proc.join()
    assert proc.exitcode == -9
    out = tmp_path / "cmp"
    victim = out / "runs" / "mlp_small-seed0"
    assert victim.is_dir() and _leftovers(out)  # a temporary file of the write it died in, a dead .lock
    done = {p.name: (p / "results.json").stat().st_mtime_ns for p in find_runs(out / "runs") if p != victim}
    assert sorted(done) == ["scratch_linear-seed0", "scratch_linear-seed1"]
    jobs = _record_jobs(monkeypatch)
    result = run_comparison(CompareConfig(), resume=out)
    if die_on == "config.json":  # the folder held nothing: the run starts again, in that folder
        assert jobs == [("new", "mlp_small-seed0"), ("new", "mlp_small-seed1")]
    else:  # resumed from its epoch-1 checkpoint, not trained afresh
        assert jobs == [("resume", "mlp_small-seed0"), ("new", "mlp_small-seed1")]
        assert "from epoch 2" in (victim / "train.log").read_text()
    assert {p.name: (p / "results.json").stat().st_mtime_ns for p in find_runs(out / "runs") if p != victim} == {
        **done, "mlp_small-seed1": (out / "runs" / "mlp_small-seed1" / "results.json").stat().st_mtime_ns}
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "mlp_small-seed0", "mlp_small-seed1", "scratch_linear-seed0", "scratch_linear-seed1"]  # one folder each
    assert _leftovers(out) == []
    assert [int(h["epoch"]) for h in read_run(victim).history] == [1, 2, 3]
    assert {r["model"]: r["n_seeds"] for r in _csv(out / "comparison_summary.csv")} == {"scratch_linear": "2",
                                                                                         "mlp_small": "2"}
    assert len(result.runs) == 4


def _csv(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def test_a_diverged_run_is_retried_on_resume_and_counted_once(tmp_path, monkeypatch):
    from visionbench.train import backends

    cc = CompareConfig(dataset="digits", models=["scratch_linear", "mlp_small"], seeds=[0], epochs=2,
                       output_dir=str(tmp_path), name="cmp", isolate=False, train_overrides=TINY)
    real_step = backends.TorchBackend.train_step

    def nan_step(self, x, y, *args):
        loss, stats = real_step(self, x, y, *args)
        return float("nan"), stats

    monkeypatch.setattr(backends.TorchBackend, "train_step", nan_step)
    first = run_comparison(cc)
    out = first.out_dir
    assert read_run(out / "runs" / "mlp_small-seed0").status == "diverged"
    monkeypatch.setattr(backends.TorchBackend, "train_step", real_step)
    jobs = _record_jobs(monkeypatch)
    run_comparison(cc, resume=out)
    assert jobs == [("new", "mlp_small-seed0")]  # the diverged run only, trained again
    assert read_run(out / "retired" / "mlp_small-seed0").status == "diverged"  # kept, out of the report's sight
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["mlp_small-seed0", "scratch_linear-seed0"]
    rows = _csv(out / "comparison.csv")
    assert sorted((r["model"], r["seed"], r["status"]) for r in rows) == [
        ("mlp_small", "0", "completed"), ("scratch_linear", "0", "completed")]
    assert "**diverged**" not in (out / "comparison.md").read_text()  # no row for the retired run
    assert [p.name for p in find_runs(out)] == ["mlp_small-seed0", "scratch_linear-seed0"]  # compare RUN_DIR too
    assert find_runs(out / "retired") == [out / "retired" / "mlp_small-seed0"]  # unless asked for
    jobs.clear()
    run_comparison(cc, resume=out)
    assert jobs == [] and sorted(p.name for p in (out / "retired").iterdir()) == ["mlp_small-seed0"]


def test_a_run_being_trained_is_never_touched_by_compare_or_counted_by_report(tmp_path, monkeypatch, capsys):
    from visionbench.runs import lock_dir

    cc = CompareConfig(dataset="digits", models=["scratch_linear"], seeds=[0, 1], epochs=1, output_dir=str(tmp_path),
                       name="cmp", isolate=False, train_overrides=TINY)
    out = run_comparison(cc).out_dir
    live = out / "runs" / "scratch_linear-seed1"
    (live / "results.json").unlink()  # as during its training: no results yet
    before = sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file())
    jobs = _record_jobs(monkeypatch)
    with lock_dir(live):  # held as the live process training it holds it
        # A comparison that finds it held does not wait (wait=False): it names it and its report says so.
        result = run_comparison(cc, resume=out, wait=False)
        assert result.pending == ["scratch_linear-seed1"] and jobs == []
        assert "still being trained (scratch_linear-seed1)" in (out / "comparison.md").read_text()
        assert main(["report", str(out)]) == 0
        capsys.readouterr()
        rows = {r["seed"]: r for r in _csv(out / "comparison.csv")}
        assert rows["1"]["status"] == "running" and rows["0"]["status"] == "completed"
        (summary,) = _csv(out / "comparison_summary.csv")
        assert summary["n_seeds"] == "1"  # the live run is not averaged
        md = (out / "comparison.md").read_text()
        assert "still being trained (scratch_linear-seed1)" in md and "being trained by process" in md
    files = sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file())
    assert [f for f in files if f[0].parts[0] == "runs"] == [f for f in before if f[0].parts[0] == "runs"]
    run_comparison(cc, resume=out)  # the process "ended" without results: now it is resumed
    assert jobs == [("resume", "scratch_linear-seed1")]


def test_a_run_that_crashes_while_training_is_recorded_as_failed_in_its_own_folder(tmp_path, monkeypatch):
    from visionbench.train import backends

    def crash(self, x, y, *args):
        raise RuntimeError("a bug in a training step")

    monkeypatch.setattr(backends.TorchBackend, "train_step", crash)
    cc = CompareConfig(dataset="digits", models=["mlp_small"], seeds=[0], epochs=1, output_dir=str(tmp_path),
                       name="cmp", isolate=False, train_overrides=TINY)
    (result,) = run_comparison(cc).runs
    assert result.status == "failed" and result.message == "RuntimeError: a bug in a training step"
    runs_dir = tmp_path / "cmp" / "runs"
    assert [p.name for p in runs_dir.iterdir()] == ["mlp_small-seed0"]  # not a second folder for the failure
    run = read_run(runs_dir / "mlp_small-seed0")
    assert run.status == "failed" and run.config.get("engine") == "torch"  # the config train wrote, not the job's
    assert (run.path / "failure.log").is_file()


def test_compare_and_sweep_give_their_runs_the_same_data_options(monkeypatch, capsys):
    import visionbench.studies.compare as compare_mod
    import visionbench.sweep as sweep_mod

    given: list[tuple] = []

    def capture(config, **kwargs):  # what the CLI hands the library; then stop
        given.append((config, kwargs))
        raise RuntimeError("stop here")

    monkeypatch.setattr(compare_mod, "run_comparison", capture)
    monkeypatch.setattr(sweep_mod, "run_sweep", capture)
    flags = ["--dataset", "scenes:x", "--max-train-samples", "64", "--dataset-option", "train_scenes=20",
             "--epochs", "2"]
    assert main(["compare", "--models", " cnn, mlp,", "--workers", "2", "--output-dir", "somewhere", *flags]) != 0
    assert main(["sweep", "--model", "cnn", "--space", "space.yaml", *flags]) != 0
    (cc, kwargs), (sc, _) = given
    assert cc.models == ("cnn", "mlp") and kwargs["workers"] == 2 and cc.epochs == 2
    assert cc.train_overrides == {"max_train_samples": 64, "dataset_options": {"train_scenes": 20}}
    assert sc.base == {"max_train_samples": 64, "epochs": 2, "dataset_options": {"train_scenes": 20}}


@pytest.mark.parametrize(("value", "words"), [("two", "expected an integer, got 'two'"), ("0", "--workers 0")])
def test_compare_refuses_a_bad_worker_count_in_one_line(tmp_path, capsys, value, words):
    try:
        code = main(["compare", "--models", "cnn", "--workers", value, "--output-dir", str(tmp_path)])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and words in err, err
    assert not any(tmp_path.iterdir())


def test_a_joiner_that_does_not_retry_reads_only_the_runs_it_claims(tmp_path, monkeypatch):
    import visionbench.studies.compare as compare_mod
    from visionbench.runs import write_json

    out = tmp_path / "cmp"
    done = out / "runs" / "scratch_linear-seed0"
    done.mkdir(parents=True)
    write_json(done / "config.json", {"model": "scratch_linear", "dataset": "digits", "seed": 0})
    write_json(done / "results.json", {"status": "completed", "message": "fine"})

    def every_run(runs_dir):
        raise AssertionError("read every run of the comparison")

    monkeypatch.setattr(compare_mod, "_existing_runs", every_run)
    cc = CompareConfig(models=["scratch_linear"], seeds=[0])
    assert compare_mod._train_missing(cc, out, None, retry=False) == ([done], [])
    with pytest.raises(AssertionError, match="every run"):
        compare_mod._train_missing(cc, out, None, retry=True)
    result = compare_mod.run_result(done)
    assert (result.run_dir, result.status, result.message) == (done, "completed", "fine")
    assert compare_mod.run_result(done, "failed", "").status == "failed"
