"""Several workers finish one study together (issue 14, item 2): each part is claimed and done once, a part that
reads another waits for it, a killed worker's part is done by another, a worker helps with the runs of a comparison
part another worker holds, and the report is the one a single worker makes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from visionbench.cli import main
from visionbench.errors import ConfigError
from visionbench.runs import read_run, try_lock
from visionbench.studies import _study, run_study
from visionbench.studies._runner import plan_study
from visionbench.studies.compare import CompareConfig, plan_comparison, worker_context

#: A quick NumPy study of seven parts: manual-seed0..2, sgd-seed0..2 (each reads its seed's manual part), sigma.
STUDY = "diy-nonlinear"
PARTS = {f"{kind}-seed{s}" for kind in ("manual", "sgd") for s in (0, 1, 2)} | {"sigma"}


def _numbers(out: Path) -> tuple[list, dict]:
    """What a report says, without the timings: the summary's rows, and each part's values, tables and data."""
    summary = json.loads((out / "summary.json").read_text())
    parts = {p.stem: {k: v for k, v in json.loads(p.read_text()).items() if k != "seconds"}
             for p in (out / "parts").glob("*.json")}
    return summary["rows"], parts


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    """The study done by one worker, as before workers existed."""
    result = run_study(STUDY, quick=True, out=tmp_path_factory.mktemp("one"))
    return _numbers(result.out_dir)


def _no_lock_left(out: Path) -> None:
    assert not [p for p in out.rglob("*") if p.name == ".lock" or p.name.endswith(".tmp")]
    assert not list((out / ".workers").iterdir())


def _done_by(outputs: list[str]) -> Counter:
    """How many times each part was done to its end: started ("running") less given back ("waits for part")."""
    done: Counter = Counter()
    for text in outputs:
        done.update(re.findall(r"^(\S+): running", text, re.M))
        done.subtract(re.findall(r"^(\S+): waits for part", text, re.M))
    return done


# What each CLI worker runs: the CLI, where no part is saved before both workers have done one (a barrier, not a
# sleep: however slowly the second process starts, the first holds its first part until the second has done one).
LAUNCHER = """
import os, sys, time
from pathlib import Path
from visionbench.studies import _study
marks, write = Path(os.environ["VB_MARKS"]), _study.write_json
def write_json(path, obj):
    if Path(path).parent.name == "parts":
        (marks / str(os.getpid())).touch()
        deadline = time.monotonic() + 150  # a worker that never comes: the test fails, it does not hang
        while len(list(marks.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    write(path, obj)
_study.write_json = write_json
from visionbench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_two_cli_workers_share_a_study_each_part_once_with_one_workers_numbers(tmp_path, one_worker):
    out = plan_study(STUDY, quick=True, out=tmp_path)
    launcher, marks = tmp_path / "launch.py", tmp_path / "marks"
    launcher.write_text(LAUNCHER)
    marks.mkdir()
    cmd = [sys.executable, str(launcher), "study", "run", STUDY, "--join", str(out), "--quiet"]
    env = {**os.environ, "VB_MARKS": str(marks), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert len(list(marks.iterdir())) == 2  # both workers did a part: they ran at the same time
    each = [_done_by([o]) for o, _ in outputs]
    assert all(sum(done.values()) >= 1 for done in each), outputs
    assert each[0] + each[1] == Counter({name: 1 for name in PARTS})
    assert _numbers(out) == one_worker
    meta = json.loads((out / "study.json").read_text())
    assert meta["status"] == "completed" and len(meta["resumed_with"]) == 2 and meta["quick"] is True
    _no_lock_left(out)


def _hold(out: Path, part: str):
    """Claim ``part`` as another worker doing it would."""
    claim_dir = out / _study.CLAIMS_DIR / f"part-{part}"
    claim_dir.mkdir(parents=True)
    return try_lock(claim_dir)


def test_a_held_part_and_the_part_that_reads_it_are_left_then_done_once_it_is_free(tmp_path, one_worker):
    out = plan_study(STUDY, quick=True, out=tmp_path)
    claim = _hold(out, "manual-seed0")  # sgd-seed0 reads it (data_of)
    said: list[str] = []
    first = run_study(STUDY, resume=out, wait=False, echo=said.append)
    assert first.pending == ["manual-seed0", "sgd-seed0"] and first.summary == {}
    assert said == [f"manual-seed0: another worker has it (process {os.getpid()})",
                    "sgd-seed0: waits for part manual-seed0 (another worker has it)"]
    assert {p.stem for p in (out / "parts").glob("*.json")} == PARTS - {"manual-seed0", "sgd-seed0"}
    assert json.loads((out / "study.json").read_text())["status"] == "running"  # the claim's worker is on it
    claim.release()
    ran: list[tuple[str, bool]] = []
    second = run_study(STUDY, resume=out, on_part=lambda name, done: ran.append((name, done)))
    assert second.pending == [] and second.summary["status"] == "completed"
    assert [name for name, done in ran if not done] == ["manual-seed0", "sgd-seed0"]
    assert {name for name, done in ran if done} == PARTS - {"manual-seed0", "sgd-seed0"}
    assert _numbers(out) == one_worker
    _no_lock_left(out)


def test_a_waiting_worker_tries_a_waiting_part_again_only_once_its_part_is_saved(tmp_path, monkeypatch, one_worker):
    # wait=True: the worker passes through the study until manual-seed0 is free; sgd-seed0, given back on the first
    # pass, is not started again (and given back again) on a pass where manual-seed0 is still held.
    from visionbench.studies import _workers

    out = plan_study(STUDY, quick=True, out=tmp_path)
    claim = _hold(out, "manual-seed0")
    passes: list[list[str]] = []

    def end_of_pass(out_dir, quiet, runner):  # _help: called after each pass that left parts to others
        passes.append(list(runner.held))
        if len(passes) == 2:
            claim.release()

    monkeypatch.setattr(_workers, "_help", end_of_pass)
    monkeypatch.setattr(_workers, "POLL_SECONDS", 0.0)
    started: list[str] = []
    result = run_study(STUDY, resume=out, on_part=lambda name, done: None if done else started.append(name))
    assert passes == [["manual-seed0", "sgd-seed0"]] * 2
    assert started == ["manual-seed1", "manual-seed2", "sgd-seed0", "sgd-seed1", "sgd-seed2", "sigma",  # pass 1
                       "manual-seed0", "sgd-seed0"]  # pass 3 (pass 2 started nothing)
    assert result.summary["status"] == "completed" and _numbers(out) == one_worker
    _no_lock_left(out)


def _worker(out: str, die_writing: str | None = None) -> None:
    """A worker process on ``out``; with ``die_writing`` (a part), the first worker to finish that part is SIGKILLed
    as it saves it (the work done, parts/<part>.json not yet written), whichever worker it is."""
    if die_writing:
        write, marker = _study.write_json, Path(out) / "killed-once"

        def write_json(path, obj):
            if Path(path).name == f"{die_writing}.json" and not marker.exists():
                marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)
            write(path, obj)

        _study.write_json = write_json
    run_study(STUDY, resume=out)


def test_a_killed_workers_part_is_done_by_the_other_worker(tmp_path, one_worker):
    # manual-seed0 is read by sgd-seed0: the survivor waits for it, then takes it over from the dead worker.
    out = plan_study(STUDY, quick=True, out=tmp_path)
    procs = [worker_context().Process(target=_worker, args=(str(out), "manual-seed0")) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert sorted(p.exitcode for p in procs) == [-signal.SIGKILL, 0]
    assert (out / "killed-once").is_file()
    assert {p.stem for p in (out / "parts").glob("*.json")} == PARTS
    assert _numbers(out) == one_worker
    assert json.loads((out / "study.json").read_text())["status"] == "completed"
    _no_lock_left(out)  # the dead worker's claim and registration are gone too


def test_workers_option_starts_local_workers_on_a_new_study(tmp_path, one_worker):
    result = run_study(STUDY, quick=True, out=tmp_path, workers=2)
    assert result.out_dir.parent == tmp_path and result.summary["status"] == "completed"
    assert _numbers(result.out_dir) == one_worker
    _no_lock_left(result.out_dir)


def test_a_waiting_worker_trains_runs_of_the_comparison_another_worker_holds(tmp_path):
    # The main study is one comparison part: a second worker shares its runs instead of waiting idle.
    from visionbench.studies import main as main_study

    out = plan_study("main", quick=True, out=tmp_path)
    (out / _study.CLAIMS_DIR / "part-comparison").mkdir(parents=True)
    part_claim = try_lock(out / _study.CLAIMS_DIR / "part-comparison")  # as the worker doing the part would
    cmp_dir = plan_comparison(CompareConfig(
        dataset="digits", models=main_study.QUICK_MODELS, seeds=[0], steps=main_study.QUICK_STEPS,
        output_dir=str(out), name=main_study.COMPARISON, isolate=False, train_overrides={"quiet": True}))
    (cmp_dir / ".claims" / "mlp_small-seed0").mkdir(parents=True)
    run_claim = try_lock(cmp_dir / ".claims" / "mlp_small-seed0")  # ... while it trains its first run
    helper = run_study("main", resume=out, wait=False)
    assert helper.pending == ["comparison"] and helper.summary == {}
    assert sorted(p.name for p in (cmp_dir / "runs").iterdir()) == ["scratch_linear-seed0"]
    assert read_run(cmp_dir / "runs" / "scratch_linear-seed0").status == "completed"
    assert json.loads((out / "study.json").read_text())["status"] == "running"  # the part's worker is on it
    run_claim.release()
    part_claim.release()
    result = run_study("main", resume=out)  # the part's worker again: the helper's run is kept, not retrained
    assert result.summary["status"] == "completed"
    assert sorted(p.name for p in (cmp_dir / "runs").iterdir()) == ["mlp_small-seed0", "scratch_linear-seed0"]
    log = (cmp_dir / "runs" / "scratch_linear-seed0" / "train.log").read_text()
    assert len(re.findall(r"from epoch 1$", log, re.M)) == 1
    assert {r["key"] for r in result.summary["rows"]} == {"mlp_small_test_accuracy", "scratch_linear_test_accuracy"}


@pytest.mark.parametrize(("args", "words"), [
    (["--workers", "0"], ["--workers 0", "1 or more"]),
    (["--workers", "two"], ["--workers", "integer"]),
    (["--join", "{out}", "--seeds", "1"], ["--seeds", "keeps the options"]),
    (["--join", "{out}", "--quick"], ["--quick", "keeps the options"]),
])
def test_cli_refuses_bad_worker_options_in_one_line(tmp_path, capsys, args, words):
    out = plan_study(STUDY, quick=True, out=tmp_path / "planned")
    before = sorted(tmp_path.rglob("*"))
    try:
        code = main(["study", "run", STUDY, "--out", str(tmp_path), *[a.format(out=out) for a in args]])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and all(w in err for w in words), err
    assert sorted(tmp_path.rglob("*")) == before  # nothing made, nothing joined


@pytest.mark.parametrize(("given", "flag"), [
    ({"quick": True, "seeds": [1]}, "--quick"), ({"full": True}, "--full"), ({"seeds": [1]}, "--seeds"),
    ({"dataset": "digits"}, "--dataset"), ({"data_dir": "data"}, "--data-dir"), ({"weights": "w.pt"}, "--weights"),
])
def test_a_joining_worker_cannot_change_the_options_the_study_keeps(tmp_path, given, flag):
    # The library refuses them as the CLI does (they used to be ignored in silence): nothing is done or recorded.
    out = plan_study(STUDY, quick=True, out=tmp_path)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError) as err:
        run_study(STUDY, resume=out, **given)
    assert str(err.value) == (f"{flag}: the study in {out} keeps the options it was started with; drop {flag} "
                              f"(or start a new study without --resume/--join)")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
