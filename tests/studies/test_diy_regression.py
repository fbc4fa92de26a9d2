"""diy-regression: our Linear + MSE by SGD matches scikit-learn's least squares; the report's numbers beside ours."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from visionbench.studies._runner import run_study
from visionbench.studies.diy_regression import _diabetes_bmi, _fit_both, _synthetic

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_study("diy-regression", quick=True, out=tmp_path_factory.mktemp("study"))


def _rows(summary):
    return {r["key"]: r for r in summary["rows"]}


def test_reference_rows_and_values(quick_run):
    summary = json.loads((quick_run.out_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    rows = _rows(summary)
    assert rows["r2_ours"]["reference"] == 0.52 and rows["r2_sklearn"]["reference"] == 0.47
    # The data the reference is compared with is scikit-learn's OLS example, whose least-squares test R² is 0.47.
    assert rows["r2_sklearn"]["ours"] == pytest.approx(0.4726, abs=1e-3)
    assert len(rows["r2_ours"]["per_seed"]) == 3
    for name in ("", "_synthetic", "_diabetes10"):
        ours, sk = rows[f"r2_ours{name}"], rows[f"r2_sklearn{name}"]
        assert ours["n"] == 3 and ours["n_missing"] == 0
        for seed, value in ours["per_seed"].items():
            assert abs(value - sk["per_seed"][seed]) < 0.03, (name, seed, value, sk["per_seed"][seed])
    assert 0.3 < rows["r2_sklearn_synthetic"]["ours"] < 0.75  # noise set for a population R² of 0.5
    # Least squares is optimal on the training set: SGD can come close but never above it.
    for name in ("bmi", "synthetic", "diabetes10"):
        for gap in rows[f"train_r2_gap_{name}"]["per_seed"].values():
            assert -1e-9 <= gap < 0.02, (name, gap)
    assert rows["bmi_test_r2_spread"]["ours"] > 0.05
    assert rows["bmi_best_line_test_r2"]["ours"] > 0.52


def test_figures_and_report(quick_run):
    out = quick_run.out_dir
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == ["bmi-fit-seed0.png", "loss-seed0.png", "synthetic-fit-seed0.png"]
    for name in figures:
        assert (out / "figures" / name).read_bytes()[:8] == PNG
    html = (out / "report.html").read_text()
    assert "0.520" in html and "0.470" in html
    assert "scikit-learn" in html
    assert not re.search(r"\bnan\b", (out / "report.md").read_text(), re.IGNORECASE)  # diverged cells read n/a


def test_divergence_is_reported_not_raised():
    split = _synthetic(50, 50, np.random.default_rng(0))
    res = _fit_both(split, epochs=20, lr=50.0, batch_size=16, rng=np.random.default_rng(0))
    assert res.r2_test_ours is None and res.r2_train_ours is None
    assert res.r2_test_sk == pytest.approx(res.r2_test_sk)  # scikit-learn's number is still there
    ok = _fit_both(_diabetes_bmi(), epochs=30, lr=0.01, batch_size=16, rng=np.random.default_rng(0))
    assert ok.r2_test_ours is not None and abs(ok.r2_test_ours - ok.r2_test_sk) < 0.02
