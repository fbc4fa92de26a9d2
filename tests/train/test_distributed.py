"""Data-parallel training under torchrun (gloo, 2 processes on this CPU) against one process, and its resume after a
rank is killed. The torchrun tests start real launches: a few seconds of torch imports each."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from visionbench.cli import main
from visionbench.errors import ConfigError, DataError, RunError
from visionbench.train import TrainConfig, train
from visionbench.train.distributed import SINGLE, Dist

TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
needs_torchrun = pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed")

# mlp_small without dropout: BatchNorm (synchronised across the ranks) and no per-rank randomness, so two processes
# must reproduce one process up to the order of floating-point sums. digits' 1,211 training images leave a last
# batch of 59 per epoch at 64 per step: split 30/29 across the ranks, weighted by share.
ARGS = ["train", "--model", "mlp_small", "--model-arg", "dropout=0", "--dataset", "digits", "--batch-size", "64",
        "--seed", "1", "--quiet"]
#: The stated tolerance of a 2-process run against the 1-process run (relative, per number and per weight).
RTOL = 1e-6

# What torchrun starts: the CLI, with a checkpoint after every epoch, each process's pid written where the test
# can find it, and (VB_SLOW) a pause per step so that a kill lands mid-run.
LAUNCHER = """
import os, sys, time
from pathlib import Path
from visionbench.train import backends, loop
loop.CHECKPOINT_EVERY_SECONDS = 0.0
Path(os.environ["VB_PIDS"], "rank" + os.environ.get("RANK", "0")).write_text(str(os.getpid()))
if os.environ.get("VB_SLOW"):
    step = backends.TorchBackend.train_step
    def slow(self, *args):
        time.sleep(float(os.environ["VB_SLOW"]))
        return step(self, *args)
    backends.TorchBackend.train_step = slow
from visionbench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _launch(tmp: Path, argv: list[str], *, nproc: int = 2, slow: float = 0.0) -> subprocess.Popen[str]:
    launcher = tmp / "launch.py"
    launcher.write_text(LAUNCHER)
    pids = tmp / "pids"
    pids.mkdir(exist_ok=True)
    for old in pids.iterdir():
        old.unlink()
    env = {**os.environ, "VB_PIDS": str(pids), "VB_SLOW": str(slow) if slow else "", "OMP_NUM_THREADS": "1",
           "PYTHONWARNINGS": "ignore"}
    # torchrun looks at its workers every 2 s: time for a survivor to say why it stops before torchrun ends it.
    cmd = [TORCHRUN, "--standalone", "--monitor-interval", "2", "--nproc-per-node", str(nproc), str(launcher), *argv]
    return subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"torchrun did not end in {timeout}s:\n{out}\n{err[-3000:]}")
    return proc.returncode, out, err


def _history(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / "history.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def _assert_same_run(ours: Path, ref: Path, rtol: float) -> None:
    """Same epochs, same numbers (within rtol), same weights (within rtol), same test metrics."""
    mine, theirs = _history(ours), _history(ref)
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=rtol, abs=1e-7), (key, a["epoch"], a[key], b[key])
    for name in ("best.pt", "last.pt"):
        wa, wb = _weights(ours / "checkpoints" / name), _weights(ref / "checkpoints" / name)
        assert wa.keys() == wb.keys()  # SyncBatchNorm keeps BatchNorm's state-dict keys
        for key in wa:
            torch.testing.assert_close(wa[key].float(), wb[key].float(), rtol=rtol, atol=1e-6, msg=key)
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (ours, ref))
    assert ra["status"] == rb["status"] == "completed"
    assert ra["test_accuracy"] == rb["test_accuracy"]
    assert ra["test_loss"] == pytest.approx(rb["test_loss"], rel=rtol)
    assert ra["confusion_matrix"] == rb["confusion_matrix"]  # every test image scored, once


def _one_process(out: Path, epochs: int) -> Path:
    cfg = TrainConfig(model="mlp_small", model_kwargs={"dropout": 0.0}, dataset="digits", batch_size=64, seed=1,
                      epochs=epochs, output_dir=str(out), quiet=True, threads=1, run_name="one")
    result = train(cfg)
    assert result.status == "completed"
    return result.run_dir


@needs_torchrun
def test_two_processes_train_the_run_one_process_trains(tmp_path):
    ref = _one_process(tmp_path / "ref", epochs=2)
    code, out, err = _finish(_launch(tmp_path, [*ARGS, "--epochs", "2", "--output-dir", "runs", "--run-name", "two"]))
    assert code == 0, err[-3000:]
    run = tmp_path / "runs" / "two"
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["two"]  # rank 1 made no directory of its own
    assert out.count("run: ") == 1  # rank 0 reports; rank 1 is silent
    config = json.loads((run / "config.json").read_text())
    assert config["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert config["command"].startswith("torchrun --standalone --nproc-per-node 2 -m visionbench train ")
    assert config["dataset_info"]["train_size"] % 64 % 2 == 1  # an uneven last batch was split across the ranks
    results = json.loads((run / "results.json").read_text())
    assert results["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert sum(map(sum, results["confusion_matrix"])) == config["dataset_info"]["test_size"]  # each image once
    _assert_same_run(run, ref, RTOL)


@needs_torchrun
@pytest.mark.parametrize("victim", ["rank0", "rank1"])
def test_a_killed_rank_resumes_to_the_uninterrupted_run(tmp_path, victim):
    ref = _one_process(tmp_path / "ref", epochs=5)
    proc = _launch(tmp_path, [*ARGS, "--epochs", "5", "--output-dir", "runs", "--run-name", "two"], slow=0.03)
    run = tmp_path / "runs" / "two"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # until epoch 2 is checkpointed
        if (run / "history.csv").is_file() and len((run / "history.csv").read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed; slow it down (VB_SLOW)"
    os.kill(int((tmp_path / "pids" / victim).read_text()), signal.SIGKILL)
    code, _, err = _finish(proc)
    assert code != 0  # torchrun saw a worker die and stopped the other
    survivor = "" if victim == "rank1" else "rank 1: "  # rank 0 speaks for the run; rank 1 says who it is
    assert f"error: {survivor}torchrun: another process of this run stopped (" in err, err[-3000:]
    assert ("its last checkpoint is kept; resume with: torchrun --standalone --nproc-per-node 2 -m visionbench "
            "train --resume runs/two") in err
    assert not (run / "results.json").exists()
    epochs_done = len((run / "history.csv").read_text().splitlines()) - 1
    assert 2 <= epochs_done < 5
    code, out, err = _finish(_launch(tmp_path, ["train", "--resume", str(run)]))
    assert code == 0, err[-3000:]
    assert out.count("run: ") == 1
    assert not list(run.rglob("*.tmp*"))  # the cut-short write of the killed run was cleaned up
    _assert_same_run(run, ref, RTOL)


@needs_torchrun
def test_sync_batchnorm_on_the_cpu_is_batchnorm_over_the_global_batch(tmp_path):
    """In float64, two ranks' CpuSyncBatchNorm (1-D and 2-D, unequal shares) give one process's outputs, input and
    parameter gradients and running statistics."""
    script = tmp_path / "sbn.py"
    script.write_text("""
import copy, json, sys
import torch, torch.distributed as dist
from torch import nn
from visionbench.train.distributed import sync_batchnorm
dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
worst = 0.0
for shape, model in (((13, 5), nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))),
                     ((9, 2, 5, 5), nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3, momentum=None),
                                                  nn.ReLU(), nn.Flatten(), nn.Linear(27, 3)))):
    model = model.double()
    ref = copy.deepcopy(model)
    assert sync_batchnorm(model, torch.device("cpu")) == 1
    assert model.state_dict().keys() == ref.state_dict().keys()
    x = torch.randn(*shape, dtype=torch.float64)
    target = torch.randn(shape[0], 3, dtype=torch.float64)
    mine = x[rank::2].clone().requires_grad_()
    loss = ((model(mine) - target[rank::2]) ** 2).sum() / shape[0]
    loss.backward()
    for p in model.parameters():
        dist.all_reduce(p.grad)
    whole = x.clone().requires_grad_()
    ((ref(whole) - target) ** 2).sum().div(shape[0]).backward()
    worst = max(worst, (mine.grad - whole.grad[rank::2]).abs().max().item())
    for a, b in zip(model.parameters(), ref.parameters()):
        worst = max(worst, (a.grad - b.grad).abs().max().item())
    for a, b in zip(model.buffers(), ref.buffers()):
        worst = max(worst, (a.double() - b.double()).abs().max().item())
open(sys.argv[1] + f"/worst-{rank}.json", "w").write(json.dumps({"rank": rank, "worst": worst}))
""")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([TORCHRUN, "--standalone", "--nproc-per-node", "2", str(script), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads(p.read_text()) for p in tmp_path.glob("worst-*.json")]
    assert sorted(r["rank"] for r in reports) == [0, 1]
    assert max(r["worst"] for r in reports) < 1e-12


def test_one_process_is_rank_0_of_1_and_every_collective_is_a_no_op():
    assert SINGLE.world == 1 and SINGLE.writer and not SINGLE.enabled
    assert SINGLE.shard([1, 2, 3]) == [1, 2, 3] and SINGLE.span(7) == (0, 7)
    assert SINGLE.sum([1.0, 2.0]) == [1.0, 2.0] and SINGLE.gather(["a"]) == ["a"]
    assert SINGLE.loss_weight(3, 3) == 1.0 and SINGLE.on_writer(lambda: 5) == 5


def test_a_rank_takes_its_stride_of_the_batch_and_its_share_of_the_split():
    r1 = Dist(rank=1, world=2)
    assert r1.shard(list(range(7))) == [1, 3, 5] and r1.span(7) == (3, 7)
    assert r1.loss_weight(3, 7) == pytest.approx(6 / 7)  # 3 of 7 images: weighted up from an even share


def test_torchrun_refuses_commands_other_than_train(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["models"]) == 2
    assert "only `visionbench train` runs under torchrun" in capsys.readouterr().err


def test_batches_too_small_for_the_processes_fail_in_one_line():
    four = Dist(rank=0, world=4)
    with pytest.raises(ConfigError, match="--batch-size 3: fewer images per step than the 4 processes"):
        four.check_batches(10, 3)
    with pytest.raises(ConfigError, match=r"ends with a batch of 2, fewer than the 4 processes; .* \(e\.g\. "
                                          r"--batch-size 10\)$"):  # 9 would leave 1; 10 divides 10
        four.check_batches(10, 8)
    four.check_batches(10, 10)
    four.check_batches(12, 8)  # a last batch of 4: one image each


def test_the_numpy_engine_refuses_torchrun_before_reading_data():
    from visionbench.train.distributed import check_engine

    with pytest.raises(ConfigError, match="--model scratch_mlp runs on the scratch engine"):
        check_engine("scratch_mlp")
    check_engine("mlp_small")


@needs_torchrun
def test_a_time_budget_probes_the_data_parallel_step_and_leaves_the_model_as_it_was(tmp_path):
    """The probe trains real data-parallel steps (communication included) and puts the weights back: the run then
    equals a run told the planned number of steps."""
    code, _, err = _finish(_launch(tmp_path, [*ARGS, "--time-budget", "2", "--output-dir", "runs", "--run-name", "t"]))
    assert code == 0, err[-3000:]
    timed = tmp_path / "runs" / "t"
    budget = json.loads((timed / "config.json").read_text())["budget"]
    assert budget["source"] == "time" and budget["probe"]["steps"] >= 5
    code, _, err = _finish(_launch(tmp_path, [*ARGS, "--steps", str(budget["steps"]), "--output-dir", "runs",
                                              "--run-name", "s"]))
    assert code == 0, err[-3000:]
    _assert_same_run(timed, tmp_path / "runs" / "s", 1e-12)


@needs_torchrun
def test_no_sync_bn_normalises_each_share_alone(tmp_path):
    ref = _one_process(tmp_path / "ref", epochs=1)
    code, _, err = _finish(_launch(tmp_path, [*ARGS, "--epochs", "1", "--no-sync-bn", "--output-dir", "runs",
                                              "--run-name", "local"]))
    assert code == 0, err[-3000:]
    run = tmp_path / "runs" / "local"
    assert json.loads((run / "config.json").read_text())["sync_bn"] is False
    ours, theirs = _history(run)[0], _history(ref)[0]
    assert ours["train_loss"] != pytest.approx(theirs["train_loss"], rel=RTOL)  # BatchNorm saw 32 images, not 64
    assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-2)  # ... and is still BatchNorm


@needs_torchrun
def test_ctrl_c_stops_every_rank_and_rank_0_writes_the_results_and_the_resume_line(tmp_path):
    proc = _launch(tmp_path, [*ARGS, "--epochs", "30", "--output-dir", "runs", "--run-name", "c"], slow=0.03)
    run = tmp_path / "runs" / "c"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (run / "history.csv").is_file() and len((run / "history.csv").read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the launcher and every rank
    code, _, err = _finish(proc)
    assert code != 0
    said = [line for line in err.splitlines() if line.startswith("error: interrupted")]
    assert len(said) == 1, err[-3000:]  # rank 0's line only
    assert said[0].endswith("resume with: torchrun --standalone --nproc-per-node 2 -m visionbench train --resume "
                            "runs/c")
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "interrupted" and results["epochs_completed"] >= 1
    assert "test_accuracy" not in results  # scored when the resumed run ends (torchrun would kill a long scoring)
    assert "the test set is scored when the resumed run ends" in said[0]


def test_a_lost_peer_is_one_line_with_the_command_that_resumes(monkeypatch, tmp_path):
    from visionbench.train import distributed, loop

    def lost(cfg, dist, resume, on_start, on_epoch, where):
        where.append(tmp_path / "run")
        raise RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:123: "
                           "Connection reset by peer\nmore")

    monkeypatch.setattr(distributed, "setup", lambda device: Dist(rank=0, world=2))
    monkeypatch.setattr(distributed, "teardown", lambda dist: None)
    monkeypatch.setattr(loop, "_train", lost)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    with pytest.raises(RunError, match=r"^torchrun: another process of this run stopped \(.*Connection reset by "
                                       r"peer\); its last checkpoint is kept; resume with: torchrun --standalone "
                                       r"--nproc-per-node 2 -m visionbench train --resume .*/run$"):
        train(TrainConfig())
    monkeypatch.setattr(loop, "_train", lambda *a: (_ for _ in ()).throw(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="^a bug$"):  # not every error is a lost peer
        train(TrainConfig())


def test_an_error_every_rank_meets_is_said_by_rank_0_only(monkeypatch, capsys):
    from visionbench.train import distributed

    monkeypatch.setattr(distributed, "setup", lambda device: Dist(rank=int(os.environ["RANK"]), world=2))
    monkeypatch.setattr(distributed, "teardown", lambda dist: None)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert main(["train", "--model", "no_such_model"]) == 2
    assert main(["train", "--model", "mlp_small", "--batch-size", "0"]) == 2
    assert main(["train", "--resume", "somewhere", "--lr", "1"]) == 2
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    assert main(["train", "--model", "no_such_model"]) == 2
    assert capsys.readouterr().err.count("error: ") == 1


def test_an_error_of_one_rank_alone_is_said_with_its_rank(monkeypatch, capsys):
    """A dataset missing on the second machine, or a lost peer seen by rank 1: not rank 0's to say."""
    from visionbench.train import loop

    def missing(*args):
        raise DataError("data/mnist: not found; copy it here or use --download")

    monkeypatch.setattr(loop, "_train", missing)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr("visionbench.train.distributed.setup", lambda device: Dist(rank=1, world=2))
    monkeypatch.setattr("visionbench.train.distributed.teardown", lambda dist: None)
    assert main(["train", "--model", "mlp_small"]) == 2
    assert capsys.readouterr().err == "error: rank 1: data/mnist: not found; copy it here or use --download\n"


def test_world_size_without_torchrun_is_one_line(monkeypatch, capsys):
    for name in ("MASTER_ADDR", "MASTER_PORT", "RANK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "--model", "mlp_small"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: WORLD_SIZE=2 but the process group cannot start") and err.count("\n") == 1
    assert "launch with torchrun (or unset WORLD_SIZE)" in err


def test_only_a_peer_gone_is_a_lost_peer():
    from visionbench.train.distributed import first_line, peer_lost

    gone = RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:545] Read error [127.0.0.1]:52: Connection "
                        "reset by peer")
    assert peer_lost(gone) and first_line(gone) == "Read error [127.0.0.1]:52: Connection reset by peer"
    assert not peer_lost(RuntimeError("[x/unbound_buffer.cc:78] Timed out waiting 1800000ms for recv operation"))
    assert not peer_lost(RuntimeError("Application timeout caused pair closure"))
    assert not peer_lost(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not peer_lost(ValueError("Connection reset by peer"))


def test_world_size_is_read_one_way_everywhere(monkeypatch):
    from visionbench._env import torchrun_rank, torchrun_world

    for value, world in (("", 1), ("1", 1), ("4", 4)):
        monkeypatch.setenv("WORLD_SIZE", value)
        assert torchrun_world() == world
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ConfigError, match="^WORLD_SIZE='two' is not a number"):
        torchrun_world()
    assert torchrun_rank() == 0  # it decides who prints an error: it never raises one
