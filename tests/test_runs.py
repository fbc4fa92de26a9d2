"""runs.atomic_write_bytes: files get the mode of an ordinary open() (0o666 less the umask), not mkstemp's 0o600."""

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
