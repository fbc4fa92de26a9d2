"""A progress bar per epoch (the task's running numbers, images/s, ETA) on stderr; silent with ``--quiet``."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["EpochProgress"]


class EpochProgress:
    """Thin wrapper over rich's progress bar, updated a few times per second at most."""

    def __init__(self, enabled: bool = True, console: Any = None) -> None:
        self.enabled = enabled
        self.console = console
        self._progress: Any = None
        self._task: Any = None

    def start(self, epoch: int, epochs: int, steps: int) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        if self._progress is None:
            console = self.console or Console(file=sys.stderr)
            # Below 100 columns the bar goes: the numbers must fit whole (an 80-column terminal cut them to "2…").
            bar = [BarColumn(bar_width=20)] if console.width >= 100 else []
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                *bar,
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeRemainingColumn(compact=True),
                console=console,
                refresh_per_second=4,
            )
            self._progress.start()
        self._task = self._progress.add_task(f"epoch {epoch}/{epochs}", total=steps, stats="")

    def update(self, step: int, stats: str, images_per_second: float) -> None:
        """``stats``: the task's running numbers (e.g. ``loss 0.1234 acc 97.50%``)."""
        if self._progress is not None:
            self._progress.update(self._task, completed=step, stats=f"{stats} {images_per_second:,.0f} img/s")

    def finish(self, stats: str, seconds: float) -> None:
        """``stats``: the epoch's numbers, short (e.g. ``loss 0.1234 acc 97.50% | val 97.10%``)."""
        if self._progress is not None:
            self._progress.update(self._task, stats=f"{stats} | {seconds:.1f}s")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
