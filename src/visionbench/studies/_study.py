"""What a study is: the document it reproduces, the numbers that document reports, and how to compute ours.

A study module (``studies/<name>.py``, or a package ``studies/<name>/`` whose ``__init__`` holds it) defines one
:class:`Study` named ``STUDY``: data about the document (title, section, the reported numbers as typed
:class:`Reference` rows, what differs in our setting) and a ``run`` function.
``run`` receives a :class:`StudyRun` and splits its work into *parts* (``study.part(name, fn)``); each part records
values, tables and figures through a :class:`Part` and is saved to ``parts/<name>.json`` when it ends, so a study
resumed with ``--resume`` redoes no finished part.

Every measured value is recorded under a key; ``summary.json`` joins it to the reference with the same key.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visionbench.errors import RunError
from visionbench.runs import slug, write_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Reference", "Study", "StudyRun", "Part", "PARTS_DIR", "FIGURES_DIR"]

PARTS_DIR = "parts"
FIGURES_DIR = "figures"


@dataclass(frozen=True)
class Reference:
    """A number the seed document reports.

    Attributes:
        key: the key our measured value is recorded under (``test_accuracy``, ``r2_sklearn``...).
        value: the document's number, in ``unit``.
        unit: ``accuracy`` (a fraction), ``R2``, ``silhouette``, ``%``, ``s``...
        source: where in the document (``DIY report §1.3.1``, ``Table 3.1``...).
        dataset: the document's data (``USPS``, ``synthetic``...).
        note: anything needed to read the number (``train``, ``1,100 training images``...).
    """

    key: str
    value: float
    unit: str
    source: str
    dataset: str
    note: str = ""


@dataclass(frozen=True)
class Study:
    """A named, repeatable experiment of a seed document.

    Attributes:
        name: the command-line name (``diy-regression``).
        title: one line, the report's title.
        description: one line for ``visionbench study list``.
        document: the seed document (``DIY report (003)``).
        section: the section(s) it reproduces.
        references: the document's numbers.
        run: ``run(study_run)``; does the work in parts.
        seconds: measured wall time of the full study on the reference machine (2 CPU cores).
        seconds_quick: the same for ``--quick``.
        seeds: default seeds.
        seeds_quick: default seeds of ``--quick`` (None: ``seeds``).
        weights: what ``--weights`` means for this study (None: the study refuses it).
        full: what ``--full`` runs for this study, its longest tier (None: the study has one full size and
            refuses the flag).
        datasets: datasets ``--dataset`` accepts (empty: the study chooses and ``--dataset`` is refused).
        differences: what differs from the document whatever the run (budget, protocol); the run adds its own.
    """

    name: str
    title: str
    description: str
    document: str
    section: str
    references: tuple[Reference, ...]
    run: Callable[[StudyRun], None]
    seconds: float
    seconds_quick: float
    seeds: tuple[int, ...] = (0,)
    seeds_quick: tuple[int, ...] | None = None
    weights: str | None = None
    full: str | None = None
    datasets: tuple[str, ...] = ()
    differences: tuple[str, ...] = ()


def _finite_or_none(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


class Part:
    """What one part of a study records: values (joined to the references), tables, figures and notes."""

    def __init__(self, study_run: StudyRun, name: str, title: str) -> None:
        self._run = study_run
        self.name, self.title = name, title
        self.values: list[dict[str, Any]] = []
        self.tables: list[dict[str, Any]] = []
        self.figures: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.data: dict[str, Any] = {}

    @property
    def quick(self) -> bool:
        return self._run.quick

    @property
    def out_dir(self) -> Path:
        return self._run.out_dir

    def value(self, key: str, ours: Any, *, unit: str = "", dataset: str = "", seed: int | None = None,
              label: str = "") -> None:
        """Record a measured number under ``key`` (non-finite numbers are kept as None: shown as "n/a").

        Args:
            key: the key a :class:`Reference` may share.
            ours: the number.
            unit: as in :class:`Reference`.
            dataset: our data (``digits (8x8)``, ``USPS``...).
            seed: the seed it was measured with; values of one key over seeds are summarised as mean ± std.
            label: a readable name for the report (defaults to the key).
        """
        self.values.append({"key": key, "ours": _finite_or_none(ours), "unit": unit, "dataset": dataset,
                            "seed": seed, "label": label or key})

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> None:
        """A table for the report; cells are numbers, strings or None (shown as "n/a")."""
        clean = [[_cell(c) for c in row] for row in rows]
        if any(len(r) != len(columns) for r in clean):
            raise ValueError(f"table {title!r}: every row needs {len(columns)} cells")
        self.tables.append({"title": title, "columns": list(columns), "rows": clean, "caption": caption})

    def figure(self, fig: Figure, name: str, caption: str) -> Path:
        """Save ``fig`` as ``figures/<name>.png`` (atomically) and list it with its caption."""
        from visionbench.report.plots import save_figure

        file = f"{FIGURES_DIR}/{slug(name)}.png"
        path = save_figure(fig, self.out_dir / file)
        self.figures.append({"file": file, "caption": caption})
        return path

    def attach(self, file: str | Path, caption: str) -> None:
        """List a figure that is already in the study directory (``file`` relative to it), with its caption."""
        path = Path(file)
        rel = path.relative_to(self.out_dir) if path.is_absolute() else path
        self.figures.append({"file": rel.as_posix(), "caption": caption})

    def note(self, text: str) -> None:
        """A sentence for the report's "what differs from the document" list."""
        if text not in self.notes:
            self.notes.append(text)

    def to_dict(self, seconds: float) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "seconds": round(seconds, 3), "values": self.values,
                "tables": self.tables, "figures": self.figures, "notes": self.notes, "data": self.data}


def _cell(value: Any) -> Any:
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    return _finite_or_none(value)


class StudyRun:
    """One execution of a study: its options and directory, and :meth:`part` to do and save each piece of work.

    Attributes:
        study: the :class:`Study`.
        out_dir: the study directory.
        quick: the small variant used by the tests.
        seeds: the seeds to run.
        dataset: the user's ``--dataset`` (None: the study's default).
        data_dir: the user's ``--data-dir``.
        weights: the user's ``--weights`` (only for a study whose :attr:`Study.weights` says what it means).
        full: the user's ``--full`` (only for a study whose :attr:`Study.full` says what it runs).
        parts: the parts done so far, in order (finished ones loaded from disk on resume).
        quiet: whether training runs made by the study hide their progress bars.
    """

    def __init__(self, study: Study, out_dir: Path, *, quick: bool, seeds: Sequence[int], dataset: str | None,
                 data_dir: str | None, on_part: Callable[[str, bool], None] | None = None,
                 echo: Callable[[str], None] | None = None, quiet: bool = True, weights: str | None = None,
                 full: bool = False) -> None:
        self.study, self.out_dir, self.quick, self.full = study, out_dir, quick, full
        self.seeds, self.dataset, self.data_dir = tuple(seeds), dataset, data_dir
        self.weights = weights
        self.parts: list[dict[str, Any]] = []
        self.quiet = quiet
        self._on_part = on_part
        self._echo = echo

    def echo(self, message: str) -> None:
        """Tell the user what is happening (the CLI prints it; silent in the library by default)."""
        if self._echo is not None:
            self._echo(message)

    def part(self, name: str, fn: Callable[[Part], None], *, title: str = "") -> dict[str, Any]:
        """Do ``fn(part)`` and save what it recorded, or load it if a previous execution finished this part.

        Returns:
            The saved part (``values``, ``tables``, ``figures``, ``notes``, ``data``, ``seconds``).
        """
        name = slug(name)
        if any(p["name"] == name for p in self.parts):
            raise RunError(f"study {self.study.name}: part {name!r} is done twice (a bug in the study)")
        path = self.out_dir / PARTS_DIR / f"{name}.json"
        if path.is_file():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise RunError(f"{path}: unreadable ({exc}); delete it to redo that part") from None
            self.parts.append(saved)
            if self._on_part:
                self._on_part(name, True)
            return saved
        if self._on_part:
            self._on_part(name, False)
        part = Part(self, name, title or name)
        start = time.perf_counter()
        fn(part)
        saved = part.to_dict(time.perf_counter() - start) | {"index": len(self.parts)}
        write_json(path, saved)
        self.parts.append(saved)
        return saved

    def data_of(self, name: str) -> dict[str, Any]:
        """The ``data`` a finished part stored (for a later part that builds on it)."""
        for p in self.parts:
            if p["name"] == slug(name):
                return p["data"]
        raise RunError(f"study {self.study.name}: part {name!r} has not run yet (a bug in the study)")

    def choose_dataset(self, default: str) -> str:
        """The user's ``--dataset`` if the study accepts it, else ``default``."""
        return default if self.dataset is None else self.dataset
