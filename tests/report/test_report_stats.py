"""Statistics over seeds (checked against hand computations) and the summary exports: CSV, Markdown, LaTeX, JSON."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
from report_fakes import FakeRun

from visionbench.report import build_comparison_report, latex_escape, mean_std_ci, paired_difference, to_latex

T_975_DF2 = 4.302652729911275  # Student's t quantile, 0.975, 2 degrees of freedom (from tables)


def test_mean_std_ci_by_hand() -> None:
    st = mean_std_ci([0.90, 0.92, 0.94])
    assert st["n"] == 3 and st["mean"] == pytest.approx(0.92) and st["std"] == pytest.approx(0.02)
    half = T_975_DF2 * 0.02 / math.sqrt(3)
    assert st["ci_low"] == pytest.approx(0.92 - half) and st["ci_high"] == pytest.approx(0.92 + half)


def test_interval_is_empty_for_one_value_and_clipped_to_bounds() -> None:
    assert mean_std_ci([0.9]) == {"n": 1, "mean": 0.9, "std": None, "ci_low": None, "ci_high": None}
    assert mean_std_ci([])["mean"] is None
    st = mean_std_ci([0.97, 0.99], bounds=(0.0, 1.0))
    assert st["ci_high"] == 1.0 and st["ci_low"] < 0.97  # 12.7 * std / sqrt(2) reaches past 100 %


def test_paired_difference_by_hand() -> None:
    a = {1: 0.90, 2: 0.95, 3: 0.93, 4: 0.5}  # seed 4 has no partner: not used
    b = {1: 0.92, 2: 0.96, 3: 0.96}
    res = paired_difference(a, b)
    assert res is not None and res["n_pairs"] == 3 and res["seeds"] == [1, 2, 3]
    # differences -0.02, -0.01, -0.03: mean -0.02, std 0.01, t = -0.02 / (0.01 / sqrt 3) = -sqrt(12)
    assert res["diff_mean"] == pytest.approx(-0.02) and res["diff_std"] == pytest.approx(0.01)
    assert res["t"] == pytest.approx(-math.sqrt(12))
    # two-sided p with 2 degrees of freedom: the t cdf is 1/2 + t / (2 sqrt(2 + t^2))
    t = math.sqrt(12)
    assert res["p_value"] == pytest.approx(2 * (0.5 - t / (2 * math.sqrt(2 + t * t))))
    half = T_975_DF2 * 0.01 / math.sqrt(3)
    assert (res["ci_low"], res["ci_high"]) == (pytest.approx(-0.02 - half), pytest.approx(-0.02 + half))


def test_paired_difference_needs_two_pairs_and_variation() -> None:
    assert paired_difference({1: 0.9, 2: 0.8}, {1: 0.7, 3: 0.6}) is None
    same = paired_difference({1: 0.9, 2: 0.8}, {1: 0.8, 2: 0.7})
    assert same is not None and same["diff_mean"] == pytest.approx(0.1)
    assert same["p_value"] is None and same["t"] is None  # every difference equal: the test is undefined


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    from report_fakes import write_fake_run

    root = tmp_path_factory.mktemp("stats")
    accs = {"cnn_small": [0.92, 0.96, 0.93], "mlp": [0.90, 0.95, 0.93], "solo": [0.5]}
    runs = [write_fake_run(root / "runs", m, s, a) for m, values in accs.items() for s, a in enumerate(values, 1)]
    out = root / "cmp"
    return out, build_comparison_report(runs, out, title="Stats_test")


def test_summary_statistics_and_paired_tests_in_every_output(built: tuple[Path, dict[str, Any]]) -> None:
    out, report = built
    best, mlp, solo = report["summary"]
    assert best["model"] == "cnn_small"
    assert mlp["vs_best"] == "cnn_small" and mlp["vs_best_n_pairs"] == 3
    assert mlp["vs_best_diff_mean"] == pytest.approx(-0.01)
    assert solo["vs_best_n_pairs"] == 1 and solo["vs_best_p_value"] is None  # seed 1 only: no test
    assert solo["test_accuracy_ci_low"] is None and solo["test_accuracy_std"] is None
    # CSV: empty interval for n=1, never 0
    with (out / "comparison_summary.csv").open(newline="") as f:
        rows = {r["model"]: r for r in csv.DictReader(f)}
    assert rows["solo"]["test_accuracy_ci_low"] == "" and rows["solo"]["test_accuracy_std"] == ""
    assert float(rows["mlp"]["vs_best_p_value"]) == pytest.approx(mlp["vs_best_p_value"])
    assert float(rows["cnn_small"]["test_macro_f1_ci_high"]) > float(rows["cnn_small"]["test_macro_f1_mean"])
    # JSON
    data = json.loads((out / "comparison_summary.json").read_text())
    assert [a["model"] for a in data["summary"]] == ["cnn_small", "mlp", "solo"]
    assert data["summary"][1]["vs_best_diff_ci_low"] == pytest.approx(mlp["vs_best_diff_ci_low"])
    # Markdown page: the paired table, in percentage points
    md = report["markdown"]
    assert "## Paired differences against the best (cnn_small)" in md
    paired = md.split("## Paired differences")[1].split("## Plots")[0]
    line = next(x for x in paired.splitlines() if x.startswith("| mlp | 3 |"))
    assert line.startswith("| mlp | 3 | −1.00 | [")
    assert "solo (1)" in md  # named as not tested, with its shared seeds
    solo_line = next(x for x in md.splitlines() if x.startswith("| solo | 1 |"))
    assert "| 50.00 | — |" in solo_line  # mean without std, empty interval


def test_markdown_and_latex_summaries(built: tuple[Path, dict[str, Any]]) -> None:
    out, report = built
    md = (out / "comparison_summary.md").read_text()
    assert md.startswith("# Stats_test") and md.count("\n| cnn_small |") == 1 and "95 % CI (%)" in md
    tex = (out / "comparison_summary.tex").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex and "\\begin{tabular}{lrrrrrrr}" in tex
    assert "cnn\\_small &" in tex and "Test acc. (\\%)" in tex and "$\\pm$" in tex
    body = tex.split("\\midrule")[1]
    assert "_" not in body.replace("\\_", "") and "±" not in tex and "—" not in tex
    assert len([x for x in body.splitlines() if x.endswith("\\\\")]) == 3
    assert to_latex(report["summary"], caption="Stats_test") == tex


def test_latex_escape() -> None:
    assert latex_escape("a_b & 50% #1 {x} ~ ^ \\") == (
        "a\\_b \\& 50\\% \\#1 \\{x\\} \\textasciitilde{} \\textasciicircum{} \\textbackslash{}"
    )
    assert latex_escape("97.1 ± 0.2") == "97.1 $\\pm$ 0.2"


def test_single_run_summary_has_no_interval(tmp_path: Path, fake_run: FakeRun) -> None:
    report = build_comparison_report([fake_run(tmp_path, "cnn", 1, 0.9)], tmp_path / "cmp")
    (agg,) = report["summary"]
    assert agg["n_seeds"] == 1 and agg["test_accuracy_ci_low"] is None and agg["test_accuracy_ci_high"] is None
    assert "Paired differences" not in report["markdown"]


def test_mean_std_text_for_study_tables():
    from visionbench.report.tables import mean_std_text

    assert mean_std_text([0.5, 0.7]) == "0.600 ± 0.141"
    assert mean_std_text([0.5, None, float("nan")], missing="diverged") == "0.500 (2 diverged)"
    assert mean_std_text([0.5, None]) == "0.500" and mean_std_text([None, float("inf")]) is None
    assert mean_std_text([1234.56, 1234.56], 1) == "1234.6 ± 0.0" and mean_std_text([True, 2.0]) == "2.000"
