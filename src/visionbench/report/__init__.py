"""Comparison reports built only from run directories: CSV and Markdown tables, PNG plots."""

from __future__ import annotations

from visionbench.report.build import build_comparison_report, render_table_rich
from visionbench.report.plots import plot_accuracy_vs_time, plot_confusion, plot_confusions, plot_learning_curves
from visionbench.report.tables import aggregate, collect, resolve_run_dirs, to_markdown, write_csv

__all__ = [
    "build_comparison_report",
    "render_table_rich",
    "collect",
    "aggregate",
    "write_csv",
    "to_markdown",
    "resolve_run_dirs",
    "plot_learning_curves",
    "plot_accuracy_vs_time",
    "plot_confusion",
    "plot_confusions",
]
