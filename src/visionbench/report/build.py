"""Build a comparison directory from run directories: CSV tables, a Markdown page and the plots."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from visionbench.report.plots import plot_accuracy_vs_time, plot_confusions, plot_learning_curves
from visionbench.report.tables import (
    TABLE_COLUMNS,
    aggregate,
    cell,
    collect,
    format_cell,
    read_runs,
    resolve_run_dirs,
    to_markdown,
    write_csv,
)
from visionbench.runs import Run, atomic_write_text

__all__ = ["build_comparison_report", "render_table_rich"]

DEFAULT_TITLE = "visionbench comparison"


def _rel(path: str | os.PathLike[str], start: Path, parents_ok: bool = True) -> str:
    """``path`` relative to ``start``; absolute when it is elsewhere and ``parents_ok`` is False."""
    try:
        rel = os.path.relpath(path, start)
    except ValueError:  # another drive on Windows
        return Path(path).resolve().as_posix()
    if not parents_ok and rel.split(os.sep)[0] == os.pardir:
        return Path(path).resolve().as_posix()
    return Path(rel).as_posix()


def _per_class_f1(runs: Sequence[Run]) -> list[str]:
    """One Markdown table per dataset: a row per class, a column per model, mean F1 (%) over completed seeds."""
    lines: list[str] = []
    datasets = sorted({r.dataset for r in runs})
    for dataset in datasets:
        per_model: dict[str, list[list[float]]] = {}
        classes: list[str] = []
        for run in runs:
            res = run.results or {}
            f1 = (res.get("per_class") or {}).get("f1")
            if run.dataset != dataset or run.status != "completed" or not f1:
                continue
            per_model.setdefault(run.model, []).append(f1)
            if not classes:
                names = res.get("classes")
                classes = (
                    [str(c) for c in names] if names and len(names) == len(f1) else [str(i) for i in range(len(f1))]
                )
        models = [
            m for m, vals in per_model.items() if len({len(v) for v in vals}) == 1 and len(vals[0]) == len(classes)
        ]
        if not models:
            continue
        means = {m: np.mean(np.asarray(per_model[m], dtype=float), axis=0) for m in models}  # (K,)
        title = "Per-class F1 (%)" + (f" on {dataset}" if len(datasets) > 1 else "")
        lines += [f"### {title}", "", "| Class | " + " | ".join(models) + " |", "| --- |" + " ---: |" * len(models)]
        for i, name in enumerate(classes):
            lines.append(f"| {name} | " + " | ".join(f"{100 * means[m][i]:.1f}" for m in models) + " |")
        lines.append("")
    return lines


def _commands(runs: Sequence[Run]) -> list[str]:
    out: list[str] = []
    for run in runs:
        cmd = run.config.get("command")
        if isinstance(cmd, (list, tuple)):
            cmd = shlex.join(str(c) for c in cmd)
        if isinstance(cmd, str) and cmd and cmd not in out:
            out.append(cmd)
    return out


def _runs_table(rows: Sequence[dict[str, Any]], out_dir: Path) -> list[str]:
    lines = ["| Model | Dataset | Seed | Status | Epochs | Test acc. (%) | Train time (s) | Run directory |"]
    lines.append("| --- | --- | ---: | --- | ---: | ---: | ---: | --- |")
    for r in rows:
        status = r["status"] if r["status"] == "completed" else f"**{r['status']}** (not averaged)"
        epochs = f"{r['epochs_completed'] if r['epochs_completed'] is not None else '?'}/{r['epochs'] or '?'}"
        acc = format_cell(r["test_accuracy"], None, 100.0, 2)
        secs = format_cell(r["train_seconds"], None, 1.0, 1)
        lines.append(
            f"| {r['model']} | {r['dataset']} | {r['seed']} | {status} | {epochs} | {acc} | {secs} | "
            f"`{_rel(r['path'], out_dir)}` |"
        )
    return lines


def build_comparison_report(
    run_dirs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], title: str = DEFAULT_TITLE
) -> dict[str, Any]:
    """Write the comparison of ``run_dirs`` into ``out_dir`` and return what was written.

    Writes ``comparison.csv`` (one row per run), ``comparison_summary.csv`` (one row per model and dataset, mean
    and std over completed seeds), ``comparison.md`` and ``plots/learning_curves.png``,
    ``plots/accuracy_vs_time.png``, ``plots/confusion_matrices.png``. Runs whose status is not ``completed`` are
    listed and flagged but never averaged.

    Args:
        run_dirs: run directories, or folders holding run directories (such as an earlier comparison directory).
        out_dir: where to write; created if missing, existing report files in it are replaced.
        title: the Markdown page's title.

    Returns:
        {"rows": per-run rows, "summary": aggregated rows, "markdown": the page text, "files": {name: Path}}.

    Raises:
        RunError: a folder is not a run directory and holds none.
    """
    out = Path(out_dir)
    runs = read_runs(resolve_run_dirs(run_dirs))
    rows = collect(runs)
    summary = aggregate(rows)
    files = {
        "comparison.csv": out / "comparison.csv",
        "comparison_summary.csv": out / "comparison_summary.csv",
        "comparison.md": out / "comparison.md",
        "learning_curves.png": out / "plots" / "learning_curves.png",
        "accuracy_vs_time.png": out / "plots" / "accuracy_vs_time.png",
        "confusion_matrices.png": out / "plots" / "confusion_matrices.png",
    }
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, files["comparison.csv"])
    write_csv(summary, files["comparison_summary.csv"])
    plot_learning_curves(runs, files["learning_curves.png"])
    plot_accuracy_vs_time(rows, files["accuracy_vs_time.png"])
    plot_confusions(runs, files["confusion_matrices.png"])

    md = [f"# {title}", "", to_markdown(summary)]
    md += ["## Plots", ""]
    for name, caption in (
        ("learning_curves.png", "Learning curves"),
        ("accuracy_vs_time.png", "Test accuracy against training time"),
        ("confusion_matrices.png", "Confusion matrices (normalised by row)"),
    ):
        md.append(f"- [{caption}]({_rel(files[name], out)})")
    md += ["", f"![Learning curves]({_rel(files['learning_curves.png'], out)})", ""]
    md += _per_class_f1(runs)
    md += ["## Runs", ""] + _runs_table(rows, out) + [""]
    md += ["## Reproduce", ""]
    commands = _commands(runs)
    if commands:
        md += ["Train the runs again (same seeds, same machine give the same metrics):", "", "```sh", *commands, "```"]
        md.append("")
    if all(out.resolve() in r.path.resolve().parents for r in runs):
        # compare expands a folder into the runs under it
        run_args = shlex.quote(_rel(out, Path.cwd(), parents_ok=False))
    else:
        run_args = " ".join(shlex.quote(_rel(r.path, Path.cwd(), parents_ok=False)) for r in runs)
    md += ["Rebuild this report from the run directories alone:", "", "```sh"]
    md += [f"visionbench compare {run_args}", "```", ""]
    markdown = "\n".join(md)
    atomic_write_text(files["comparison.md"], markdown)
    return {"rows": rows, "summary": summary, "markdown": markdown, "files": files}


def render_table_rich(summary: Sequence[dict[str, Any]]) -> Table:
    """The summary as a :class:`rich.table.Table` for the terminal (same cells as the Markdown table)."""
    several = len({a["dataset"] for a in summary}) > 1
    table = Table(title="Comparison (mean ± std over seeds)" if any(a["n_seeds"] > 1 for a in summary) else None)
    # Model names are never truncated; the numeric columns shrink first.
    table.add_column("Model", style="bold", no_wrap=True, min_width=max((len(str(a["model"])) for a in summary),
                                                                        default=5))
    if several:
        table.add_column("Dataset")
    table.add_column("Runs", justify="right")
    for _, header, _, _ in TABLE_COLUMNS:
        table.add_column(header, justify="right")
    for a in summary:
        runs = str(a["n_seeds"]) + (f" [red](+{a['n_flagged']} flagged)[/red]" if a["n_flagged"] else "")
        cells = [a["model"], *([a["dataset"]] if several else []), runs]
        cells += [cell(a, k, s, d) for k, _, s, d in TABLE_COLUMNS]
        table.add_row(*cells)
    return table
