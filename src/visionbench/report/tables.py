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
from visionbench.runs import Run, atomic_write_text, find_runs, is_run_dir, read_run

__all__ = [
    "RUN_COLUMNS",
    "METRICS",
    "resolve_run_dirs",
    "read_runs",
    "collect",
    "aggregate",
    "write_csv",
    "to_markdown",
    "format_cell",
    "cell",
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
    "train_seconds",
    "seconds_per_epoch",
    "train_images_per_second",
    "inference_images_per_second",
    "params_total",
    "params_trainable",
    "flops_per_image",
    "peak_memory_mb",
]

RUN_COLUMNS = ["model", "dataset", "seed", "status", "engine", "epochs", "best_epoch", *METRICS, "path"]

# (summary metric, Markdown header, scale, decimals); decimals None means 3 significant digits.
TABLE_COLUMNS: list[tuple[str, str, float, int | None]] = [
    ("test_accuracy", "Test acc. (%)", 100.0, 2),
    ("test_macro_f1", "Macro-F1 (%)", 100.0, 2),
    ("test_loss", "Test loss", 1.0, 4),
    ("test_top5_accuracy", "Top-5 (%)", 100.0, 2),
    ("train_seconds", "Train time (s)", 1.0, 1),
    ("seconds_per_epoch", "s/epoch", 1.0, 2),
    ("train_images_per_second", "Train img/s", 1.0, 0),
    ("inference_images_per_second", "Infer. img/s", 1.0, 0),
    ("params_total", "Params (M)", 1e-6, None),
    ("flops_per_image", "FLOPs/img (M)", 1e-6, None),
    ("peak_memory_mb", "Peak mem. (MiB)", 1.0, 0),
]


# Columns that depend on the model only: the table shows their mean without "± 0".
FIXED_BY_MODEL = {"params_total", "params_trainable", "flops_per_image"}


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
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def _row(run: Run) -> dict[str, Any]:
    res = run.results or {}
    cfg = run.config
    row: dict[str, Any] = {
        "model": res.get("model", run.model),
        "dataset": res.get("dataset", run.dataset),
        "seed": res.get("seed", cfg.get("seed")),
        "status": run.status,
        "engine": res.get("engine", cfg.get("engine")),
        "epochs": res.get("epochs", cfg.get("epochs")),
        "best_epoch": res.get("best_epoch"),
    }
    for key in METRICS:
        row[key] = _number(res.get(key))
    if row["epochs_completed"] is None and run.history:
        row["epochs_completed"] = len(run.history)
    row["path"] = str(run.path)
    return row


def collect(run_dirs: Sequence[str | os.PathLike[str] | Run]) -> list[dict[str, Any]]:
    """One row per run with the columns of :data:`RUN_COLUMNS` (``None`` where a run lacks a value).

    Args:
        run_dirs: run directories (or runs already read).

    Raises:
        RunError: a folder is not a run directory.
    """
    return [_row(run) for run in read_runs(run_dirs)]


def _mean_std(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def aggregate(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Group run rows by (model, dataset): mean and sample standard deviation (ddof=1) over completed runs.

    Args:
        rows: rows from :func:`collect`.

    Returns:
        One dict per group, sorted by mean test accuracy (best first, groups without a value last), with
        ``model``, ``dataset``, ``n_seeds`` (completed runs averaged), ``seeds``, ``epochs`` (the budgets seen),
        ``n_flagged`` and ``flagged`` (runs not averaged, e.g. ``"seed 3: diverged"``), and for every name in
        :data:`METRICS` ``<name>_mean`` and ``<name>_std`` (``None`` when undefined: std needs two runs).
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((str(row["model"]), str(row["dataset"])), []).append(row)
    out = []
    for (model, dataset), members in groups.items():
        done = [r for r in members if r["status"] == "completed"]
        other = [r for r in members if r["status"] != "completed"]
        agg: dict[str, Any] = {
            "model": model,
            "dataset": dataset,
            "n_seeds": len(done),
            "seeds": [r["seed"] for r in done],
            "epochs": sorted({r["epochs"] for r in members if r["epochs"] is not None}),
            "n_flagged": len(other),
            "flagged": "; ".join(f"seed {r['seed']}: {r['status']}" for r in other),
        }
        for key in METRICS:
            mean, std = _mean_std([r[key] for r in done if r[key] is not None])
            agg[f"{key}_mean"] = mean
            agg[f"{key}_std"] = std
        out.append(agg)
    out.sort(key=lambda a: (a["test_accuracy_mean"] is None, -(a["test_accuracy_mean"] or 0.0)))
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


def cell(agg: dict[str, Any], key: str, scale: float = 1.0, decimals: int | None = 2) -> str:
    """The table cell of summary metric ``key``; columns fixed by the architecture get no "± 0"."""
    std = None if key in FIXED_BY_MODEL else agg[f"{key}_std"]
    return format_cell(agg[f"{key}_mean"], std, scale, decimals)


def _md_table(headers: list[str], body: list[list[str]], right_from: int) -> str:
    align = ["---" if i < right_from else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def _join(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


def to_markdown(agg_rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of the summary, best test accuracy first, with a header naming datasets, seeds, budget.

    With several seeds a cell reads ``97.31 ± 0.22`` (mean ± sample std). Accuracy, F1 and top-5 are in %, times
    in seconds, parameters and FLOPs per image in millions, memory in MiB. Runs not completed are named below.
    """
    agg_rows = sorted(agg_rows, key=lambda a: (a["test_accuracy_mean"] is None, -(a["test_accuracy_mean"] or 0.0)))
    datasets = sorted({a["dataset"] for a in agg_rows})
    seeds = sorted({s for a in agg_rows for s in a["seeds"]}, key=str)
    epochs = sorted({e for a in agg_rows for e in a["epochs"]}, key=str)
    counts = sorted({a["n_seeds"] for a in agg_rows})
    header = [
        f"Dataset{'s' if len(datasets) > 1 else ''}: {_join(datasets) or '—'}",
        f"seeds: {_join(seeds) or '—'} ({' or '.join(map(str, counts))} completed per model)",
        f"budget: {' or '.join(map(str, epochs)) or '?'} epochs per run",
    ]
    lines = [" · ".join(header), ""]
    headers = ["Model", *(["Dataset"] if len(datasets) > 1 else []), "Runs"]
    right_from = 1
    body = []
    for a in agg_rows:
        runs = str(a["n_seeds"]) + (f" (+{a['n_flagged']} flagged)" if a["n_flagged"] else "")
        cells = [a["model"], *([a["dataset"]] if len(datasets) > 1 else []), runs]
        for key, _, scale, decimals in TABLE_COLUMNS:
            cells.append(cell(a, key, scale, decimals))
        body.append(cells)
    right_from = len(headers)
    headers += [title for _, title, _, _ in TABLE_COLUMNS]
    lines.append(_md_table(headers, body, right_from))
    flagged = [a for a in agg_rows if a["n_flagged"]]
    if flagged:
        lines += ["", "Not averaged (status other than completed):", ""]
        lines += [f"- {a['model']} on {a['dataset']}: {a['flagged']}" for a in flagged]
    lines.append("")
    if any(a["n_seeds"] > 1 for a in agg_rows):
        lines += ["Cells read mean ± sample standard deviation over the completed seeds.", ""]
    return "\n".join(lines)
