"""runs.py: atomic writes keep the umask's mode, unique folders, the run lock (a live run is `running`, a killed
one is not), clean-up of cut-short writes, reuse of never-started folders, the writability check."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from visionbench import runs

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@pytest.fixture
def umask():
    """Set the process umask for one test and put the old one back."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)], ids=["022", "077", "002"])
@pytest.mark.parametrize("proc", [True, False], ids=["proc-status", "os-umask"])
def test_atomic_write_honours_the_umask(tmp_path, umask, monkeypatch, mask: int, mode: int, proc: bool) -> None:
    if not proc:  # where /proc/self/status cannot be read, the umask is read with os.umask

        def no_proc(*args, **kwargs):
            raise OSError("no /proc here")

        monkeypatch.setattr(runs, "open", no_proc, raising=False)
    umask(mask)
    target = tmp_path / "results.json"
    runs.atomic_write_bytes(target, b"{}")
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert target.read_bytes() == b"{}"
    runs.write_json(target, {"a": 1})  # replacing an existing file: same rule
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left behind
    assert os.umask(mask) == mask  # reading the umask did not change it


def test_runs_started_in_the_same_second_never_share_a_directory(tmp_path, monkeypatch):
    import multiprocessing
    import time

    monkeypatch.setattr(time, "strftime", lambda fmt, *a: "20260101-120000")  # every call in the same second
    made = [runs.new_run_dir(tmp_path, "cnn", "digits") for _ in range(5)]
    assert len(set(made)) == 5 and all(p.is_dir() for p in made)
    assert sorted(p.name for p in made)[0] == "20260101-120000-cnn-digits"
    # Several processes racing for the same name each get their own folder (mkdir is atomic).
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(4) as pool:
        names = pool.starmap(_claim, [(str(tmp_path / "race"), "x")] * 16)
    assert len(set(names)) == 16


def _claim(parent: str, name: str) -> str:
    return str(runs.unique_dir(parent, name))


# --- the run lock: a live process's run is `running`, a killed one is resumable ------------------------------------

_HOLDER = ("import sys; from visionbench.runs import lock_dir; lock = lock_dir(sys.argv[1]); print('locked', "
           "flush=True); sys.stdin.read()")


def _hold_in_another_process(folder):
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _fake_run(path, results=None):
    path.mkdir(parents=True)
    runs.write_json(path / "config.json", {"model": "cnn", "dataset": "digits", "seed": 0})
    if results is not None:
        runs.write_json(path / "results.json", results)
    return path


def test_a_locked_run_is_running_and_a_killed_one_is_not(tmp_path):
    import signal

    run_dir = _fake_run(tmp_path / "r", {"status": "interrupted"})
    assert runs.read_run(run_dir).status == "interrupted" and runs.lock_owner(run_dir) is None
    proc = _hold_in_another_process(run_dir)
    try:
        run = runs.read_run(run_dir)
        assert run.status == "running" and run.locked_by == proc.pid
        assert runs.try_lock(run_dir) is None
        with pytest.raises(runs.RunError) as err:
            runs.lock_dir(run_dir)
        assert str(err.value) == (f"{run_dir}: process {proc.pid} is training this run now (.lock is locked); wait "
                                  f"for it to finish or stop it, then try again")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # SIGKILL ran no clean-up: the lock file stays, but the lock died with the process.
    assert (run_dir / ".lock").read_text().strip() == str(proc.pid)
    run = runs.read_run(run_dir)
    assert run.status == "interrupted" and run.locked_by is None
    with runs.lock_dir(run_dir) as lock:
        assert (run_dir / ".lock").read_text() == f"{os.getpid()}\n"
        assert runs.lock_owner(run_dir) == os.getpid()  # another descriptor of this process is refused too
        assert runs.try_lock(run_dir) is None
    assert lock._fd is None and not (run_dir / ".lock").exists()  # released: the lock file is removed
    assert runs.read_run(_fake_run(tmp_path / "s")).status == "incomplete"


def test_a_lock_file_removed_under_a_waiting_process_is_not_taken(tmp_path, monkeypatch):
    # The holder removes .lock when it lets go; a process that opened the old file just before must not believe it
    # holds the lock on that removed file while a third one locks the new file.
    real_open, calls = os.open, {"n": 0}

    def open_then_lose_the_file(path, flags, mode=0o777):
        fd = real_open(path, flags, mode)
        calls["n"] += 1
        if calls["n"] == 1:
            os.unlink(path)  # as if the last holder released between our open and our flock
        return fd

    monkeypatch.setattr(runs.os, "open", open_then_lose_the_file)
    lock = runs.try_lock(tmp_path)
    monkeypatch.setattr(runs.os, "open", real_open)
    assert lock is not None and calls["n"] == 2  # tried again on the file that is there
    assert runs.lock_owner(tmp_path) == os.getpid()
    lock.release()


def test_remove_temporaries_takes_only_what_atomic_writes_leave(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    keep = [tmp_path / "config.json", tmp_path / "checkpoints" / "last.pt", tmp_path / "notes.tmp"]
    stale = [tmp_path / ".results.json.x1y2.tmp", tmp_path / "checkpoints" / ".last.pt.ab12.tmp"]
    for p in keep + stale:
        p.write_text("x")
    assert sorted(runs.remove_temporaries(tmp_path)) == sorted(stale)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)


def test_claim_run_dir_reuses_only_a_folder_whose_run_never_started(tmp_path):
    first, lock = runs.claim_run_dir(tmp_path, "r")
    assert first == tmp_path / "r" and runs.lock_owner(first) == os.getpid()
    taken, lock2 = runs.claim_run_dir(tmp_path, "r")  # locked (starting): never shared
    assert taken == tmp_path / "r-2"
    lock2.release()
    (first / "checkpoints").mkdir()
    (first / "checkpoints" / ".last.pt.x.tmp").write_bytes(b"half")
    lock._fd, fd = None, lock._fd
    os.close(fd)  # the process that claimed it "died": its lock is gone, the .lock file and a temporary stay
    again, lock3 = runs.claim_run_dir(tmp_path, "r")
    assert again == first and not (first / "checkpoints" / ".last.pt.x.tmp").exists()
    with pytest.raises(runs.RunError, match="is starting this run now"):
        runs.read_run(first)
    lock3.release()
    with pytest.raises(runs.RunError, match="stopped before it wrote config.json.*same --run-name"):
        runs.read_run(first)
    (first / "notes.txt").write_text("mine")  # something of the user's: never reused
    reused, lock4 = runs.claim_run_dir(tmp_path, "r")
    assert reused == tmp_path / "r-2"  # released before it wrote anything: free again
    lock4.release()
    _fake_run(tmp_path / "done")
    assert runs.claim_run_dir(tmp_path, "done")[0] == tmp_path / "done-2"
    assert (first / "notes.txt").read_text() == "mine"


def test_check_writable_fails_in_one_line_before_anything_is_made(tmp_path, monkeypatch):
    import errno

    runs.check_writable(tmp_path / "a" / "b")  # a folder that would be created: fine, and nothing is made yet
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(runs.RunError) as err:
        runs.check_writable(tmp_path / "file" / "runs")
    assert str(err.value) == (f"--output-dir {tmp_path}/file/runs: {tmp_path}/file is a file, not a folder; choose "
                              "another output folder")

    def read_only(folder):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(runs, "_probe_write", read_only)  # root writes anywhere: the probe is what can fail
    with pytest.raises(runs.RunError) as err:
        runs.check_writable(tmp_path / "runs")
    assert str(err.value) == (f"--output-dir {tmp_path}/runs: cannot write in {tmp_path} (Read-only file system); "
                              "the folder is read-only: choose another output folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_folder_where_no_lock_can_be_made_is_one_line(tmp_path, monkeypatch):
    import errno

    def read_only(path, flags, mode=0o777):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(runs.os, "open", read_only)
    with pytest.raises(runs.RunError) as err:
        runs.lock_dir(tmp_path)
    assert str(err.value) == (f"{tmp_path}/.lock: cannot create the lock file (Read-only file system); the folder "
                              "is read-only: choose another output folder")
    monkeypatch.undo()
    assert runs.lock_owner(tmp_path) is None  # reading never needs to write


def test_figures_honour_the_umask_too(tmp_path, umask) -> None:
    # save_figure wrote through mkstemp, so every plot and study figure was 0600 whatever the umask.
    from matplotlib.figure import Figure

    from visionbench.report.plots import save_figure

    umask(0o022)
    fig = Figure()
    fig.subplots().plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "plots" / "a.png")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 and path.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in path.parent.iterdir()] == ["a.png"]


def test_a_claim_is_made_where_it_belongs_and_refused_while_a_live_process_holds_it(tmp_path):
    import signal

    home = tmp_path / "comparison"  # not there yet: try_claim makes it
    with runs.try_claim(home, "cnn-seed0") as claim:
        assert claim.folder == home / runs.CLAIMS_DIR / "cnn-seed0" == home / ".claims" / "cnn-seed0"
        assert runs.lock_owner(claim.folder) == os.getpid()
    proc = _hold_in_another_process(home / ".claims" / "cnn-seed0")
    try:
        assert runs.try_claim(home, "cnn-seed0") is None
        with runs.try_claim(home, "cnn-seed1") as other:  # another key is free
            assert other is not None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with runs.try_claim(home, "cnn-seed0") as claim:  # the holder died: its claim with it
        assert claim is not None and runs.lock_owner(claim.folder) == os.getpid()


def test_wait_for_lock_waits_for_the_holder_to_end(tmp_path, monkeypatch):
    import signal

    proc = _hold_in_another_process(tmp_path)
    naps: list[float] = []

    def nap(seconds):  # try_lock's retries (0.01 s), wait_for_lock's turns (0.1 s): the holder ends in the first turn
        naps.append(seconds)
        if seconds == 0.1 and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    monkeypatch.setattr(runs.time, "sleep", nap)
    with runs.wait_for_lock(tmp_path):
        assert runs.lock_owner(tmp_path) == os.getpid()
    assert naps.count(0.1) == 1 and naps.count(0.01) >= 19 and proc.returncode == -signal.SIGKILL


def test_latest_attempt_prefers_completed_then_running_then_the_last_by_number(tmp_path, monkeypatch):
    runs_dir = tmp_path / "runs"
    assert runs.latest_attempt(runs_dir, "cnn-seed0") is None  # no runs folder yet
    for name in ("cnn-seed0", "cnn-seed0-2", "cnn-seed0-10", "cnn-seed0-x", "cnn-seed01"):
        _fake_run(runs_dir / name, {"status": "failed"})
    assert runs.latest_attempt(runs_dir, "cnn-seed0").path.name == "cnn-seed0-10"  # by number: -10 after -2
    runs.write_json(runs_dir / "cnn-seed0" / "results.json", {"status": "completed"})
    assert runs.latest_attempt(runs_dir, "cnn-seed0").path.name == "cnn-seed0"
    with runs.try_lock(runs_dir / "cnn-seed0-2"):  # running beats failed, not completed
        assert runs.latest_attempt(runs_dir, "cnn-seed0").path.name == "cnn-seed0"
        (runs_dir / "cnn-seed0" / "results.json").unlink()
        got = runs.latest_attempt(runs_dir, "cnn-seed0")
        assert got.path.name == "cnn-seed0-2" and got.status == "running"
    assert runs.latest_attempt(runs_dir, "cnn-seed1") is None
    real_read = runs.read_run

    def retired_meanwhile(path):  # another worker moves -10 to retired/ while it is read
        if path.name == "cnn-seed0-10":
            path.rename(tmp_path / "gone")
        return real_read(path)

    monkeypatch.setattr(runs, "read_run", retired_meanwhile)
    assert runs.latest_attempt(runs_dir, "cnn-seed0").path.name == "cnn-seed0-2"  # the last one left
