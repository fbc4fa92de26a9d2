"""What the ``visionbench`` command prints: the terminal tables of runs, studies, models and data sets.

The CLI (``cli.py``) parses arguments and calls library functions; the functions here turn what those return into
rich tables. Nothing here trains, loads or writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["console", "test_line", "print_comparison", "print_study", "print_studies", "print_models", "print_recipes",
           "print_datasets", "duration"]


def console(wide: bool = False) -> Any:
    from rich.console import Console

    # A terminal keeps its width (the tables drop columns to fit it); --wide gets room for every column.
    return Console(width=240) if wide else Console()


def test_line(r: dict[str, Any], *, top5: bool = False) -> str:
    """A run's test numbers in one line: accuracy, macro-F1 and loss for a classifier; mAP, AP50, AP75 for a
    detector, then its accuracy through detection when it was measured."""
    parts = []
    if r.get("task") == "detection":
        parts.append("  ".join(f"{label} {_num(r.get(key), '{:.3f}')}"
                               for label, key in (("test mAP", "test_map"), ("AP50", "test_map50"),
                                                  ("AP75", "test_map75"))))
        if r.get("test_accuracy") is not None:
            parts.append(f"accuracy through detection {r['test_accuracy']:.2%}  macro-F1 {r['test_macro_f1']:.2%} "
                         f"({r.get('test_no_box', 0)} images without a box)")
        return "  ".join(parts)
    line = (f"test accuracy {_num(r.get('test_accuracy'), '{:.2%}')}  macro-F1 {_num(r.get('test_macro_f1'), '{:.2%}')}"
            f"  loss {_num(r.get('test_loss'), '{:.4f}')}")
    if top5 and r.get("test_top5_accuracy") is not None:
        line += f"  top-5 {r['test_top5_accuracy']:.2%}"
    return line


def _num(value: Any, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def print_comparison(out: Any, report: dict[str, Any], out_dir: Path, wide: bool) -> None:
    """A comparison's summary table, its warnings, then where its report is."""
    from visionbench.report.build import render_table_rich

    out.print(render_table_rich(report["summary"], wide=wide, width=out.width))
    for warning in report.get("warnings", []):
        out.print(f"warning: {warning}", highlight=False, markup=False)
    out.print(f"report: {out_dir / 'comparison.html'} (and comparison.md)", highlight=False)


def print_study(out: Any, summary: dict[str, Any], out_dir: Path, wide: bool) -> None:
    """The study's numbers beside the document's, as a terminal table, then where the reports are."""
    from rich.table import Table

    from visionbench.report.html import fmt

    comparison = out_dir / "comparison" / "comparison_summary.json"
    if comparison.is_file():  # a study that trained a comparison: its table, as `compare` prints it
        from visionbench.report.build import render_table_rich

        rows = json.loads(comparison.read_text(encoding="utf-8"))["summary"]
        out.print(render_table_rich(rows, wide=wide, width=out.width))
    else:
        table = Table(title=summary["title"], title_justify="left")
        for col in ("quantity", "ours", "document", "diff."):
            table.add_column(col, justify="left" if col == "quantity" else "right",
                             no_wrap=col != "quantity")
        for r in summary["rows"]:
            ours = "n/a" if r["ours"] is None else fmt(r["ours"]) + (f" ±{fmt(r['std'])}" if r["std"] else "")
            diff = "" if r["difference"] is None else f"{r['difference']:+.3f}"
            table.add_row(r["label"], ours, fmt(r["reference"]) if r["reference"] is not None else "", diff)
        out.print(table)
    out.print(f"report: {out_dir / 'report.html'} (and report.md, summary.json)", highlight=False)


def print_studies(out: Any, studies: list[Any]) -> None:
    """`visionbench study list`: name, the document section, estimated times, what each does."""
    from rich.table import Table

    table = Table(title="studies (times measured on a 2-core CPU)", title_justify="left")
    for col in ("name", "reproduces", "default", "--quick", "what it does"):
        table.add_column(col, justify="right" if col in ("default", "--quick") else "left",
                         no_wrap=col in ("name", "default", "--quick"))
    for s in studies:
        table.add_row(s.name, f"{s.document}: {s.section}", duration(s.seconds), duration(s.seconds_quick),
                      s.description + (f" --full: {s.full}" if s.full else ""))
    out.print(table)


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def print_models(out: Any, names: list[str]) -> None:
    """`visionbench models`: each registered model with its family, engine and default recipe."""
    from rich.table import Table

    from visionbench.models import get_entry

    table = Table(title="registered models")
    for col in ("name", "family", "engine", "recipe", "description"):
        table.add_column(col)
    for name in names:
        e = get_entry(name)
        r = e.recipe
        budget = f"{r.steps} steps, >= {r.min_epochs} ep" + (f", <= {r.max_epochs} ep" if r.max_epochs else "")
        table.add_row(name, e.family, e.engine, f"{budget}; {r.optimizer} lr {r.lr:g}, {r.schedule}", e.description)
    out.print(table)


def print_recipes(out: Any, names: list[str], status: Any, n_total: int, val_split: float) -> None:
    """The recipe each model actually gets on a data set: budget in steps and passes, batch, lr, schedule."""
    from rich.table import Table

    from visionbench.models import get_entry
    from visionbench.train.budget import plan_from_recipe

    n_train = n_total - round(n_total * val_split)  # about: the split rounds class by class
    side = status.image_shape[-1]
    table = Table(title=f"recipes on {status.name}: about {n_train:,} training images after the validation split")
    table.add_column("model", no_wrap=True, min_width=max(len(n) for n in names))
    for col in ("steps", "epochs", "batch", "optimizer, lr", "schedule", "warm-up", "augment"):
        table.add_column(col, justify="right" if col in ("steps", "epochs", "batch", "warm-up") else "left")
    for name in names:
        r = get_entry(name).recipe.for_dataset(status.name, side)
        b = plan_from_recipe(r, n_train)
        table.add_row(name, f"{b.steps:,}", f"{b.steps / b.steps_per_epoch:.1f}", str(r.batch_size),
                      f"{r.optimizer} {r.lr:g}", r.schedule, str(b.warmup_steps), r.augment)
    out.print(table)


def print_datasets(out: Any, statuses: list[tuple[str, Any]]) -> None:
    """`visionbench datasets`: found or not, where (or how to get it), sizes, classes, shape."""
    from rich.table import Table

    table = Table(title="datasets")
    for col in ("name", "status", "where / how to get it", "train", "test", "classes", "shape"):
        table.add_column(col)
    for name, s in statuses:
        table.add_row(name, "found" if s.found else "not found", str(s.path) if s.found else s.how_to_get,
                      _count(s.train_size), _count(s.test_size), _count(s.num_classes),
                      "x".join(map(str, s.image_shape)) if s.image_shape else "")
    out.print(table)


def _count(value: Any) -> str:
    return "" if value is None else f"{value:,}" if isinstance(value, int) else str(value)
