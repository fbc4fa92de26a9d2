"""Download from a local HTTP server (with Range support): success, resume, checksum mismatch, mirrors."""

from __future__ import annotations

import ast
import gzip
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from _data_formats import idx_bytes

import visionbench.data as vb_data
from visionbench.data import download as dl
from visionbench.data import imagefolder, load_dataset
from visionbench.data.download import Resource, download_dataset
from visionbench.errors import ConfigError, DataError


class _Server:
    """Serves ``files`` on 127.0.0.1, honouring ``Range: bytes=N-``; records the Range headers it saw.

    ``cut[name] = n`` makes the next response for ``name`` announce the whole length but close the connection after
    ``n`` bytes (a network failure mid-stream); it applies once.
    """

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.ranges: list[str | None] = []
        self.cut: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                name = self.path.rsplit("/", 1)[-1]
                rng = self.headers.get("Range")
                outer.ranges.append(rng)
                if name not in outer.files:
                    self.send_error(404)
                    return
                data = outer.files[name]
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                if start >= len(data) and rng:
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if name in outer.cut:
                    self.wfile.write(data[start:start + outer.cut.pop(name)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _mnist_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(20) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(10) % 10).astype(np.uint8),
    }
    return {name: gzip.compress(idx_bytes(a)) for name, a in arrays.items()}


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[_Server, dict[str, bytes]]]:
    """A server with fake MNIST files, and RESOURCES['mnist'] pointing at their checksums."""
    files = _mnist_files()
    resources = tuple(Resource(n, "http://unused.invalid/", md5=hashlib.md5(b).hexdigest()) for n, b in files.items())
    monkeypatch.setitem(dl.RESOURCES, "mnist", resources)
    server = _Server(files)
    yield server, files
    server.close()


def test_download_then_load(served: tuple[_Server, dict[str, bytes]], isolated_search: dict[str, Path]) -> None:
    server, files = served
    seen: list[tuple[str, int, int | None]] = []
    folder = download_dataset("mnist", mirror=server.url, progress=lambda *a: seen.append(a))
    assert folder == isolated_search["cache"] / "mnist"
    for name, data in files.items():
        assert (folder / name).read_bytes() == data and not (folder / f"{name}.part").exists()
    assert seen[-1][1] == seen[-1][2] == len(files["t10k-labels-idx1-ubyte.gz"])
    assert len(load_dataset("mnist").train) == 20
    n = len(server.ranges)
    download_dataset("mnist", mirror=server.url)  # verified copies are not fetched again
    assert len(server.ranges) == n


def test_load_with_download_flag_uses_env_mirror(
    served: tuple[_Server, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = served
    monkeypatch.setenv("VISIONBENCH_MIRROR", server.url)
    assert len(load_dataset("mnist", download=True).test) == 10


def test_resume_partial_file(served: tuple[_Server, dict[str, bytes]], tmp_path: Path) -> None:
    server, files = served
    name = "train-images-idx3-ubyte.gz"
    (tmp_path / f"{name}.part").write_bytes(files[name][:100])
    download_dataset("mnist", tmp_path, mirror=server.url)
    assert (tmp_path / name).read_bytes() == files[name]
    assert "bytes=100-" in server.ranges


def test_failure_mid_stream_keeps_the_partial_file_and_the_next_call_resumes(
    served: tuple[_Server, dict[str, bytes]], tmp_path: Path
) -> None:
    server, files = served
    name = "train-images-idx3-ubyte.gz"
    server.cut[name] = 1000
    with pytest.raises(DataError) as info:
        download_dataset("mnist", tmp_path, mirror=server.url)
    message = str(info.value)
    assert "\n" not in message and name in message and "again to resume" in message, message
    assert (tmp_path / f"{name}.part").read_bytes() == files[name][:1000]
    assert not (tmp_path / name).exists()
    download_dataset("mnist", tmp_path, mirror=server.url)
    assert (tmp_path / name).read_bytes() == files[name] and "bytes=1000-" in server.ranges


def test_a_corrupt_file_already_on_disk_is_fetched_again(
    served: tuple[_Server, dict[str, bytes]], tmp_path: Path
) -> None:
    server, files = served
    name = "t10k-labels-idx1-ubyte.gz"
    download_dataset("mnist", tmp_path, mirror=server.url)
    damaged = bytearray(files[name])
    damaged[-3] ^= 0x10
    (tmp_path / name).write_bytes(bytes(damaged))
    n = len(server.ranges)
    download_dataset("mnist", tmp_path, mirror=server.url)
    assert (tmp_path / name).read_bytes() == files[name]
    assert len(server.ranges) == n + 1  # only the damaged file was fetched


def test_the_download_command(served: tuple[_Server, dict[str, bytes]], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from visionbench.cli import main

    server, files = served
    monkeypatch.setenv("VISIONBENCH_MIRROR", server.url)
    assert main(["download", "mnist", "--data-dir", str(tmp_path / "mnist")]) == 0
    assert str(tmp_path / "mnist") in capsys.readouterr().out
    for name, data in files.items():
        assert (tmp_path / "mnist" / name).read_bytes() == data
    assert main(["download", "mnsit", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did you mean" in err, err


def test_checksum_mismatch_removes_partial(served: tuple[_Server, dict[str, bytes]], tmp_path: Path) -> None:
    server, files = served
    files["t10k-images-idx3-ubyte.gz"] = b"tampered" + files["t10k-images-idx3-ubyte.gz"]
    with pytest.raises(DataError, match="checksum mismatch") as info:
        download_dataset("mnist", tmp_path, mirror=server.url)
    assert "t10k-images-idx3-ubyte.gz" in str(info.value)
    assert not (tmp_path / "t10k-images-idx3-ubyte.gz.part").exists()
    assert not (tmp_path / "t10k-images-idx3-ubyte.gz").exists()
    assert (tmp_path / "train-images-idx3-ubyte.gz").exists()  # files verified before the bad one are kept


def test_force_refetches(served: tuple[_Server, dict[str, bytes]], tmp_path: Path) -> None:
    server, _ = served
    download_dataset("mnist", tmp_path, mirror=server.url)
    n = len(server.ranges)
    download_dataset("mnist", tmp_path, mirror=server.url, force=True)
    assert len(server.ranges) == n + 4


def test_server_error_and_unknown_name(served: tuple[_Server, dict[str, bytes]], tmp_path: Path) -> None:
    server, files = served
    files.pop("train-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="HTTP 404"):
        download_dataset("mnist", tmp_path, mirror=server.url)
    with pytest.raises(ConfigError, match="did you mean"):
        download_dataset("mnsit", tmp_path)


def test_canonical_resources_have_checksums() -> None:
    for name, resources in dl.RESOURCES.items():
        assert resources, name
        for r in resources:
            assert r.base_url.startswith("http") and len(r.md5) == 32


def test_download_aliases_and_not_downloadable(served: tuple[_Server, dict[str, bytes]], tmp_path: Path) -> None:
    server, _ = served
    assert download_dataset("MNIST", tmp_path, mirror=server.url) == tmp_path
    with pytest.raises(ConfigError, match="bundled"):
        download_dataset("digits", tmp_path)


def test_catalogue_names_and_aliases_download_their_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bundled"):
        vb_data.download_dataset("digits", tmp_path)
    with pytest.raises(ConfigError, match="did you mean"):
        vb_data.download_dataset("mnsit", tmp_path)
    seen: list[str] = []
    monkeypatch.setattr(dl, "download_dataset", lambda key, dest=None, **kw: seen.append(key) or tmp_path)
    for name in ("fmnist", "Fashion_MNIST", "cifar-100-coarse", "cifar100:fine", "MNIST"):
        assert vb_data.download_dataset(name) == tmp_path
    assert seen == ["fashion-mnist", "fashion-mnist", "cifar100", "cifar100", "mnist"]


def test_download_and_imagefolder_do_not_import_the_catalogue() -> None:
    # The catalogue imports them and passes what they need; an import back would close a circle.
    for module in (dl, imagefolder):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "visionbench.data._catalog" not in imported, module.__name__


def test_processes_asking_for_one_dataset_at_once_fetch_each_file_once(
    served: tuple[_Server, dict[str, bytes]], tmp_path: Path
) -> None:
    """The ranks of a torchrun launch (or compare workers) all load with --download: one fetches, the others wait
    for its lock and find the files verified."""
    server, files = served
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            start.wait()
            download_dataset("mnist", tmp_path, mirror=server.url)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(server.ranges) == len(files)  # each file fetched once, by one of the three
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)  # no .part, no lock file left


def test_a_verified_folder_is_only_read_and_an_unwritable_one_is_one_data_error(
    served: tuple[_Server, dict[str, bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A complete, verified folder (say a read-only copy: chmod does not stop root, so the lock is watched) returns
    without its lock; a folder whose lock file cannot be made, when a file must be fetched, is one DataError."""
    server, files = served
    download_dataset("mnist", tmp_path, mirror=server.url)
    n = len(server.ranges)

    def no_lock(folder: Path) -> None:
        raise AssertionError(f"{folder} locked, though every file is there and verified")

    monkeypatch.setattr(dl, "try_lock", no_lock)
    assert download_dataset("mnist", tmp_path, mirror=server.url) == tmp_path
    assert len(server.ranges) == n
    monkeypatch.undo()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    (tmp_path / ".lock").mkdir()  # the lock file cannot be made, whoever runs the test (EISDIR)
    with pytest.raises(DataError) as info:
        download_dataset("mnist", tmp_path, mirror=server.url)
    assert str(info.value) == (f"{tmp_path}: cannot download into this folder (Is a directory); choose a writable "
                               f"one: --data-dir DIR, or $VISIONBENCH_CACHE for the cache")
    assert len(server.ranges) == n


def test_a_second_caller_waits_for_the_download_in_progress_and_says_so_once(
    served: tuple[_Server, dict[str, bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    from visionbench.runs import try_lock

    server, files = served
    monkeypatch.setattr(dl, "WAIT_NOTICE_SECONDS", 0.0)
    monkeypatch.setattr(dl, "_POLL_SECONDS", 0.01)
    held = try_lock(tmp_path)  # as the process downloading into it holds it
    assert held is not None
    looks, real_owner = [], dl.lock_owner

    def owner(folder: Path) -> int | None:
        looks.append(folder)
        if len(looks) == 5:
            polled.set()
        return real_owner(folder)

    polled = threading.Event()
    monkeypatch.setattr(dl, "lock_owner", owner)
    # The holder finishes once the waiter has looked five times (a timer thread, no clock in the test).
    releaser = threading.Thread(target=lambda: (polled.wait(30), held.release()))
    releaser.start()
    with caplog.at_level("WARNING", logger="visionbench.data"):
        assert download_dataset("mnist", tmp_path, mirror=server.url) == tmp_path
    releaser.join(30)
    assert len(looks) >= 5
    said = [r.getMessage() for r in caplog.records if r.name == "visionbench.data"]
    assert said == [f"waiting for process {os.getpid()}, which is downloading into {tmp_path}"]
    assert len(server.ranges) == len(files)  # then it fetched the files (the holder had fetched none)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)


def test_ctrl_c_stops_the_wait_cleanly(served: tuple[_Server, dict[str, bytes]], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from visionbench.cli import main
    from visionbench.runs import try_lock

    server, _ = served
    monkeypatch.setenv("VISIONBENCH_MIRROR", server.url)

    def ctrl_c(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "time", SimpleNamespace(monotonic=time.monotonic, sleep=ctrl_c))
    with try_lock(tmp_path):
        assert main(["download", "mnist", "--data-dir", str(tmp_path)]) == 130
        assert capsys.readouterr().err.strip() == (f"interrupted: stopped waiting for the download into {tmp_path}; "
                                                   f"nothing was fetched by this process")
        assert [p.name for p in tmp_path.iterdir()] == [".lock"]  # the holder's, untouched
    assert server.ranges == []
