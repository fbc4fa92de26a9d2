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


def test_two_cli_workers_finish_a_study_each_part_once_with_one_workers_numbers(tmp_path, one_worker):
    out = plan_study(STUDY, quick=True, out=tmp_path)
    cmd = [sys.executable, "-m", "visionbench", "study", "run", STUDY, "--join", str(out), "--quiet"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert _done_by([o for o, _ in outputs]) == Counter({name: 1 for name in PARTS})
    assert _numbers(out) == one_worker
    meta = json.loads((out / "study.json").read_text())
    assert meta["status"] == "completed" and len(meta["resumed_with"]) == 2 and meta["quick"] is True
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
