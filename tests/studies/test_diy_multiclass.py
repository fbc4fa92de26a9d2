"""diy-multiclass: the 2-layer network classifies digits well above chance; both cross-entropies agree."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from visionbench.studies._runner import run_study
from visionbench.studies.diy_multiclass import build_net

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_study("diy-multiclass", quick=True, out=tmp_path_factory.mktemp("study"))


def test_accuracies_and_variants(quick_run):
    def refuse(name: str) -> None:
        raise AssertionError(f"summary.json holds {name}")

    summary = json.loads((quick_run.out_dir / "summary.json").read_text(), parse_constant=refuse)
    assert summary["status"] == "completed"
    rows = {r["key"]: r for r in summary["rows"]}
    assert rows["train_accuracy"]["reference"] == 0.919 and rows["test_accuracy"]["reference"] == 0.892
    for key in ("train_accuracy", "test_accuracy", "logsoftmax_train_accuracy", "logsoftmax_test_accuracy"):
        assert rows[key]["n"] == 3 and rows[key]["n_missing"] == 0, key
        for seed in ("0", "1", "2"):
            assert rows[key]["per_seed"][seed] > 0.85, (key, seed)  # chance is 0.1
    for seed in ("0", "1", "2"):
        soft, log = rows["test_accuracy"]["per_seed"][seed], rows["logsoftmax_test_accuracy"]["per_seed"][seed]
        assert abs(soft - log) <= 0.01
    assert rows["variants_test_agreement"]["ours"] >= 0.99
    assert rows["variants_max_loss_gap"]["ours"] < 1e-6
    # The engine's batch-mean gradient takes smaller steps: it trains less in the same iterations.
    assert rows["meangrad_train_accuracy"]["ours"] < rows["train_accuracy"]["ours"]
    # Ten times the step: both variants stay at chance; CE on probabilities is stuck under its clipping floor.
    assert rows["large_lr_test_accuracy"]["ours"] < 0.3
    assert rows["large_lr_logsoftmax_test_accuracy"]["ours"] < 0.3
    assert rows["large_lr_floored_share"]["ours"] > 0.5


def test_figures_and_report(quick_run):
    out = quick_run.out_dir
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == ["confusion-seed0.png", "loss-large-lr-seed0.png", "loss-seed0.png", "predictions-seed0.png"]
    for name in figures:
        assert (out / "figures" / name).read_bytes()[:8] == PNG
    html = (out / "report.html").read_text()
    assert "0.919" in html and "0.892" in html
    assert "digits (8x8)" in html  # the note saying which data replaced USPS
    assert not re.search(r"\bnan\b", (out / "report.md").read_text(), re.IGNORECASE)


def test_variants_start_from_the_same_weights():
    a, b = build_net(64, 3, softmax=True), build_net(64, 3, softmax=False)
    for (na, pa, _), (nb, pb, _) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert na == nb
        np.testing.assert_array_equal(pa, pb)
    assert len(a.named_parameters()) == 4
