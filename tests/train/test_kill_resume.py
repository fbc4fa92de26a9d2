"""SIGKILL a training run at random moments and inside a checkpoint write, resume it, repeat: its final weights,
optimiser state, BatchNorm statistics, history and test metrics are bit-identical to a run never stopped, and
nothing half-written is left (issue 13, item 3). Two trials per engine here; ``benchmarks/kill_resume.py`` runs five
and prints the counts. The harness is ``kill_harness.py`` beside this file."""

from __future__ import annotations

import kill_harness as kh
import pytest

from visionbench.cli import main

ENGINES = sorted(kh.ENGINES)


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """One uninterrupted run per engine, trained in a child like the trials: (its folder, the child's seconds)."""
    root = tmp_path_factory.mktemp("uninterrupted")
    return {engine: kh.reference(engine, root / engine) for engine in ENGINES}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("engine", ENGINES)
def test_a_run_killed_at_random_moments_ends_bit_identical(references, engine, seed, tmp_path):
    ref, lifetime = references[engine]
    trial = kh.trial(engine, tmp_path, ref, lifetime, seed=seed)
    assert trial.errors == []
    assert trial.differences == []  # every tensor, history.csv (but its seconds), the test metrics; nothing left over
    assert trial.kills_in_write == 1 and trial.kills >= 1
    assert (tmp_path / "run" / "results.json").is_file() and sorted(p.name for p in tmp_path.iterdir()) == [
        "log", "run"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_run_killed_before_its_first_checkpoint_restarts_in_its_folder(references, engine, tmp_path, capsys):
    ref, _ = references[engine]
    run_dir, suffix = tmp_path / "run", ".npz" if engine == "numpy" else ".pt"
    # Killed while writing config.json: a folder with no configuration (and the temporary file of config.json).
    proc = kh.start(kh.fresh_argv(engine, tmp_path), tmp_path / "log", die_before="config.json")
    proc.join()
    assert proc.exitcode == -9 and not (run_dir / "config.json").exists()
    assert any(p.name.startswith(".config.json.") for p in run_dir.iterdir())
    assert main(kh.resume_argv(run_dir)) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {run_dir}: nothing to resume, the run was stopped before it wrote config.json; start it "
                   "again (with the same --run-name it reuses this folder) or delete the folder\n")
    # The same command again reuses the folder; killed this time while writing the epoch-0 checkpoint.
    proc = kh.start(kh.fresh_argv(engine, tmp_path), tmp_path / "log", die_before=f"last{suffix}")
    proc.join()
    assert proc.exitcode == -9 and (run_dir / "config.json").is_file()
    assert not (run_dir / "checkpoints" / f"last{suffix}").exists()
    proc = kh.start(kh.resume_argv(run_dir), tmp_path / "log")  # starts again from the initial weights
    proc.join()
    assert proc.exitcode == 0, (tmp_path / "log").read_text()[-400:]
    assert kh.compare(ref, run_dir, tmp_path) == []
