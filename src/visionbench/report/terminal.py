"""The summary as a terminal table that fits the console: whole numbers or no column, never ``9…``.

A table wider than the console makes rich shrink columns and cut cells to an ellipsis, which turns ``97.31 ± 0.22``
into ``97.…``, a number that reads as another number. Instead the least important columns are left out until the
table fits, and the caption names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from visionbench.report.tables import summary_columns

__all__ = ["IMPORTANCE", "render_table_rich"]

# Most important first; identity columns (model, dataset, configuration) are never dropped.
IMPORTANCE = [
    "model",
    "dataset",
    "config",
    "test_accuracy",
    "test_macro_f1",
    "train_seconds",
    "steps_completed",
    "params_total",
    "flops_per_image",
    "runs",
    "test_accuracy_ci",
    "test_loss",
    "test_top5_accuracy",
    "seconds_per_epoch",
    "train_images_per_second",
    "inference_images_per_second",
    "run_memory_mb",
    "peak_memory_mb",
]
_ALWAYS = {"model", "dataset", "config", "test_accuracy"}


def _header(text: str, room: int) -> str:
    """Break a header over two lines when its cells are narrower than it (``Train time (s)`` -> two lines)."""
    if len(text) <= room or " " not in text:
        return text
    cut = text.rfind(" ", 0, max(room, len(text) // 2) + 1)
    if cut <= 0:
        cut = text.find(" ")
    return text[:cut] + "\n" + text[cut + 1 :]


def _width(col: dict[str, Any]) -> int:
    header = col["header_text"].split("\n")
    return max([len(line) for line in header] + [len(c) for c in col["cells"]])


def render_table_rich(summary: Sequence[dict[str, Any]], *, wide: bool = False, width: int | None = None) -> Table:
    """The summary as a :class:`rich.table.Table` (same cells as the Markdown table) that fits ``width`` columns.

    Args:
        summary: rows from :func:`visionbench.report.tables.aggregate`, best first.
        wide: show every column whatever the width (for a console wide enough, or a pager).
        width: the console's width in characters (default: the current terminal's, 80 when unknown).

    Columns are kept in order of importance (model, test accuracy, macro-F1, training time, parameters, FLOPs,
    then the rest) while the table fits; the caption names those left out.
    """
    if width is None:
        width = Console().width
    cols = summary_columns(summary)
    for col in cols:
        col["header_text"] = _header(col["header"], max((len(c) for c in col["cells"]), default=0))
    rank = {key: i for i, key in enumerate(IMPORTANCE)}
    by_rank = sorted(cols, key=lambda c: rank.get(c["key"], len(rank)))
    keep: set[str] = set()
    used = 1  # the table's left border
    for col in by_rank:
        # each column costs its text, one space of padding on each side and a border
        cost = _width(col) + 3
        if wide or col["key"] in _ALWAYS or used + cost <= width:
            keep.add(col["key"])
            used += cost
        elif not wide:
            break  # drop this column and every less important one
    shown = [c for c in cols if c["key"] in keep]
    hidden = [c["header"] for c in cols if c["key"] not in keep]
    several = any(a["n_seeds"] > 1 for a in summary)
    caption = None
    if hidden:
        caption = f"Not shown at {width} columns: {', '.join(hidden)} (all in comparison.md)"
    table = Table(title="Comparison (mean ± std over seeds)" if several else None, caption=caption)
    for col in shown:
        # overflow="fold" wraps a cell that cannot fit onto a second line instead of cutting it to "…"
        table.add_column(col["header_text"], justify="right" if col["numeric"] else "left",
                         style="bold" if col["key"] == "model" else None, no_wrap=col["numeric"], overflow="fold",
                         min_width=min(_width(col), width // 2) if col["key"] in _ALWAYS else _width(col))
    for i, agg in enumerate(summary):
        cells = []
        for col in shown:
            text = Text(col["cells"][i])
            if col["key"] == "runs" and agg["n_flagged"]:
                text.stylize("red", len(str(agg["n_seeds"])))
            cells.append(text)
        table.add_row(*cells)
    return table
