"""Comparison reports built only from run directories: CSV, Markdown, LaTeX and JSON tables, PNG plots."""

from __future__ import annotations

from visionbench.report.build import SOURCES_FILE, build_comparison_report, rebuild_report
from visionbench.report.export import latex_escape, to_latex
from visionbench.report.fingerprint import dataset_part, fingerprint
from visionbench.report.grouping import check_comparable
from visionbench.report.plots import (
    model_colors,
    plot_accuracy_by_seed,
    plot_accuracy_vs_time,
    plot_confusion,
    plot_confusions,
    plot_learning_curves,
)
from visionbench.report.stats import mean_std_ci, paired_difference
from visionbench.report.tables import aggregate, collect, resolve_run_dirs, to_markdown, write_csv
from visionbench.report.terminal import render_table_rich

__all__ = [
    "SOURCES_FILE",
    "build_comparison_report",
    "rebuild_report",
    "render_table_rich",
    "fingerprint",
    "dataset_part",
    "check_comparable",
    "mean_std_ci",
    "paired_difference",
    "collect",
    "aggregate",
    "write_csv",
    "to_markdown",
    "to_latex",
    "latex_escape",
    "resolve_run_dirs",
    "model_colors",
    "plot_learning_curves",
    "plot_accuracy_vs_time",
    "plot_accuracy_by_seed",
    "plot_confusion",
    "plot_confusions",
]
