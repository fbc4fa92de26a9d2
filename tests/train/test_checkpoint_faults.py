"""Damaged or foreign checkpoints (issue 13's list): resume and evaluate answer one RunError line naming the file,
never a traceback, and nothing in the file is executed."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import torch

from visionbench.errors import RunError
from visionbench.train import evaluate_run, train


class _Payload:
    """A pickle that would write a marker file when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One finished run per engine (tiny, seconds)."""
    from visionbench.train.config import TrainConfig

    out = tmp_path_factory.mktemp("runs")
    made = {}
    for model in ("mlp_small", "scratch_mlp"):
        made[model] = train(TrainConfig(model=model, dataset="digits", epochs=1, batch_size=64,
                                        max_train_samples=200, output_dir=str(out), quiet=True, threads=1)).run_dir
    return made


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _pt_cases(good: bytes, marker) -> dict[str, bytes]:
    state = torch.load(io.BytesIO(good), weights_only=True)
    # One bit of a weight (the first tensor, zip member data/0), and one of the optimizer state (the last tensor:
    # found by benchmarks/fuzz.py, it loaded on resume as other Adam moments, the digest covering only the weights).
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        tensors = sorted((i for i in archive.infolist() if "/data/" in i.filename and i.filename[-1].isdigit()),
                         key=lambda i: int(i.filename.rsplit("/", 1)[1]))
    flipped, flipped_optimizer = _flip_in(good, tensors[0], 5), _flip_in(good, tensors[-1], tensors[-1].file_size // 2)
    return {
        "empty": b"",
        "truncated": good[: len(good) // 3],
        "not a zip": b"hello world" * 10,
        "plain pickle": pickle.dumps(_Payload(marker)),
        "code in a torch file": _torch_bytes({"model": _Payload(marker), "optimizer": {}, "meta": "{}"}),
        "list, not dict": _torch_bytes([1, 2, 3]),
        "model not a dict": _torch_bytes({**state, "model": [torch.zeros(2)]}),
        "integer keys": _torch_bytes({**state, "model": {0: torch.zeros(2)}}),
        "bad meta text": _torch_bytes({**state, "meta": "{not json"}),
        "meta a list": _torch_bytes({**state, "meta": "[1, 2]"}),
        "meta epoch a string": _torch_bytes({**state, "meta": json.dumps({"epoch": "3", "history": [], "best": {}})}),
        "meta without best": _torch_bytes({**state, "meta": json.dumps({"epoch": 1, "history": []})}),
        "meta best a string": _torch_bytes({**state, "meta": json.dumps({"epoch": 1, "history": [],
                                                                          "best": {"val_acc": "high", "epoch": 1}})}),
        "no optimizer": _torch_bytes({"model": state["model"], "meta": state["meta"]}),
        "other shapes": _torch_bytes({**state, "model": {k: torch.zeros(3, 3) for k in state["model"]}}),
        "bit flip": flipped,
        "bit flip in the optimizer state": flipped_optimizer,
    }


def _flip_in(data: bytes, item: zipfile.ZipInfo, offset: int) -> bytes:
    """``data`` with one bit flipped ``offset`` bytes into the stored data of the zip member ``item``."""
    out = bytearray(data)
    name_len = int.from_bytes(data[item.header_offset + 26 : item.header_offset + 28], "little")
    extra_len = int.from_bytes(data[item.header_offset + 28 : item.header_offset + 30], "little")
    out[item.header_offset + 30 + name_len + extra_len + offset] ^= 0x01
    return bytes(out)


def _npz_cases(good: bytes, path) -> dict[str, bytes]:
    with np.load(io.BytesIO(good), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    crc = bytearray(good)  # a CRC error: one byte of a stored member's data flipped in place, its CRC kept
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        item = next(i for i in archive.infolist() if i.filename.startswith("model/"))
        name_len, extra_len = int.from_bytes(good[item.header_offset + 26 : item.header_offset + 28], "little"), \
            int.from_bytes(good[item.header_offset + 28 : item.header_offset + 30], "little")
        start = item.header_offset + 30 + name_len + extra_len
        crc[start + item.compress_size - 1] ^= 0x01
    crc = bytes(crc)
    npy = io.BytesIO()
    np.save(npy, np.zeros(3))
    no_meta = {k: v for k, v in arrays.items() if k != "meta"}
    return {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "crc error": crc,
        ".npy under an .npz name": npy.getvalue(),
        "missing meta": _npz_bytes(**no_meta),
        "meta not json": _npz_bytes(**{**no_meta, "meta": np.array("{oops")}),
        "extra array": _npz_bytes(**{**arrays, "model/unknown": np.zeros(2)}),
        "missing array": _npz_bytes(**{k: v for k, v in arrays.items() if k != sorted(arrays)[0]}),
        "object array": _npz_bytes(**{**arrays, "meta": np.array([{"a": 1}], dtype=object)}),
    }


@pytest.mark.parametrize("engine", ["mlp_small", "scratch_mlp"])
def test_damaged_checkpoints_are_one_line(runs, engine, tmp_path):
    import shutil

    src = runs[engine]
    suffix = ".pt" if engine == "mlp_small" else ".npz"
    good = (src / "checkpoints" / f"last{suffix}").read_bytes()
    marker = tmp_path / "executed"
    cases = _pt_cases(good, marker) if suffix == ".pt" else _npz_cases(good, tmp_path)
    outcomes = {}
    for name, data in cases.items():
        run = tmp_path / name.replace(" ", "_").replace(",", "").replace(".", "")
        shutil.copytree(src, run)
        (run / "checkpoints" / f"last{suffix}").write_bytes(data)
        (run / "checkpoints" / f"best{suffix}").write_bytes(data)
        for action, call in (("resume", lambda r=run: train(None, resume=r)),
                             ("evaluate", lambda r=run: evaluate_run(r))):
            try:
                call()
                outcomes[(name, action)] = "accepted"
            except RunError as exc:
                message = str(exc)
                assert "\n" not in message and str(run) in message, (name, message)
                outcomes[(name, action)] = "error"
    assert not marker.exists(), "a pickle in a checkpoint was executed"
    accepted = {k for k, v in outcomes.items() if v == "accepted"}
    # Evaluating needs only the weights (no optimizer state, no resume fields); all else is refused, a flipped bit
    # inside the tensors too (torch keeps no checksum: ours is in the file).
    allowed = {("no optimizer", "evaluate"), ("meta without best", "evaluate"), ("extra array", "evaluate")}
    assert accepted <= allowed, accepted - allowed


def test_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    import errno
    import os

    from visionbench import runs as runs_module
    from visionbench.train import backends
    from visionbench.train.config import TrainConfig

    cfg = TrainConfig(model="mlp_small", dataset="digits", epochs=3, batch_size=64, max_train_samples=200,
                      output_dir=str(tmp_path), quiet=True, threads=1)
    monkeypatch.setattr("visionbench.train.loop.CHECKPOINT_EVERY_SECONDS", 0.0)  # a checkpoint every epoch
    real_write, real_fsync = backends.atomic_write_bytes, os.fsync
    saves = {"n": 0}

    def full_disk_on_third_last_save(path, data):
        if str(path).endswith("last.pt"):
            saves["n"] += 1
            if saves["n"] == 3:  # initial, epoch 1, then epoch 2: the disk is full
                def no_space(fd):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

                monkeypatch.setattr(runs_module.os, "fsync", no_space)
                try:
                    return real_write(path, data)
                finally:
                    monkeypatch.setattr(runs_module.os, "fsync", real_fsync)
        return real_write(path, data)

    monkeypatch.setattr(backends, "atomic_write_bytes", full_disk_on_third_last_save)
    with pytest.raises(RunError, match="No space left on device") as err:
        train(cfg)
    assert "\n" not in str(err.value) and "previous version of the file is unchanged" in str(err.value)
    (run_dir,) = tmp_path.iterdir()
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.endswith(".tmp")]  # no half-written file
    meta = json.loads(torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["meta"])
    assert meta["epoch"] == 1  # the previous checkpoint, intact
    monkeypatch.setattr(backends, "atomic_write_bytes", real_write)  # space freed: the run continues
    resumed = train(None, resume=run_dir)
    assert resumed.status == "completed" and resumed.results["epochs_completed"] == 3
