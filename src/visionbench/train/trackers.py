"""Experiment trackers (TensorBoard, MLflow): the run's configuration, every epoch's metrics and its final results,
sent to the tool the user already runs. The run directory stays the record; a tracker is a copy for watching.

The training loop calls :func:`open_tracker` once a run directory is made or locked, :meth:`Tracker.log_epoch` after
each validated epoch and :meth:`Tracker.finish` once results.json is written; under ``torchrun`` only rank 0 does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["Tracker", "open_tracker"]


class Tracker:
    """Sends a run to zero or more trackers; this base class sends nothing (no ``--log-to``)."""

    def log_epoch(self, row: dict[str, Any]) -> None:
        """One epoch's history row (``epoch``, training and validation metrics, ``lr``, ``seconds``...)."""

    def finish(self, status: str, results: dict[str, Any]) -> None:
        """The run's end: its status and results.json."""

    def close(self) -> None:
        """Release the tracker's resources (always called, also after an error)."""


def open_tracker(session: Any, run_dir: Path, *, resumed: bool) -> Tracker:
    """The tracker for ``session.cfg``'s ``--log-to`` choice (none yet: a :class:`Tracker` that sends nothing)."""
    return Tracker()
