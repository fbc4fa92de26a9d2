"""The comparison tables: one row per run, one row per (model, dataset) over seeds, as CSV and Markdown.

Everything is read from run directories (:func:`visionbench.runs.read_run`), so runs made earlier, elsewhere or by
hand compare the same way. Only runs whose status is ``completed`` enter the means; the others are counted and
named in the ``flagged`` column, never averaged in silently.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from visionbench.errors import RunError
from visionbench.report.html import md_cell
from visionbench.report.stats import mean_std_ci
from visionbench.runs import Run, atomic_write_text, find_runs, is_run_dir, read_run

__all__ = [
    "RUN_COLUMNS",
    "METRICS",
    "CI_METRICS",
    "group_key",
    "resolve_run_dirs",
    "read_runs",
    "collect",
    "aggregate",
    "write_csv",
    "to_markdown",
    "format_cell",
    "cell",
    "ci_cell",
    "runs_cell",
    "summary_columns",
    "dash_notes",
    "mean_std_text",
    "summary_header",
    "summary_markdown_table",
    "TABLE_COLUMNS",
]

# Numeric columns of a run row; the summary has ``<name>_mean`` and ``<name>_std`` for each.
METRICS = [
    "test_accuracy",
    "test_macro_f1",
    "test_loss",
    "test_top5_accuracy",
    "best_val_accuracy",
    "epochs_completed",
    "steps_completed",
    "train_seconds",
    "seconds_per_epoch",
    "train_images_per_second",
    "inference_images_per_second",
    "params_total",
    "params_trainable",
    "flops_per_image",
    "peak_memory_mb",
    "run_memory_mb",
]

RUN_COLUMNS = [
    "model", "dataset", "seed", "status", "engine", "epochs", "best_epoch", *METRICS, "budget", "steps_per_epoch",
    "message", "path",
]

# Metrics whose summary also has a 95 % Student-t interval (``<name>_ci_low``, ``<name>_ci_high``), clipped to [0, 1].
CI_METRICS = ["test_accuracy", "test_macro_f1"]

# (summary metric, Markdown header, scale, decimals); decimals None means 3 significant digits.
TABLE_COLUMNS: list[tuple[str, str, float, int | None]] = [
    ("test_accuracy", "Test acc. (%)", 100.0, 2),
    ("test_macro_f1", "Macro-F1 (%)", 100.0, 2),
    ("test_loss", "Test loss", 1.0, 4),
    ("test_top5_accuracy", "Top-5 (%)", 100.0, 2),
    ("train_seconds", "Train time (s)", 1.0, 1),
    ("steps_completed", "Steps", 1.0, 0),
    ("seconds_per_epoch", "s/epoch", 1.0, 2),
    ("train_images_per_second", "Train img/s", 1.0, 0),
    ("inference_images_per_second", "Infer. img/s", 1.0, 0),
    ("params_total", "Params (M)", 1e-6, None),
    ("flops_per_image", "FLOPs/img (M)", 1e-6, None),
    ("run_memory_mb", "Run mem. (MiB)", 1.0, 0),
    ("peak_memory_mb", "Peak mem. (MiB)", 1.0, 0),
]


# Columns that depend on the model only: the table shows their mean without "± 0".
FIXED_BY_MODEL = {"params_total", "params_trainable", "flops_per_image"}
# Columns a step or epoch budget fixes (a time budget does not): "± 0" says nothing there either.
FIXED_BY_BUDGET = {"steps_completed", "epochs_completed"}


def resolve_run_dirs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Turn user-given folders into run directories: a run stays, a folder of runs expands to the runs under it.

    Raises:
        RunError: a path does not exist, or is neither a run nor a folder holding runs.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise RunError(f"{p}: no such folder; give run directories made by `visionbench train` or `compare`")
        found = [p] if is_run_dir(p) else find_runs(p)
        if not found:
            raise RunError(
                f"{p}: not a run directory and holds none (no config.json); give folders made by "
                "`visionbench train` or `visionbench compare`"
            )
        out.extend(f for f in found if f not in out)
    return out


def read_runs(run_dirs: Iterable[str | os.PathLike[str] | Run]) -> list[Run]:
    """Read each run directory (a :class:`Run` passes through); raises :class:`RunError` on a folder that is not one."""
    return [r if isinstance(r, Run) else read_run(r) for r in run_dirs]


def _number(value: Any) -> float | int | None:
    """A finite number from a run file, else None (a damaged file's strings, lists and 400-digit integers too)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return value if math.isfinite(value) else None
    except OverflowError:  # an int too large for a float
        return None


def _whole(value: Any) -> int | None:
    """An integer field of a run file (seed, epochs), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and _number(value) is not None else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _row(run: Run) -> dict[str, Any]:
    res = run.results or {}
    cfg = run.config
    # The model and the data are the configuration's (what was trained; the report's colours and groups key on
    # them); the other fields come from results.json, each of its type or None, so a damaged file cannot break a page.
    row: dict[str, Any] = {
        "model": run.model,
        "dataset": run.dataset,
        "seed": _whole(res.get("seed", cfg.get("seed"))),
        "status": run.status,
        "engine": _text(res.get("engine", cfg.get("engine"))),
        "epochs": _whole(res.get("epochs", cfg.get("epochs"))),
        "best_epoch": _whole(res.get("best_epoch")),
    }
    for key in METRICS:
        row[key] = _number(res.get(key))
    if row["epochs_completed"] is None and run.history:
        row["epochs_completed"] = len(run.history)
    row["budget"] = _budget(cfg, row["epochs"])
    budget = cfg.get("budget")
    row["steps_per_epoch"] = _number(budget.get("steps_per_epoch")) if isinstance(budget, dict) else None
    message = res.get("message") or res.get("error")
    row["message"] = str(message).splitlines()[0] if message else None
    row["path"] = str(run.path)
    return row


def _budget(config: dict[str, Any], epochs: Any) -> str | None:
    """The run's budget in words: ``30 epochs``, ``2000 steps`` or ``60 s`` (a time budget wins)."""
    if config.get("time_budget") is not None:
        return f"{config['time_budget']:g} s" if isinstance(config["time_budget"], (int, float)) else None
    if config.get("steps") is not None:
        return f"{config['steps']} steps"
    return f"{epochs} epochs" if epochs is not None else None


def collect(run_dirs: Sequence[str | os.PathLike[str] | Run]) -> list[dict[str, Any]]:
    """One row per run with the columns of :data:`RUN_COLUMNS` (``None`` where a run lacks a value).

    Args:
        run_dirs: run directories (or runs already read).

    Raises:
        RunError: a folder is not a run directory.
    """
    return [_row(run) for run in read_runs(run_dirs)]


def group_key(row: dict[str, Any]) -> tuple[str, str, str]:
    """The summary row a run row belongs to: (model, dataset, fingerprint); the fingerprint is "" when not set."""
    return str(row["model"]), str(row["dataset"]), str(row.get("fingerprint") or "")


def _sort_key(a: dict[str, Any]) -> tuple[bool, float]:
    return a["test_accuracy_mean"] is None, -(a["test_accuracy_mean"] or 0.0)


def aggregate(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group run rows by (model, dataset, fingerprint): statistics over completed runs.

    Rows whose ``counted`` is False (a duplicate seed, see :func:`visionbench.report.build.build_comparison_report`)
    are left out; rows without a ``fingerprint`` group by (model, dataset).

    Args:
        rows: rows from :func:`collect`, optionally with ``fingerprint``, ``config`` (a label naming what differs)
            and ``counted``.

    Returns:
        One dict per group, sorted by mean test accuracy (best first, groups without a value last), with
        ``model``, ``dataset``, ``config``, ``fingerprint``, ``label`` (model and config, for legends),
        ``n_seeds`` (completed runs averaged), ``seeds``, ``epochs`` and ``budgets`` (the budgets seen),
        ``n_flagged`` and ``flagged`` (runs not averaged, e.g. ``"seed 3: diverged"``), for every name in
        :data:`METRICS` ``<name>_mean`` and ``<name>_std`` (sample std, ddof=1; ``None`` when undefined: std needs
        two runs), and for :data:`CI_METRICS` the 95 % Student-t interval ``<name>_ci_low``, ``<name>_ci_high``
        (``None`` for one run).
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("counted", True):
            groups.setdefault(group_key(row), []).append(row)
    out = []
    for (model, dataset, fp), members in groups.items():
        done = [r for r in members if r["status"] == "completed"]
        other = [r for r in members if r["status"] != "completed"]
        config = str(members[0].get("config") or "")
        agg: dict[str, Any] = {
            "model": model,
            "dataset": dataset,
            "config": config,
            "fingerprint": fp,
            "label": f"{model} ({config})" if config else model,
            "n_seeds": len(done),
            "seeds": [r["seed"] for r in done],
            "epochs": sorted({r["epochs"] for r in members if r["epochs"] is not None}),
            "budgets": sorted({r["budget"] for r in members if r.get("budget")}),
            "n_flagged": len(other),
            "flagged": "; ".join(f"seed {r['seed']}: {r['status']}" for r in other),
        }
        for key in METRICS:
            st = mean_std_ci(
                [r[key] for r in done if r[key] is not None], bounds=(0.0, 1.0) if key in CI_METRICS else None
            )
            agg[f"{key}_mean"] = st["mean"]
            agg[f"{key}_std"] = st["std"]
            if key in CI_METRICS:
                agg[f"{key}_ci_low"] = st["ci_low"]
                agg[f"{key}_ci_high"] = st["ci_high"]
        out.append(agg)
    out.sort(key=_sort_key)
    return out


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write rows as CSV, atomically; columns in order of first appearance, ``None`` as an empty cell.

    Lists (such as ``seeds``) are written as JSON text.
    """
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    atomic_write_text(path, buf.getvalue())


def _fmt(value: float, decimals: int | None) -> str:
    if decimals is not None:
        return f"{value:.{decimals}f}"
    if value == 0:
        return "0"
    # 3 significant digits without scientific notation: 0.0123, 1.23, 12.3, 123
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}"


def format_cell(mean: float | None, std: float | None, scale: float = 1.0, decimals: int | None = 2) -> str:
    """``"97.31 ± 0.22"`` (or ``"97.31"`` without a std, ``"—"`` without a mean) after multiplying by ``scale``."""
    if mean is None:
        return "—"
    text = _fmt(mean * scale, decimals)
    if std is not None:
        std_decimals = decimals
        if decimals is None:  # give the std the same number of decimals as the mean
            std_decimals = len(text.split(".")[1]) if "." in text else 0
        text += f" ± {_fmt(std * scale, std_decimals)}"
    return text


def mean_std_text(values: Sequence[Any], decimals: int = 3, missing: str = "") -> str | None:
    """``"0.600 ± 0.141"`` over the finite numbers of ``values`` (one: ``"0.600"``; none: None), for tables made
    outside a comparison (studies). With ``missing`` (e.g. ``"diverged"``), ``" (k diverged)"`` counts the rest."""
    nums = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    if not nums:
        return None
    st = mean_std_ci(nums)
    text = format_cell(st["mean"], st["std"], decimals=decimals)
    if missing and len(nums) < len(values):
        text += f" ({len(values) - len(nums)} {missing})"
    return text


def cell(agg: dict[str, Any], key: str, scale: float = 1.0, decimals: int | None = 2) -> str:
    """The table cell of summary metric ``key``; columns fixed by the architecture get no "± 0"."""
    std = agg[f"{key}_std"]
    if key in FIXED_BY_MODEL or (key in FIXED_BY_BUDGET and not std):
        std = None
    return format_cell(agg[f"{key}_mean"], std, scale, decimals)


def ci_cell(agg: dict[str, Any], key: str = "test_accuracy", scale: float = 100.0, decimals: int = 2) -> str:
    """``"[96.10, 99.90]"``: the 95 % interval of the mean in the table's unit; ``"—"`` when undefined (one run)."""
    low, high = agg.get(f"{key}_ci_low"), agg.get(f"{key}_ci_high")
    if low is None or high is None:
        return "—"
    return f"[{low * scale:.{decimals}f}, {high * scale:.{decimals}f}]"


def runs_cell(agg: dict[str, Any]) -> str:
    """``"2 (+1 flagged)"``: completed runs averaged, and those that were not."""
    return str(agg["n_seeds"]) + (f" (+{agg['n_flagged']} flagged)" if agg["n_flagged"] else "")


def summary_columns(agg_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The summary table's columns, in display order, as ``{"key", "header", "numeric", "cells"}``.

    The one definition of the summary's cells, shared by the Markdown, LaTeX and terminal tables. ``Dataset`` is
    there only when the rows span several datasets, ``Config`` only when some row has a configuration label.
    """
    cols: list[dict[str, Any]] = [
        {"key": "model", "header": "Model", "numeric": False, "cells": [str(a["model"]) for a in agg_rows]}
    ]
    if len({a["dataset"] for a in agg_rows}) > 1:
        cols.append({"key": "dataset", "header": "Dataset", "numeric": False,
                     "cells": [str(a["dataset"]) for a in agg_rows]})
    if any(a.get("config") for a in agg_rows):
        cols.append({"key": "config", "header": "Config", "numeric": False,
                     "cells": [str(a.get("config") or "") for a in agg_rows]})
    cols.append({"key": "runs", "header": "Runs", "numeric": True, "cells": [runs_cell(a) for a in agg_rows]})
    for key, header, scale, decimals in TABLE_COLUMNS:
        cols.append({"key": key, "header": header, "numeric": True,
                     "cells": [cell(a, key, scale, decimals) for a in agg_rows]})
        if key == "test_accuracy":
            cols.append({"key": "test_accuracy_ci", "header": "95 % CI (%)", "numeric": True,
                         "cells": [ci_cell(a) for a in agg_rows]})
    return cols


def _md_table(headers: list[str], body: list[list[str]], right_from: int | Sequence[bool]) -> str:
    if isinstance(right_from, int):
        right = [i >= right_from for i in range(len(headers))]
    else:
        right = list(right_from)
    align = ["---:" if r else "---" for r in right]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(md_cell(c) for c in cells) + " |" for cells in body]
    return "\n".join(lines)


def _join(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


def summary_header(agg_rows: Sequence[dict[str, Any]]) -> str:
    """One line naming the dataset(s), the seeds and the budget(s) of the summary."""
    datasets = sorted({a["dataset"] for a in agg_rows})
    seeds = sorted({s for a in agg_rows for s in a["seeds"]}, key=str)
    budgets = sorted({b for a in agg_rows for b in a.get("budgets") or []}, key=str)
    if not budgets:  # rows made before budgets were recorded
        budgets = [f"{e} epochs" for e in sorted({e for a in agg_rows for e in a["epochs"]}, key=str)]
    counts = sorted({a["n_seeds"] for a in agg_rows})
    header = [
        f"Dataset{'s' if len(datasets) > 1 else ''}: {_join(datasets) or '—'}",
        f"seeds: {_join(seeds) or '—'} ({' or '.join(map(str, counts))} completed per row)",
        f"budget: {' or '.join(budgets) or '?'} per run",
    ]
    return " · ".join(header)


# Why a completed row can lack a value, by summary column ("—" must never be left unexplained).
_DASH_WHY = {
    "test_accuracy_ci": "one completed seed: an interval needs two or more",
    "test_top5_accuracy": "top-5 accuracy is not reported with 5 classes or fewer, where it is always 100 %",
    "test_loss": "no finite test loss (a detector has no class-probability loss; a non-finite loss is not averaged)",
    "flops_per_image": "the model's FLOPs could not be counted",
    "peak_memory_mb": "the platform did not report the process's peak memory",
    "run_memory_mb": "the platform did not report the process's peak memory",
}


def dash_notes(agg_rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line per summary column holding a "—", saying which rows and why (no finite value is ever shown as NaN:
    non-finite numbers are dropped before averaging, and this says what is missing instead)."""
    notes = []
    empty = [a for a in agg_rows if not a["n_seeds"]]
    if empty:
        notes.append(f"- — in every column of {_join(a.get('label', a['model']) for a in empty)}: no completed "
                     f"run to average (see the runs not averaged above)")
    for col in summary_columns(agg_rows):
        names = [a.get("label", a["model"]) for a, text in zip(agg_rows, col["cells"]) if text == "—" and a["n_seeds"]]
        if names:
            why = _DASH_WHY.get(col["key"], "the completed runs did not record it (a run made by an older version?)")
            notes.append(f"- — in {col['header']} for {_join(names)}: {why}")
    return ["", *notes] if notes else []


def summary_markdown_table(agg_rows: Sequence[dict[str, Any]]) -> str:
    """The bare Markdown table of the summary (no header line, no notes), rows in the given order."""
    cols = summary_columns(agg_rows)
    body = [[c["cells"][i] for c in cols] for i in range(len(agg_rows))]
    return _md_table([c["header"] for c in cols], body, [c["numeric"] for c in cols])


def to_markdown(agg_rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of the summary, best test accuracy first, with a header naming datasets, seeds, budget.

    With several seeds a cell reads ``97.31 ± 0.22`` (mean ± sample std) and the ``95 % CI (%)`` column gives the
    Student-t interval of the mean test accuracy. Accuracy, F1 and top-5 are in %, times in seconds, parameters and
    FLOPs per image in millions, memory in MiB. Runs not completed are named below.
    """
    agg_rows = sorted(agg_rows, key=_sort_key)
    lines = [summary_header(agg_rows), "", summary_markdown_table(agg_rows)]
    flagged = [a for a in agg_rows if a["n_flagged"]]
    if flagged:
        lines += ["", "Not averaged (status other than completed):", ""]
        lines += [f"- {a['label']} on {a['dataset']}: {a['flagged']}" if "label" in a else
                  f"- {a['model']} on {a['dataset']}: {a['flagged']}" for a in flagged]
    lines += dash_notes(agg_rows)
    lines.append("")
    if any(a["n_seeds"] > 1 for a in agg_rows):
        lines += [
            "Cells read mean ± sample standard deviation (ddof=1) over the completed seeds; the 95 % CI is Student's "
            "t interval of the mean test accuracy, clipped to [0, 100].",
            "",
        ]
    return "\n".join(lines)
