"""Nothing in a file executes, and nothing in an archive lands outside its folder (issue 13, item 2).

Each hostile file carries a payload that would create a marker file when unpickled; the test proves the marker is
never created and the user gets one line naming the file. Archives are read member by member, never extracted: a tar
holding ``../`` paths, absolute paths and links leaves no file anywhere.
"""

from __future__ import annotations

import io
import pickle
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from _data_formats import cifar10_files, write_cifar

from visionbench.data import load_dataset
from visionbench.errors import DataError, RunError
from visionbench.train import TrainConfig, evaluate_run, train


class Payload:
    """Unpickling this calls ``open(marker, "w")``: the marker file proves the payload ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def _one_line(exc: pytest.ExceptionInfo, name: str) -> str:
    text = str(exc.value)
    assert "\n" not in text and name in text, text
    return text


def test_a_cifar_batch_with_a_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    files = cifar10_files()
    files["data_batch_1"] = pickle.dumps({"data": Payload(marker), "labels": [1]}, protocol=2)
    write_cifar(tmp_path / "data", files, "cifar-10-batches-py", None)
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", data_dir=tmp_path / "data")
    assert "refusing" in _one_line(info, "data_batch_1")
    assert not marker.exists()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("runs")
    return {engine: train(TrainConfig(model=model, dataset="digits", epochs=1, max_train_samples=120, threads=1,
                                      quiet=True, output_dir=str(out), model_kwargs=kwargs)).run_dir
            for engine, model, kwargs in (("torch", "mlp_small", {"widths": [8]}), ("numpy", "scratch_linear", {}))}


def test_a_torch_checkpoint_with_a_payload_is_refused_and_never_runs(runs: dict[str, Path], tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    run = tmp_path / "run"
    shutil.copytree(runs["torch"], run)
    good = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    torch.save({**good, "meta": Payload(marker)}, run / "checkpoints" / "best.pt")  # a valid zip, a hostile pickle
    with pytest.raises(RunError) as info:
        evaluate_run(run)
    _one_line(info, "best.pt")
    assert not marker.exists()


def test_an_npz_checkpoint_with_a_pickled_object_is_refused_and_never_runs(runs: dict[str, Path],
                                                                            tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    run = tmp_path / "run"
    shutil.copytree(runs["numpy"], run)
    path = run / "checkpoints" / "best.npz"
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["meta"] = np.array([Payload(marker)], dtype=object)  # np.save pickles object arrays
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    assert zipfile.is_zipfile(path)
    with pytest.raises(RunError) as info:
        evaluate_run(run)
    _one_line(info, "best.npz")
    assert not marker.exists()


def _hostile_tar(path: Path, outside: Path) -> None:
    """The CIFAR-10 archive plus members that would land outside its folder if it were extracted."""
    write_cifar(path.parent, cifar10_files(), "cifar-10-batches-py", path.name)
    with tarfile.open(path, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(path, "w:gz") as tar:
        for name in (f"../{outside.name}", str(outside / "abs"), "cifar-10-batches-py/../../escape"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
        link = tarfile.TarInfo("cifar-10-batches-py/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
        device = tarfile.TarInfo("cifar-10-batches-py/null")
        device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 3
        tar.addfile(device)
        for member, raw in members:
            tar.addfile(member, io.BytesIO(raw))


def test_a_tar_with_traversal_links_and_devices_writes_nothing_anywhere(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    outside = tmp_path / "outside"
    _hostile_tar(data / "cifar-10-python.tar.gz", outside)
    before = sorted(p for p in tmp_path.rglob("*"))
    ds = load_dataset("cifar10", data_dir=data)  # the archive's own members are read; the others are ignored
    assert len(ds.train) == 20 and len(ds.test) == 4  # five batches of 4 images, the test batch
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing extracted, nothing written
    assert not outside.exists() and not (tmp_path / "escape").exists()


def test_a_tar_whose_batch_is_a_link_is_refused(tmp_path: Path) -> None:
    # A member under the expected name that is a symlink (to a file outside) is not followed.
    data = tmp_path / "data"
    write_cifar(data, cifar10_files(), "cifar-10-batches-py", "cifar-10-python.tar.gz")
    path = data / "cifar-10-python.tar.gz"
    with tarfile.open(path, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(path, "w:gz") as tar:
        for member, raw in members:
            if member.name.endswith("data_batch_1"):
                link = tarfile.TarInfo(member.name)
                link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(link)
            else:
                tar.addfile(member, io.BytesIO(raw))
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", data_dir=data)
    _one_line(info, "data_batch_1")
