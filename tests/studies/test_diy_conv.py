"""diy-conv: the Conv1D and Conv2D nets train on digits, at the report's budgets and at a larger one."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from visionbench.studies._diy import DigitData
from visionbench.studies._diy_conv_nets import build_conv1d, build_conv2d, train_report
from visionbench.studies._runner import run_study
from visionbench.studies.diy_conv import _pm

PNG = b"\x89PNG\r\n\x1a\n"
SEEDS = ("0", "1", "2")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_study("diy-conv", quick=True, out=tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def rows(quick_run):
    summary = json.loads((quick_run.out_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    return {r["key"]: r for r in summary["rows"]}


def test_references_joined(rows):
    expected = {"conv1d_train_accuracy": 0.574, "conv1d_test_accuracy": 0.548, "conv2d_train_accuracy": 0.58,
                "conv2d_test_accuracy": 0.505, "conv2d_t61_row1_train_accuracy": 0.54,
                "conv2d_t61_row1_test_accuracy": 0.475, "conv2d_t61_row2_test_accuracy": 0.5,
                "conv2d_t61_row3_train_accuracy": 0.571, "conv2d_t61_row4_test_accuracy": 0.505,
                "conv1d_large_test_accuracy": 0.548, "conv2d_large_test_accuracy": 0.505}
    for key, ref in expected.items():
        assert rows[key]["reference"] == ref, key
        assert rows[key]["n"] == 3 and rows[key]["n_missing"] == 0, key
    for key in ("conv1d_seconds", "conv2d_seconds", "conv1d_large_seconds", "conv2d_large_seconds",
                "conv2d_t61_row1_seconds"):
        assert rows[key]["unit"] == "s" and rows[key]["ours"] > 0, key


def test_both_nets_learn_digits(rows):
    # Chance is 0.1; a net with a broken layer or gradient stays far below these.
    for net in ("conv1d", "conv2d"):
        for seed in SEEDS:
            assert rows[f"{net}_train_accuracy"]["per_seed"][seed] >= 0.97, (net, seed)
            assert rows[f"{net}_test_accuracy"]["per_seed"][seed] >= 0.92, (net, seed)
            assert rows[f"{net}_large_test_accuracy"]["per_seed"][seed] >= 0.95, (net, seed)
    # Table 6.1's ordering: one full batch at lr 0.01 < one full batch at lr 0.1 < 100 mini-batches.
    t = [rows[f"conv2d_t61_row{i}_test_accuracy"]["ours"] for i in (1, 2, 3, 4)]
    assert t[0] + 0.2 < t[1] < t[3]
    assert rows["conv2d_t61_row4_test_accuracy"]["ours"] == rows["conv2d_test_accuracy"]["ours"]


def test_larger_budget_beats_report_budget(rows):
    # Same (whole) test split for both budgets. Conv2D gains clearly in quick mode; the Conv1D net is already at its
    # ceiling with the report's budget, so it must at least not lose more than one test image in 450.
    assert rows["conv2d_large_test_accuracy"]["ours"] > rows["conv2d_whole_test_accuracy"]["ours"] + 0.005
    assert rows["conv1d_large_test_accuracy"]["ours"] >= rows["conv1d_whole_test_accuracy"]["ours"] - 0.0025
    both_large = rows["conv1d_large_test_accuracy"]["ours"] + rows["conv2d_large_test_accuracy"]["ours"]
    both_report = rows["conv1d_whole_test_accuracy"]["ours"] + rows["conv2d_whole_test_accuracy"]["ours"]
    assert both_large > both_report


def test_tables_figures_and_report(quick_run):
    out = quick_run.out_dir
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == ["accuracy-vs-time.png", "loss-conv1d.png", "loss-conv2d-table61.png", "loss-conv2d.png"]
    for name in figures:
        assert (out / "figures" / name).read_bytes()[:8] == PNG
    summary = json.loads((out / "parts" / "summary.json").read_text())
    tables = {t["title"]: t for t in summary["tables"]}
    assert len(tables["Table 6.1 re-run: Conv2D"]["rows"]) == 4
    assert len(tables["The report's budget against a larger one"]["rows"]) == 4
    sweep = json.loads((out / "parts" / "sweep.json").read_text())["tables"][0]
    assert {r[1] for r in sweep["rows"]} == {32, 128} and sweep["columns"][7] == "training seconds"
    html = (out / "report.html").read_text()
    for ref in ("0.574", "0.548", "0.580", "0.505", "0.475", "0.571", "Table 6.1 re-run"):
        assert ref in html, ref
    assert not re.search(r"\bnan\b", (out / "report.md").read_text(), re.IGNORECASE)


def test_architectures_adapt_and_divergence_is_caught():
    rng = np.random.default_rng(0)
    for side in (8, 16):
        assert build_conv1d(side, rng).forward(np.zeros((2, side * side, 1), np.float32)).shape == (2, 10)
        assert build_conv2d(side, rng).forward(np.zeros((2, side, side, 1), np.float32)).shape == (2, 10)
    X, y = rng.random((40, 64)), rng.integers(0, 10, 40)
    data = DigitData("fake (8x8)", 8, X, y, X[:10], y[:10])
    r = train_report("conv2d", data, 0, n_train=40, n_test=10, epochs=5, n_batches=4, lr=1e6)
    assert r["diverged"] and r["train"] is None and r["test"] is None and r["test_whole"] is None
    assert _pm([None, None]) is None and _pm([0.5, None]) == "0.500 (1 diverged)"
    assert _pm([0.5, 0.7]).startswith("0.600 ± 0.141")
