"""Build a comparison directory from run directories: CSV/Markdown/LaTeX/JSON tables, a Markdown page, the plots.

:func:`build_comparison_report` writes a report from run directories; :func:`rebuild_report` rewrites it in place
from the runs it was built from (``runs/`` under a comparison made by training, else the list in ``sources.json``).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visionbench.errors import RunError
from visionbench.report.export import paired_markdown, summary_markdown, to_latex, write_json_report
from visionbench.report.grouping import add_paired_tests, check_comparable, mark_duplicates
from visionbench.report.html import markdown_to_html, md_cell, md_code_cell
from visionbench.report.plots import (
    model_colors,
    plot_accuracy_by_seed,
    plot_accuracy_vs_time,
    plot_confusions,
    plot_learning_curves,
)
from visionbench.report.tables import (
    aggregate,
    collect,
    format_cell,
    read_runs,
    resolve_run_dirs,
    to_markdown,
    write_csv,
)
from visionbench.report.terminal import render_table_rich
from visionbench.runs import Run, atomic_write_text

__all__ = ["build_comparison_report", "rebuild_report", "render_table_rich", "SOURCES_FILE"]

SOURCES_FILE = "sources.json"

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


def _per_class_f1(runs: Sequence[Run], labels: dict[str, str] | None = None) -> list[str]:
    """One Markdown table per dataset: a row per class, a column per model (or label), mean F1 (%) over seeds."""
    lines: list[str] = []
    datasets = sorted({r.dataset for r in runs})
    for dataset in datasets:
        per_model: dict[str, list[list[float]]] = {}
        classes: list[str] = []
        for run in runs:
            res = run.results or {}
            per_class = res.get("per_class")
            f1 = per_class.get("f1") if isinstance(per_class, dict) else None
            if (run.dataset != dataset or run.status != "completed" or not isinstance(f1, list) or not f1
                    or not all(isinstance(v, (int, float)) for v in f1)):
                continue
            per_model.setdefault((labels or {}).get(str(run.path), run.model), []).append(f1)
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
        lines += [f"### {title}", "", "| Class | " + " | ".join(md_cell(m) for m in models) + " |",
                  "| --- |" + " ---: |" * len(models)]
        for i, name in enumerate(classes):
            lines.append(f"| {md_cell(name)} | " + " | ".join(f"{100 * means[m][i]:.1f}" for m in models) + " |")
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
    with_config = any(r.get("config") for r in rows)
    head = ["Model", *(["Config"] if with_config else []), "Dataset", "Seed", "Status", "Epochs", "Test acc. (%)",
            "Train time (s)", "Run directory", "Note"]
    align = ["---", *(["---"] if with_config else []), "---", "---:", "---", "---:", "---:", "---:", "---", "---"]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    for r in rows:
        status = r["status"] if r["status"] == "completed" else f"**{r['status']}** (not averaged)"
        epochs = f"{r['epochs_completed'] if r['epochs_completed'] is not None else '?'}/{r['epochs'] or '?'}"
        acc = format_cell(r["test_accuracy"], None, 100.0, 2)
        secs = format_cell(r["train_seconds"], None, 1.0, 1)
        note = "; ".join(x for x in (r.get("message"), r.get("note")) if x)
        cells = [md_cell(c) for c in (r["model"], *([r.get("config") or ""] if with_config else []), r["dataset"],
                                      r["seed"], status, epochs, acc, secs)]
        cells += [md_code_cell(_rel(r["path"], out_dir)), md_cell(note)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


# (file name, caption): the plots of a report, in the order comparison.md shows them.
PLOTS = [
    ("learning_curves.png", "Learning curves: validation accuracy (left) and loss (right, solid validation, dashed "
     "train) per epoch; mean over completed seeds with a ±1 std band, dotted lines for runs that did not complete."),
    ("accuracy_by_seed.png", "Test accuracy of every completed seed (dots), the mean (bar) and its 95 % Student-t "
     "interval (line)."),
    ("accuracy_vs_time.png", "Test accuracy against training time, mean ± std over seeds on both axes."),
    ("confusion_matrices.png", "Confusion matrices summed over completed seeds, normalised by row (each true class "
     "sums to 1)."),
]


def _mark_running(runs: Sequence[Run], rows: Sequence[dict[str, Any]]) -> list[str]:
    """Note the runs a live process is still training (their lock is held) and say so once: they are shown as they
    stand, never averaged."""
    live = {str(r.path): r.locked_by for r in runs if r.status == "running"}
    for row in rows:
        if row["path"] in live:
            pid = live[row["path"]]
            row["note"] = "; ".join(x for x in (row.get("note"), f"being trained by process {pid or '?'}") if x)
    if not live:
        return []
    names = ", ".join(Path(p).name for p in live)
    return [f"{len(live)} run(s) still being trained ({names}): shown as they stand, not averaged; build the report "
            f"again when they finish"]


def _summary_for_files(summary: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.items() if not k.startswith("_")} for a in summary]


def build_comparison_report(
    run_dirs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    title: str = DEFAULT_TITLE,
    *,
    allow_mixed: bool = False,
) -> dict[str, Any]:
    """Write the comparison of ``run_dirs`` into ``out_dir`` and return what was written.

    Runs of one model average into one summary row only when their fingerprints agree
    (:func:`visionbench.report.fingerprint.fingerprint`: data, budget, hyper-parameters) and every model was run on
    the same data; otherwise the build stops with one line naming the model, the key and both values, unless
    ``allow_mixed`` (then one row per model and configuration, labelled with what differs). A seed that appears
    twice for one row is counted once and reported as a warning. Runs whose status is not ``completed`` are listed
    with their message but never averaged.

    Writes ``comparison.csv`` (per run), ``comparison_summary.csv``, ``comparison_summary.md``,
    ``comparison_summary.tex`` and ``comparison_summary.json`` (per row, with the statistics and the paired tests),
    ``comparison.md`` (the page, embedding every plot), ``comparison.html`` (the same page, self-contained: CSS and
    plots inline), ``sources.json`` (what to rebuild from) and
    ``plots/learning_curves.png``, ``plots/accuracy_by_seed.png``, ``plots/accuracy_vs_time.png``,
    ``plots/confusion_matrices.png``.

    Args:
        run_dirs: run directories, or folders holding run directories (such as an earlier comparison directory).
        out_dir: where to write; created if missing, existing report files in it are replaced.
        title: the Markdown page's title.
        allow_mixed: keep runs of different configurations or data, one summary row per (model, fingerprint).

    Returns:
        {"rows": per-run rows, "summary": summary rows, "warnings": one-line warnings, "colors": {model: colour},
        "fingerprints": {hash: facts}, "markdown": the page text, "files": {name: Path}}.

    Raises:
        RunError: a folder is not a run directory and holds none.
        ConfigError: mixed configurations or data without ``allow_mixed``.
    """
    out = Path(out_dir)
    runs = read_runs(resolve_run_dirs(run_dirs))
    check = check_comparable(runs, allow_mixed=allow_mixed)
    warnings = list(check["warnings"])
    rows = []
    for row in collect(runs):
        path = row.pop("path")
        row.update(fingerprint=check["fingerprints"][path], config=check["labels"][path], path=path)
        rows.append(row)
    warnings += mark_duplicates(rows)
    warnings += _mark_running(runs, rows)
    for row in rows:
        row["path"] = row.pop("path")  # last column of comparison.csv, after the ones the build adds
    summary = aggregate(rows)
    add_paired_tests(summary, rows, check["facts"])
    colors = model_colors(r.model for r in runs)
    labels = {r["path"]: (f"{r['model']} ({r['config']})" if r["config"] else r["model"]) for r in rows}
    counted = {r["path"] for r in rows if r["counted"]}
    plot_runs = [r for r in runs if str(r.path) in counted]

    files = {name: out / name for name in (
        "comparison.csv", "comparison_summary.csv", "comparison_summary.md", "comparison_summary.tex",
        "comparison_summary.json", "comparison.md", SOURCES_FILE,
    )}
    files.update({name: out / "plots" / name for name, _ in PLOTS})
    out.mkdir(parents=True, exist_ok=True)
    plain = _summary_for_files(summary)
    write_csv(rows, files["comparison.csv"])
    write_csv(plain, files["comparison_summary.csv"])
    atomic_write_text(files["comparison_summary.md"], summary_markdown(plain, title))
    atomic_write_text(files["comparison_summary.tex"], to_latex(plain, caption=title))
    write_json_report(files["comparison_summary.json"], {
        "title": title, "summary": plain, "warnings": warnings, "fingerprints": check["facts"], "colors": colors,
    })
    write_json_report(files[SOURCES_FILE], {
        "title": title, "allow_mixed": allow_mixed, "runs": [str(r.path.resolve()) for r in runs],
    })
    plot_learning_curves(plot_runs, files["learning_curves.png"], colors=colors, labels=labels)
    plot_accuracy_by_seed(rows, files["accuracy_by_seed.png"], colors=colors)
    plot_accuracy_vs_time(rows, files["accuracy_vs_time.png"], colors=colors)
    plot_confusions(plot_runs, files["confusion_matrices.png"], colors=colors, labels=labels)

    md = [f"# {title}", ""]
    if warnings:
        md += [f"> **Warning:** {md_cell(w)}" + ("  " if i < len(warnings) - 1 else "") for i, w in enumerate(warnings)]
        md.append("")
    md += [f"> Note: {md_cell(n)}" for n in check.get("notes", [])] + ([""] if check.get("notes") else [])
    md += [to_markdown(summary)]
    md += paired_markdown(summary)
    md += ["## Plots", ""]
    for name, caption in PLOTS:
        md += [f"![{caption.split(':')[0].split(',')[0]}]({_rel(files[name], out)})", "", f"*{caption}*", ""]
    md += _per_class_f1(plot_runs, labels)
    md += ["## Runs", ""] + _runs_table(rows, out) + [""]
    md += ["## Files", ""]
    md += [
        "- `comparison.csv`: one row per run, unrounded; `comparison_summary.csv`, `.md`, `.tex` (booktabs), "
        "`.json`: one row per model (and configuration), with the statistics and the paired tests.",
        f"- `{SOURCES_FILE}`: the run directories this report was built from.",
        "",
    ]
    md += ["## Reproduce", ""]
    commands = _commands(runs)
    if commands:
        md += ["Train the runs again (same seeds, same machine give the same metrics):", "", "```sh", *commands, "```"]
        md.append("")
    md += ["Rebuild this report in place from its run directories:", "", "```sh"]
    md += [f"visionbench report {shlex.quote(_rel(out, Path.cwd(), parents_ok=False))}", "```", ""]
    markdown = "\n".join(md)
    atomic_write_text(files["comparison.md"], markdown)
    files["comparison.html"] = out / "comparison.html"
    atomic_write_text(files["comparison.html"], markdown_to_html(markdown, out, title))
    return {"rows": rows, "summary": summary, "warnings": warnings, "colors": colors,
            "fingerprints": check["facts"], "markdown": markdown, "files": files}


def _title_from_plan(comparison_dir: Path) -> str | None:
    plan_path = comparison_dir / "plan.json"
    try:
        plan = json.loads(plan_path.read_text())
        return f"{plan['dataset']}: {', '.join(plan['models'])}"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def rebuild_report(comparison_dir: str | os.PathLike[str], *, allow_mixed: bool | None = None) -> dict[str, Any]:
    """Rebuild a comparison directory's report in place from its run directories (no new folder).

    The runs are those under ``comparison_dir/runs/`` (a comparison made by training; runs added since, by
    ``--resume``, are picked up), else those listed in ``comparison_dir/sources.json`` (a comparison of existing
    runs). The title and ``allow_mixed`` are read back from ``sources.json`` when it is there.

    Args:
        comparison_dir: a folder written by :func:`build_comparison_report`.
        allow_mixed: override the setting the report was built with (None: keep it).

    Returns:
        What :func:`build_comparison_report` returns.

    Raises:
        RunError: the folder is not a comparison directory, or a run it lists no longer exists.
    """
    root = Path(comparison_dir)
    sources_path = root / SOURCES_FILE
    sources: dict[str, Any] = {}
    if sources_path.is_file():
        try:
            sources = json.loads(sources_path.read_text())
        except ValueError as exc:
            raise RunError(
                f"{sources_path}: unreadable ({exc}); build the report again with `visionbench compare RUN_DIR...`"
            ) from None
    run_dirs: list[str | Path]
    if (root / "runs").is_dir():
        run_dirs = [root / "runs"]
    elif sources.get("runs"):
        run_dirs = [Path(p) for p in sources["runs"]]
        for p in run_dirs:
            if not Path(p).is_dir():
                raise RunError(f"{sources_path}: lists {p}, which no longer exists; put the run back there or build "
                               "a new report with `visionbench compare RUN_DIR...`")
    else:
        raise RunError(f"{root}: not a comparison directory (no runs/ and no {SOURCES_FILE}); give a folder made by "
                       "`visionbench compare`")
    title = sources.get("title") or _title_from_plan(root) or DEFAULT_TITLE
    mixed = bool(sources.get("allow_mixed", False)) if allow_mixed is None else allow_mixed
    return build_comparison_report(run_dirs, root, title=title, allow_mixed=mixed)
