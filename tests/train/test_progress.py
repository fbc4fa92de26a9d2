"""The progress line fits an 80-column terminal with every number whole."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from visionbench.train.progress import EpochProgress
from visionbench.train.tasks import ClassificationTask


@pytest.mark.parametrize("width", [80, 120])
def test_progress_line_fits_the_terminal(width):
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=True, color_system=None, record=True)
    progress = EpochProgress(enabled=True, console=console)
    progress.start(123, 400, 4219)
    task = ClassificationTask()
    progress.update(2000, task.progress(0.123456, {"correct": 98765.0}, 100000), 123456.0)
    progress.finish(task.short({"train_loss": 0.123456, "train_acc": 0.98765, "val_loss": 0.2, "val_acc": 0.97531}),
                    1234.5)
    # What the live display draws, rendered once into a plain console of the same width.
    table = progress._progress.make_tasks_table(progress._progress.tasks)
    progress.close()
    plain = Console(file=io.StringIO(), width=width, color_system=None, record=True)
    plain.print(table)
    text = plain.export_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines and all(len(line) <= width for line in lines)
    assert "…" not in text
    last = lines[-1]
    for value in ("epoch 123/400", "2000/4219", "0.1235", "98.77%", "97.53%", "1234.5s"):
        assert value in last, (value, last)
