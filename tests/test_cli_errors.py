"""Every bad input is one line `error: ...` on stderr, exit status 2, and nothing left behind; Ctrl-C resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from visionbench.cli import main


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("VISIONBENCH_DATA", str(tmp_path / "nodata"))
    monkeypatch.chdir(tmp_path)


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if "cache" not in p.parts}


def _fails_cleanly(capsys, tmp_path, argv, *fragments):
    before = _snapshot(tmp_path)
    with pytest.raises(SystemExit) if argv and argv[-1] == "--exit" else _no_raise():
        code = main([a for a in argv if a != "--exit"])
        assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert _snapshot(tmp_path) == before, "a failed command left files behind"


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _argparse_error(capsys, argv, *fragments):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "usage:" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.mark.parametrize("argv, fragments", [
    (["compare", "--seeds", "a,b"], ["--seeds", "0,1,2"]),
    (["compare", "--seeds", ","], ["--seeds"]),
    (["train", "--model", "cnn", "--epochs", "x"], ["--epochs", "integer"]),
    (["train", "--model", "cnn", "--lr", "inf"], ["--lr", "finite"]),
    (["train", "--model", "cnn", "--optimizer", "adm"], ["--optimizer"]),
    (["train", "--model", "cnn", "--model-arg", "=3"], ["--model-arg", "KEY=VALUE"]),
    (["train", "--no-such-flag"], ["--no-such-flag"]),
    (["compare", "--isolate", "--no-isolate", "--bogus"], ["--bogus"]),
])
def test_malformed_flags_are_one_line(capsys, argv, fragments):
    _argparse_error(capsys, argv, *fragments)


@pytest.mark.parametrize("argv, fragments", [
    (["train", "--model", "cnn", "--model-arg", "foo=1", "--quiet"], ["--model-arg foo", "cnn"]),
    (["train", "--model", "mlp", "--model-arg", "widths=\"abc\"", "--quiet"], ["--model-arg"]),
    (["train", "--model", "cnn", "--dataset", "nope", "--quiet"], ["nope"]),
    (["train", "--model", "cnn", "--dataset", "cifar10", "--quiet"], ["cifar10"]),
    (["train", "--model", "cnn", "--dataset", "imagefolder:does/not/exist", "--quiet"], ["does/not/exist"]),
    (["train", "--model", "cnn", "--epochs", "2", "--steps", "3"], ["--epochs", "--steps"]),
    (["train", "--model", "cnn", "--epochs", "2", "--time-budget", "3"], ["--epochs", "--time-budget"]),
    (["train", "--config", "missing.yaml"], ["missing.yaml"]),
    (["train", "--resume", "no/such/run"], ["no/such/run"]),
    (["evaluate", "no/such/run"], ["no/such/run"]),
    (["compare", "--dataset", "cifar10", "--models", "cnn"], ["cifar10"]),
    (["compare", "--dataset", "imagefolder:/no/such/tree", "--models", "cnn"], ["/no/such/tree"]),
    (["compare", "--models", "cnn,nope"], ["nope"]),
    (["compare", "--models", "cnn,cnn"], ["twice"]),
    (["compare", "--models", "cnn", "--epochs", "1", "--steps", "2"], ["--epochs", "--steps"]),
    (["compare", "no/such/dir"], ["no/such/dir"]),
    (["compare", "--resume", "no/such/comparison"], ["no/such/comparison"]),
    (["report", "no/such/comparison"], ["no/such/comparison"]),
    (["models", "zzz*"], ["zzz*"]),
    (["models", "--dataset", "nope"], ["nope"]),
])
def test_bad_values_are_one_line_and_leave_nothing(capsys, tmp_path, argv, fragments):
    _fails_cleanly(capsys, tmp_path, argv, *fragments)


@pytest.mark.parametrize("content, fragments", [
    (b"epochs: \"5\"\n", ["--epochs", "integer"]),
    (b"epochs: 1.5\n", ["--epochs", "integer"]),
    (b"threads: 2.0\n", ["--threads", "integer"]),
    (b"quiet: \"false\"\n", ["--quiet", "true or false"]),
    (b"lr: .inf\n", ["--lr", "finite"]),
    (b"seed: null\n", ["--seed"]),
    (b"optimizer: adm\n", ["--optimizer", "adam"]),
    (b"model_kwargs: [1, 2]\n", ["model_kwargs", "mapping"]),
    (b"epochz: 3\n", ["epochz", "epochs"]),
    (b"- just\n- a list\n", ["mapping"]),
    (b"epochs: [1\n", ["cannot parse"]),
    (b"\xff\xfe\x00bad", ["UTF-8"]),
    # found by benchmarks/fuzz.py: each of these used to train with a value the file does not clearly say
    (b"epochs: 2\nlr: 0.1\nepochs: 30\n", ["'epochs' is given twice"]),
    (b"batch-size: 8\nbatch_size: 16\n", ["'batch_size' is given twice"]),
    (b"model_kwargs: {widths: [1], widths: [2]}\n", ["'widths' is given twice"]),
    (b"", ["empty"]),
    (b"# only a comment\n", ["mapping"]),
    (b"seed: 18446744073709551616\n", ["--seed", "64 bits"]),
    (b"epochs: 100000000000000000000000\n", ["--epochs", "64 bits"]),
])
def test_bad_config_files_are_one_line(capsys, tmp_path, content, fragments):
    (tmp_path / "run.yaml").write_bytes(content)
    _fails_cleanly(capsys, tmp_path, ["train", "--model", "cnn", "--config", "run.yaml"], *fragments)


@pytest.mark.parametrize("name, content", [
    ("run.json", b'{"epochs": 2, "lr": 0.1, "epochs": 30}'),
    ("run.toml", b"epochs = 2\nepochs = 30\n"),
    ("run.json", b"  \n"),
])
def test_repeated_keys_and_empty_files_in_json_and_toml(capsys, tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    _fails_cleanly(capsys, tmp_path, ["train", "--model", "cnn", "--config", name], name)


def test_help_texts_never_say_default_none(capsys):
    for command in ("train", "compare", "evaluate", "models", "report", "datasets", "download"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "(default: None)" not in out, command
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "(default: 0.1)" in out and "(default: runs)" in out


def test_verbose_shows_the_traceback_of_an_error():
    from visionbench.errors import ConfigError

    with pytest.raises(ConfigError):
        main(["--verbose", "train", "--model", "nope"])


def test_an_internal_error_is_one_line_without_verbose(capsys, monkeypatch):
    import visionbench.cli as cli

    def boom(args):
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(cli, "cmd_models", boom)
    parser_func = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser_func(), "models", boom))
    assert main(["models"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: internal error (RuntimeError: something broke)") and "\n" not in err


def _with_func(parser, command, func):
    for action in parser._subparsers._group_actions:
        action.choices[command].set_defaults(func=func)
    return parser


def _env() -> dict[str, str]:
    src = Path(__file__).resolve().parents[1] / "src"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")])
    return env


def test_ctrl_c_in_the_first_epoch_then_resume_finishes_the_run(tmp_path):
    # batch 1 makes the first epoch long (1,212 steps), so SIGINT lands inside it.
    cmd = [sys.executable, "-m", "visionbench", "train", "--model", "scratch_mlp", "--dataset", "digits",
           "--batch-size", "1", "--steps", "1400", "--threads", "1", "--quiet", "--output-dir", str(tmp_path / "runs")]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "runs").glob("*/checkpoints/last.npz")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.05)  # the first epoch takes about half a second here
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert "resume with: visionbench train --resume" in err and "\n" not in err.strip(), err
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "interrupted" and results["epochs_completed"] <= 1
    if results["epochs_completed"] == 0:  # the case this test is for: nothing but the initial checkpoint exists
        assert "the initial checkpoint is kept" in err
    done = subprocess.run([sys.executable, "-m", "visionbench", "train", "--resume", str(run_dir), "--quiet"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "completed" and results["steps_completed"] == 1400
    assert results["test_accuracy"] > 0.5


def test_resume_of_a_run_with_no_checkpoint_says_there_is_nothing_to_resume(capsys, tmp_path):
    # A run that has trained epochs (history.csv) but lost its checkpoint; one that never trained restarts instead.
    run = tmp_path / "runs" / "r"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": "cnn", "dataset": "digits", "steps": 3}))
    (run / "history.csv").write_text("epoch\n1\n")
    _fails_cleanly(capsys, tmp_path, ["train", "--resume", str(run)], "nothing to resume")


def test_ctrl_c_during_a_comparison_then_resume_finishes_it(tmp_path):
    # Ctrl-C reaches the whole foreground process group: the comparison and its worker process.
    cmd = [sys.executable, "-m", "visionbench", "compare", "--models", "scratch_mlp", "--steps", "6000", "--quiet",
           "--threads", "1", "--output-dir", str(tmp_path / "cmp")]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "cmp").glob("*/runs/*/checkpoints/last.npz")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "resume with: visionbench compare --resume" in err
    (comparison,) = (tmp_path / "cmp").iterdir()
    (run_dir,) = (comparison / "runs").iterdir()
    assert json.loads((run_dir / "results.json").read_text())["status"] == "interrupted"
    done = subprocess.run([sys.executable, "-m", "visionbench", "compare", "--resume", str(comparison), "--quiet"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (comparison / "runs").iterdir()] == [run_dir.name]  # resumed, not retrained
    results = json.loads((run_dir / "results.json").read_text())
    assert results["status"] == "completed" and results["steps_completed"] == 6000
    assert (comparison / "comparison.md").is_file()


def test_compare_help_names_its_own_output_folder(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "parent folder of the comparison directory (default: comparisons)" in out
    assert "(default: runs)" not in out
