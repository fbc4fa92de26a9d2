"""A fast fuzz sample (issue 13): Hypothesis mutates small valid files of the formats the product reads (IDX, raw and
gzip; the course's USPS txt; CIFAR python batches; .pt and .npz checkpoints) by truncation, bit flips, byte
insertions and overwrites, and every outcome must be either a load or one clean error line naming the file: never
another exception, never a silently accepted change of the data (a load must give the original arrays back).

The long run over every format, each case in a child process with a memory limit and a timeout, is
``benchmarks/fuzz.py`` (its in-suite sample is test_fuzz_bench.py); this in-process sample keeps the suite fast.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from _fuzz_runner import apply_edits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visionbench.errors import DataError, RunError

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
from _data_formats import idx_bytes  # noqa: E402

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def mutations(draw: st.DrawFn, size: int) -> list[tuple[str, int, int]]:
    """A few edits of a file of ``size`` bytes: (kind, position, value)."""
    kinds = st.sampled_from(["flip", "truncate", "insert", "overwrite", "delete"])
    return draw(st.lists(st.tuples(kinds, st.integers(0, max(size - 1, 0)), st.integers(0, 255)), min_size=1,
                         max_size=3))


mutate = apply_edits  # the harness's byte edits (benchmarks/fuzz.py uses the same)


def _one_line(exc: Exception, path: Path) -> None:
    text = str(exc)
    assert "\n" not in text and str(path.name) in text, text


# ---------------------------------------------------------------------------------------------------------- IDX

IMAGES = np.random.default_rng(0).integers(0, 256, (6, 4, 4), dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
@given(data=st.data())
@FUZZ
def test_idx(tmp_path: Path, gz: bool, data: st.DataObject) -> None:
    from visionbench.data.idx import read_idx

    good = idx_bytes(IMAGES)
    good = gzip.compress(good, mtime=0) if gz else good
    bad = mutate(good, data.draw(mutations(len(good))))
    path = tmp_path / ("x-images-idx3-ubyte" + (".gz" if gz else ""))
    path.write_bytes(bad)
    try:
        out = read_idx(path, 3, "fix it")
    except DataError as exc:
        _one_line(exc, path)
        return
    # Accepted: only if the result is the original array (a mutation the format cannot see must not get here:
    # e.g. a flipped pixel byte of a raw IDX file is undetectable, so it must be the only kind of accepted change).
    if not (out.shape == IMAGES.shape and np.array_equal(out, IMAGES)):
        assert not gz, "a damaged gzip IDX file loaded with other pixels"
        assert out.shape == IMAGES.shape, (out.shape, "a raw IDX file changed shape silently")


# --------------------------------------------------------------------------------------------------- USPS (course)

def _course_txt() -> str:
    rng = np.random.default_rng(1)
    rows = [" ".join([str(i % 10), *(f"{v:.4f}" for v in rng.uniform(0, 2, 256))]) for i in range(4)]
    return "4 256\n" + "\n".join(rows) + "\n"


@given(data=st.data())
@FUZZ
def test_usps_course_txt(tmp_path: Path, data: st.DataObject) -> None:
    from visionbench.data.usps import read_course_txt

    good = _course_txt().encode()
    path = tmp_path / "USPS_train.txt"
    path.write_bytes(mutate(good, data.draw(mutations(len(good)))))
    try:
        split = read_course_txt(path, "fix it")
    except DataError as exc:
        _one_line(exc, path)
        return
    assert split.images.shape == (4, 1, 16, 16) and split.labels.min() >= 0 and split.labels.max() <= 9


# --------------------------------------------------------------------------------------------------------- CIFAR

def _cifar_batch() -> bytes:
    rng = np.random.default_rng(2)
    batch = {"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8), "labels": [1, 2, 3]}
    return pickle.dumps(batch, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


@given(data=st.data())
@FUZZ
def test_cifar_batch(tmp_path: Path, data: st.DataObject) -> None:
    from visionbench.data.cifar import read_batch

    good = _cifar_batch()
    bad = mutate(good, data.draw(mutations(len(good))))
    try:
        split = read_batch(bad, str(tmp_path / "data_batch_1"), "labels", 10, "fix it")
    except DataError as exc:
        _one_line(exc, tmp_path / "data_batch_1")
        return
    assert split.images.shape == (3, 3, 32, 32) and set(split.labels.tolist()) <= set(range(10))


# --------------------------------------------------------------------------------------------------- checkpoints

@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from visionbench.train import TrainConfig, train

    out = tmp_path_factory.mktemp("runs")
    return {model: train(TrainConfig(model=model, dataset="digits", epochs=1, batch_size=64, max_train_samples=120,
                                     output_dir=str(out), quiet=True, threads=1,
                                     model_kwargs={"widths": [16]} if model == "mlp_small" else {})).run_dir
            for model in ("mlp_small", "scratch_linear")}


@pytest.mark.parametrize("model", ["mlp_small", "scratch_linear"])
@given(data=st.data())
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_checkpoint(tmp_path: Path, finished_runs: dict[str, Path], model: str, data: st.DataObject) -> None:
    from visionbench.train import evaluate_run

    src = finished_runs[model]
    import tempfile

    run = Path(tempfile.mkdtemp(dir=tmp_path)) / "run"  # a fresh copy for every example
    shutil.copytree(src, run)
    name = "best.pt" if model == "mlp_small" else "best.npz"
    good = (src / "checkpoints" / name).read_bytes()
    (run / "checkpoints" / name).write_bytes(mutate(good, data.draw(mutations(len(good)))))
    before = (src / "results.json").read_text()
    try:
        results = evaluate_run(run)
    except RunError as exc:
        _one_line(exc, run / "checkpoints" / name)
        return
    # Accepted: the checksum (.pt) or the zip CRCs (.npz) held, so the weights are the trained ones.
    import json

    assert results["test_accuracy"] == json.loads(before)["test_accuracy"]
