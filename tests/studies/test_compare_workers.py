"""Several workers finish one comparison together (issue 14, item 2): each run is claimed, trained once, and a
killed worker's run is resumed by another."""

from __future__ import annotations

import csv
import os
import re
import signal
from pathlib import Path

import pytest

from visionbench.errors import ConfigError
from visionbench.runs import find_runs, read_run
from visionbench.studies.compare import CompareConfig, plan_comparison, run_comparison, worker_context

TINY = {"max_train_samples": 150, "quiet": True, "threads": 1}
MODELS, SEEDS = ["scratch_linear", "mlp_small"], [0, 1]
NAMES = sorted(f"{m}-seed{s}" for m in MODELS for s in SEEDS)


def _config(tmp_path, epochs=1, isolate=False):
    return CompareConfig(dataset="digits", models=MODELS, seeds=SEEDS, epochs=epochs, output_dir=str(tmp_path),
                         name="cmp", isolate=isolate, train_overrides=TINY)


def _plan(tmp_path, epochs=1, isolate=False):
    return plan_comparison(_config(tmp_path, epochs, isolate))


def _join(out, die_on_first=None):
    """A worker process on ``out``; with ``die_on_first`` (a run name), the first worker to train that run is
    SIGKILLed at its epoch-2 checkpoint write (its temporary file written, not renamed), whichever worker it is."""
    if die_on_first:
        from visionbench.train import loop

        loop.CHECKPOINT_EVERY_SECONDS = 0.0
        rename, seen, marker = os.replace, {"n": 0}, Path(out) / "killed-once"

        def replace(src, dst, *args, **kwargs):
            dst = Path(dst)
            if die_on_first in dst.parts and dst.name.startswith("last"):
                seen["n"] += 1
                if seen["n"] == 3 and not marker.exists():
                    marker.touch()
                    os.kill(os.getpid(), signal.SIGKILL)
            rename(src, dst, *args, **kwargs)

        os.replace = replace
    run_comparison(CompareConfig(train_overrides={"quiet": True}), resume=out)


def _start(out, n, **kwargs):
    procs = [worker_context().Process(target=_join, args=(str(out),), kwargs=kwargs) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return sorted(p.exitcode for p in procs)


def _trained_once(out, epochs=1):
    """Every planned run has one folder, completed, whose log shows one training from epoch 1."""
    runs = out / "runs"
    assert sorted(p.name for p in runs.iterdir()) == NAMES  # one folder per (model, seed), none suffixed -2
    for name in NAMES:
        run = read_run(runs / name)
        assert run.status == "completed", name
        assert [int(h["epoch"]) for h in run.history] == list(range(1, epochs + 1))
        log = (runs / name / "train.log").read_text()
        assert len(re.findall(r"from epoch 1$", log, re.M)) == 1, name
        assert len(re.findall(rf"^.*epoch 1/{epochs} ", log, re.M)) == 1, name
    assert not [p for p in out.rglob("*") if p.name == ".lock" or p.name.endswith(".tmp")]  # no claim left held
    with (out / "comparison_summary.csv").open() as f:
        assert {r["model"]: r["n_seeds"] for r in csv.DictReader(f)} == {m: "2" for m in MODELS}


def test_two_worker_processes_finish_one_comparison_each_run_once(tmp_path):
    out = _plan(tmp_path)
    assert _start(out, 2) == [0, 0]
    _trained_once(out)
    assert "still being trained" not in (out / "comparison.md").read_text()


def test_workers_option_starts_local_workers_on_a_new_comparison(tmp_path):
    result = run_comparison(_config(tmp_path), workers=2)
    out = result.out_dir
    assert out.parent == tmp_path and (out / "plan.json").is_file()
    assert sorted(r.run_dir.name for r in result.runs) == NAMES and {r.status for r in result.runs} == {"completed"}
    assert result.pending == []
    _trained_once(out)


def test_a_killed_workers_run_is_resumed_by_another_from_its_checkpoint(tmp_path):
    out = _plan(tmp_path, epochs=3)
    victim = "mlp_small-seed0"
    assert _start(out, 2, die_on_first=victim) == [-signal.SIGKILL, 0]
    assert (out / "killed-once").is_file()
    runs = out / "runs"
    assert sorted(p.name for p in runs.iterdir()) == NAMES
    log = (runs / victim / "train.log").read_text()
    assert "from epoch 1" in log and "from epoch 2" in log  # resumed from its epoch-1 checkpoint, not retrained
    assert [int(h["epoch"]) for h in read_run(runs / victim).history] == [1, 2, 3]
    assert all(read_run(p).status == "completed" for p in find_runs(runs))
    for name in NAMES:
        if name != victim:
            log = (runs / name / "train.log").read_text()
            assert len(re.findall(r"from epoch 1$", log, re.M)) == 1 and "from epoch 2" not in log, name
    assert not [p for p in out.rglob("*") if p.name == ".lock" or p.name.endswith(".tmp")]


def test_a_killed_worker_takes_its_training_process_with_it_and_the_run_is_resumed(tmp_path):
    # isolate=True: the worker trains in a child process. Killed, the worker loses its claim; its child must end too
    # (else it would train on unclaimed while another worker resumes the same run).
    import time

    from visionbench.runs import lock_owner

    cc = CompareConfig(dataset="digits", models=["mlp_small"], seeds=[0], epochs=60, output_dir=str(tmp_path),
                       name="cmp", train_overrides={**TINY, "max_train_samples": 1000})
    out = plan_comparison(cc)
    run = out / "runs" / "mlp_small-seed0"
    worker = worker_context().Process(target=_join, args=(str(out),))
    worker.start()
    deadline = time.monotonic() + 60

    def trained_one_epoch():
        log = run / "train.log"
        return log.is_file() and " epoch 1/60 " in log.read_text()

    while not trained_one_epoch() and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(worker.pid, signal.SIGKILL)  # after its first epoch, long before its last
    worker.join()
    while lock_owner(run) is not None and time.monotonic() < deadline:  # its child dies with it
        time.sleep(0.05)
    assert lock_owner(run) is None and read_run(run).status == "incomplete"
    run_comparison(CompareConfig(train_overrides={"quiet": True}), resume=out)
    log = (run / "train.log").read_text()
    # Resumed in its own folder from its last checkpoint (here the initial one: checkpoints are every 10 s).
    assert len(re.findall(r"from epoch \d+$", log, re.M)) == 2
    assert [int(h["epoch"]) for h in read_run(run).history] == list(range(1, 61))
    assert read_run(run).status == "completed" and sorted(p.name for p in (out / "runs").iterdir()) == [run.name]


def test_the_cli_runs_two_workers_and_refuses_workers_with_existing_runs(tmp_path, capsys):
    from visionbench.cli import main

    out = tmp_path / "cmp"
    assert main(["compare", "--models", "scratch_linear", "--seeds", "0,1", "--steps", "3", "--threads", "1",
                 "--quiet", "--workers", "2", "--output-dir", str(out)]) == 0
    (cmp_dir,) = out.iterdir()
    assert sorted(p.name for p in (cmp_dir / "runs").iterdir()) == ["scratch_linear-seed0", "scratch_linear-seed1"]
    capsys.readouterr()
    assert main(["compare", str(cmp_dir / "runs" / "scratch_linear-seed0"), "--workers", "2"]) == 2
    assert "--workers trains new runs" in capsys.readouterr().err


def test_workers_joining_with_their_own_log_to_log_every_run_they_train(tmp_path, capsys):
    # --log-to is the joiner's own choice (not the plan's), and it reaches the worker processes --workers starts.
    from visionbench.cli import main

    out = _plan(tmp_path)
    plan = (out / "plan.json").read_text()
    assert main(["compare", "--resume", str(out), "--workers", "2", "--log-to", "tensorboard", "--quiet"]) == 0
    _trained_once(out)
    for name in NAMES:
        assert list((out / "runs" / name / "tensorboard").glob("events.out.tfevents.*")), name
    assert (out / "plan.json").read_text() == plan


def _files(out):
    return {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}


def _kept(out, flags):
    return (f"{flags}: the comparison in {out} keeps the options it was planned with; drop {flags} (or start a new "
            f"comparison without --resume/--join)")


@pytest.mark.parametrize(("given", "flags"), [
    ({"models": ["cnn"], "seeds": [9], "train_overrides": {"batch_size": 4}}, "--models, --seeds, --batch-size"),
    ({"dataset": "mnist"}, "--dataset"), ({"epochs": 2}, "--epochs"), ({"steps": 5}, "--steps"),
    ({"time_budget": 3.0}, "--time-budget"), ({"seeds": (1,), "workers": 2}, "--seeds"),
    ({"train_overrides": {"max_train_samples": 99, "quiet": True, "log_to": ("tensorboard",)}},
     "--max-train-samples"),
    ({"train_overrides": {"device": "cpu"}}, "--device"),
    ({"train_overrides": {"dataset_options": {"a": 1}}}, "--dataset-option"),
])
def test_a_joining_worker_cannot_change_the_options_the_comparison_keeps(tmp_path, given, flags):
    # They used to be ignored in silence (the old plan ran and was reported): nothing is done or written now.
    out = _plan(tmp_path)
    before = _files(out)
    workers = given.pop("workers", 1)
    with pytest.raises(ConfigError) as err:
        run_comparison(CompareConfig(**given), resume=out, workers=workers)
    assert str(err.value) == _kept(out, flags)
    assert _files(out) == before


def test_a_joining_worker_may_repeat_the_plan_and_the_defaults(tmp_path, monkeypatch):
    # The plan's own values (tuples or lists), the defaults (which cannot be told from "not given") and the worker's
    # own options are not refused; --isolate is the default while the plan says --no-isolate.
    from visionbench.studies import compare

    out = _plan(tmp_path)
    taken = []
    monkeypatch.setattr(compare, "_train_missing", lambda cc, *a, **kw: taken.append(cc) or ([], []))
    same = CompareConfig(dataset="digits", models=tuple(MODELS), seeds=tuple(SEEDS), epochs=1, isolate=True,
                         output_dir="elsewhere", name="other",
                         train_overrides={**TINY, "threads": 2, "quiet": False, "log_to": ("tensorboard",),
                                          "download": False, "data_dir": "/data/here"})
    run_comparison(same, resume=out, report=False)
    (cc,) = taken
    # Where this machine keeps the data and how many cores it gives are its own, like --quiet and --log-to.
    assert cc.isolate is False and list(cc.models) == MODELS and cc.train_overrides == {
        **TINY, "threads": 2, "quiet": False, "log_to": ("tensorboard",), "data_dir": "/data/here"}


def test_the_cli_refuses_options_a_joined_comparison_keeps_in_one_line(tmp_path, capsys):
    from visionbench.cli import main

    out = _plan(tmp_path)
    before = _files(out)
    for flag in ("--resume", "--join"):
        assert main(["compare", flag, str(out), "--seeds", "7", "--models", "cnn"]) == 2
        assert capsys.readouterr().err == f"error: {_kept(out, '--models, --seeds')}\n"
    assert main(["compare", "--join", str(out), "--no-isolate", "--epochs", "1", "--max-train-samples", "150",
                 "--threads", "2", "--device", "cpu"]) == 2
    assert capsys.readouterr().err == f"error: {_kept(out, '--device')}\n"  # the plan's values and own ones pass
    assert _files(out) == before
