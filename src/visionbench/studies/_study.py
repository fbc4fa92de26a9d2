"""What a study is: the document it reproduces, the numbers that document reports, and how to compute ours.

A study module (``studies/<name>.py``, or a package ``studies/<name>/`` whose ``__init__`` holds it) defines one
:class:`Study` named ``STUDY``: data about the document (title, section, the reported numbers as typed
:class:`Reference` rows, what differs in our setting) and a ``run`` function.
``run`` receives a :class:`StudyRun` and splits its work into *parts* (``study.part(name, fn)``); each part records
values, tables and figures through a :class:`Part` and is saved to ``parts/<name>.json`` when it ends, so a study
resumed with ``--resume`` redoes no finished part.

Several workers may run one study directory at once: each goes through ``run`` and does a part only under its claim
(``.claims/part-<name>/.lock``, an ``flock`` that dies with its process), skipping parts another worker holds; a
part that reads a held part (:meth:`StudyRun.data_of`) gives its claim back and waits for a later pass.

Every measured value is recorded under a key; ``summary.json`` joins it to the reference with the same key.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visionbench.errors import RunError
from visionbench.runs import CLAIMS_DIR, lock_owner, slug, try_claim, wait_for_lock, write_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Reference", "Study", "StudyRun", "Part", "PartHeld", "PARTS_DIR", "FIGURES_DIR", "CLAIMS_DIR",
           "WorkerMemo", "wait_for_lock"]

PARTS_DIR = "parts"
FIGURES_DIR = "figures"
# A study's workers claim parts as ``<study>/.claims/part-<name>/.lock`` (runs.CLAIMS_DIR, as a comparison's runs);
# CLAIMS_DIR and wait_for_lock stay importable from here.


@dataclass
class WorkerMemo:
    """What one worker remembers over its passes through a study: what it said (each thing is said once), and the
    parts that wait for another (``{part: the part it waits for}``: not tried again until that one is saved)."""

    said: set[str] = field(default_factory=set)
    waits: dict[str, str] = field(default_factory=dict)


class PartHeld(BaseException):
    """A part needs the data of a part another worker is doing: this pass gives up on it and the worker tries again
    later. (A BaseException so that no ``except Exception`` in a study records it as the part's failure.)"""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


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
        held: the parts this pass left to other workers (held by them, or waiting for one they hold).
    """

    def __init__(self, study: Study, out_dir: Path, *, quick: bool, seeds: Sequence[int], dataset: str | None,
                 data_dir: str | None, on_part: Callable[[str, bool], None] | None = None,
                 echo: Callable[[str], None] | None = None, quiet: bool = True, weights: str | None = None,
                 full: bool = False, memo: WorkerMemo | None = None) -> None:
        self.study, self.out_dir, self.quick, self.full = study, out_dir, quick, full
        self.seeds, self.dataset, self.data_dir = tuple(seeds), dataset, data_dir
        self.weights = weights
        self.parts: list[dict[str, Any]] = []
        self.held: list[str] = []
        self.quiet = quiet
        self._on_part = on_part
        self._echo = echo
        self._called: list[str] = []
        self._memo = WorkerMemo() if memo is None else memo

    def echo(self, message: str) -> None:
        """Tell the user what is happening (the CLI prints it; silent in the library by default)."""
        if self._echo is not None:
            self._echo(message)

    def _once(self, message: str) -> None:
        # A worker goes through the study once a second while it waits: say each thing once.
        if message not in self._memo.said:
            self._memo.said.add(message)
            self.echo(message)

    def part(self, name: str, fn: Callable[[Part], None], *, title: str = "") -> dict[str, Any]:
        """Do ``fn(part)`` and save what it recorded, or load it if a previous execution finished this part.

        The part is done under its claim (:data:`CLAIMS_DIR`); when another worker holds it, or ``fn`` needs a part
        another worker holds, it is left for later (listed in :attr:`held`) and an empty dict is returned.

        Returns:
            The saved part (``values``, ``tables``, ``figures``, ``notes``, ``data``, ``seconds``).
        """
        name = slug(name)
        if name in self._called:
            raise RunError(f"study {self.study.name}: part {name!r} is done twice (a bug in the study)")
        index = len(self._called)  # its place in the study, whichever worker does it
        self._called.append(name)
        saved = self._saved(name)
        waits = self._memo.waits.get(name)
        if saved is None and waits is not None and self._saved(waits) is None:  # not before that part is saved
            self.held.append(name)
            return {}
        if saved is None:
            claim = try_claim(self.out_dir, f"part-{name}")
            if claim is None:
                self.held.append(name)
                owner = lock_owner(self.out_dir / CLAIMS_DIR / f"part-{name}")
                self._once(f"{name}: another worker has it (process {owner or '?'})")
                return {}
            with claim:
                saved = self._saved(name)  # finished by another worker since we looked
                if saved is None:
                    saved = self._do(name, fn, title, index)
                    if saved is None:
                        return {}
                    self.parts.append(saved)
                    return saved
        self.parts.append(saved)
        if self._on_part and f"{name}: kept" not in self._memo.said:
            self._memo.said.add(f"{name}: kept")
            self._on_part(name, True)
        return saved

    def _do(self, name: str, fn: Callable[[Part], None], title: str, index: int) -> dict[str, Any] | None:
        """Run ``fn`` as part ``name`` (its claim held) and save it; None when it needs a part another worker holds."""
        if self._on_part:
            self._on_part(name, False)
        part = Part(self, name, title or name)
        start = time.perf_counter()
        try:
            fn(part)
        except PartHeld as held:
            self.held.append(name)
            self._memo.waits[name] = held.name
            self.echo(f"{name}: waits for part {held.name} (another worker has it)")
            return None
        saved = part.to_dict(time.perf_counter() - start) | {"index": index}
        write_json(self.out_dir / PARTS_DIR / f"{name}.json", saved)
        return saved

    def _saved(self, name: str) -> dict[str, Any] | None:
        path = self.out_dir / PARTS_DIR / f"{name}.json"
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunError(f"{path}: unreadable ({exc}); delete it to redo that part") from None

    def data_of(self, name: str) -> dict[str, Any]:
        """The ``data`` a finished part stored (for a later part that builds on it).

        Raises:
            PartHeld: another worker holds that part and has not finished it (the caller's part waits).
        """
        name = slug(name)
        for p in self.parts:
            if p["name"] == name:
                return p["data"]
        if name in self.held:
            saved = self._saved(name)  # finished by its worker since this pass skipped it
            if saved is None:
                raise PartHeld(name)
            self.held.remove(name)
            self.parts.append(saved)
            return saved["data"]
        raise RunError(f"study {self.study.name}: part {name!r} has not run yet (a bug in the study)")

    def choose_dataset(self, default: str) -> str:
        """The user's ``--dataset`` if the study accepts it, else ``default``."""
        return default if self.dataset is None else self.dataset
