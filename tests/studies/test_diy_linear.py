"""diy-linear: a linear classifier separates two Gaussians; and the pieces every DIY study shares (studies/_diy.py):
the training loop is the engine's SGD, one part per seed, one BLAS thread."""

from __future__ import annotations

import json

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from visionbench.scratch import SGD, Linear, MSELoss
from visionbench.studies._diy import DIVERGED_ABOVE, fit, one_thread, seed_parts
from visionbench.studies._runner import run_study


@pytest.fixture(scope="module")
def linear_study(tmp_path_factory):
    """The quick run's folder and its summary."""
    out = run_study("diy-linear", quick=True, out=tmp_path_factory.mktemp("study")).out_dir
    return out, json.loads((out / "summary.json").read_text())


def test_separable_data_is_separated(linear_study):
    out, summary = linear_study
    assert summary["status"] == "completed"
    rows = {r["key"]: r for r in summary["rows"]}
    for key in ("train_accuracy", "test_accuracy"):
        assert rows[key]["n"] == 3 and rows[key]["n_missing"] == 0
        assert min(rows[key]["per_seed"].values()) >= 0.98, key
    assert [(p["name"], p["title"]) for p in summary["parts"]] == [
        (f"seed{s}", f"Linear classifier, seed {s}") for s in (0, 1, 2)]
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == ["boundary-seed0.png", "loss-seed0.png"]
    assert all((out / "figures" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)


def _problem() -> tuple[np.ndarray, np.ndarray]:
    r = np.random.default_rng(3)
    X = r.standard_normal((30, 2))
    return X, X @ np.array([[0.5], [-1.0]]) + 0.1 * r.standard_normal((30, 1))


def test_fit_is_the_engine_sgd():
    X, Y = _problem()
    a, b = (Linear(2, 1, rng=np.random.default_rng(1), dtype=np.float64) for _ in range(2))
    seen: list[int] = []
    f = fit(a, MSELoss(), X, Y, epochs=5, lr=0.05, n_batches=4, rng=np.random.default_rng(7),
            on_epoch=lambda e, _: seen.append(e))
    # 4 batches of 30 examples: batches of 8 (the last one 6), the same shuffles and steps as the engine's SGD.
    hist = SGD(b, MSELoss(), X, Y, batch_size=8, epochs=5, eps=0.05, rng=np.random.default_rng(7))
    assert f.losses == list(hist) and not f.diverged and seen == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(a.W, b.W)
    with pytest.raises(ValueError, match="exactly one"):
        fit(a, MSELoss(), X, Y, epochs=1, lr=0.1, batch_size=8, n_batches=4, rng=np.random.default_rng(0))


def test_fit_stops_at_the_first_diverged_epoch():
    X, Y = _problem()
    seen: list[int] = []
    f = fit(Linear(2, 1, rng=np.random.default_rng(1), dtype=np.float64), MSELoss(), X, Y * 1e5, epochs=40,
            lr=3.0, batch_size=5, rng=np.random.default_rng(0), on_epoch=lambda e, _: seen.append(e))
    assert f.diverged and np.isnan(f.losses[-1]) and len(f.losses) < 40
    assert all(v <= DIVERGED_ABOVE for v in f.losses[:-1]) and seen == list(range(len(f.losses) - 1))


class _FakeRun:
    """What seed_parts needs of a StudyRun: the seeds, and part() (which here records and runs the part)."""

    def __init__(self, seeds: tuple[int, ...]) -> None:
        self.seeds, self.calls = seeds, []

    def part(self, name, fn, *, title=""):
        self.calls.append((name, title))
        fn(f"part {name}")


def test_seed_parts_names_orders_and_binds_each_seed():
    ran: list[tuple[str, object, int]] = []
    run = _FakeRun((4, 7))
    seed_parts(run, ("", lambda p, s: ran.append(("a", p, s)), "First"),
               ("grid", lambda p, s: ran.append(("b", p, s)), "Second"))
    assert run.calls == [("seed4", "First, seed 4"), ("grid-seed4", "Second, seed 4"),
                         ("seed7", "First, seed 7"), ("grid-seed7", "Second, seed 7")]
    assert ran == [("a", "part seed4", 4), ("b", "part grid-seed4", 4), ("a", "part seed7", 7),
                   ("b", "part grid-seed7", 7)]
    other = _FakeRun((4, 7))
    seed_parts(other, ("x", lambda p, s: None, "X"), seeds=(9,))
    assert other.calls == [("x-seed9", "X, seed 9")]


def test_one_thread_limits_every_native_pool_to_one_thread():
    inside: list[dict[str, list[int]]] = []

    @one_thread
    def run(study):
        pools: dict[str, list[int]] = {}
        for lib in threadpool_info():
            pools.setdefault(lib["user_api"], []).append(lib["num_threads"])
        inside.append(pools)
        return study

    import sklearn.cluster  # noqa: F401 - loads scikit-learn's OpenMP runtime, which k-means and t-SNE use

    assert run.__name__ == "run"
    run(None)
    assert inside[0]["blas"] and inside[0]["openmp"]
    assert all(n == 1 for pool in inside[0].values() for n in pool), inside[0]
