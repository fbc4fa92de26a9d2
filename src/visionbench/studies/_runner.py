"""Run a study into a new directory, resume it, and build its summary and reports from its files.

A study directory ``studies/<YYYYmmdd-HHMMSS>-<name>/`` (never reused) holds:

- ``study.json``: the study's name and options, the command, when and where it ran, its status;
- ``parts/<part>.json``: what each finished part recorded (values, tables, figure captions, notes);
- ``figures/*.png`` and, for studies that train with the pipeline, ``runs/`` (normal run directories);
- ``summary.json``: every quantity as ``{key, ours, reference, unit, source, dataset, ...}``;
- ``report.html`` (self-contained) and ``report.md``.

The summary and reports are built from ``study.json`` and ``parts/`` only, so ``visionbench study report DIR``
rebuilds them in place.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visionbench.errors import ConfigError, RunError
from visionbench.report.html import Document, Figure, Section, Table, fmt, write_document
from visionbench.runs import check_writable, unique_dir, write_json
from visionbench.studies._study import PARTS_DIR, Reference, Study

__all__ = ["STUDY_MODULES", "list_studies", "get_study", "run_study", "plan_study", "rebuild_study_report",
           "StudyResult"]

#: Every study, in the order ``visionbench study list`` shows them: module name under ``visionbench.studies``.
STUDY_MODULES = (
    "main",
    "diy_regression",
    "diy_linear",
    "diy_nonlinear",
    "diy_checkerboard",
    "diy_multiclass",
    "diy_autoencoder",
    "diy_conv",
    "lab2",
    "regnet",
)

STUDY_FILE = "study.json"
SUMMARY_FILE = "summary.json"


@dataclass
class StudyResult:
    out_dir: Path
    summary: dict[str, Any]
    pending: list[str] = field(default_factory=list)  # parts other workers held when this one ended (wait=False)


def list_studies() -> list[Study]:
    """Every registered study (the modules of :data:`STUDY_MODULES` that exist)."""
    out = []
    for mod in STUDY_MODULES:
        try:
            module = importlib.import_module(f"visionbench.studies.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"visionbench.studies.{mod}":
                raise
            continue
        out.append(module.STUDY)
    return out


def get_study(name: str) -> Study:
    """The study called ``name``; a one-line error listing the names otherwise."""
    studies = {s.name: s for s in list_studies()}
    if name not in studies:
        raise ConfigError(f"study {name!r} does not exist; `visionbench study list` shows "
                          f"{', '.join(studies)}")
    return studies[name]


def _check_options(study: Study, seeds: Sequence[int], dataset: str | None) -> None:
    if not seeds:
        raise ConfigError("--seeds: give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ConfigError("--seeds: a seed is named twice; name each once")
    if dataset is not None and dataset not in study.datasets:
        if not study.datasets:
            raise ConfigError(f"--dataset: study {study.name} uses fixed data (see its report); drop --dataset")
        raise ConfigError(f"--dataset {dataset}: study {study.name} runs on {', '.join(study.datasets)}; "
                          f"pick one of those")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path.parent}: not a study directory (no {path.name}); give a folder made by "
                       f"`visionbench study run`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: unreadable {what} ({exc}); the study directory is damaged") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: not a {what} (expected a JSON object); the study directory is damaged")
    return data


def _check_kept(resume: str | Path, **given: Any) -> None:
    """A study keeps the options it was started with, whoever joins it: refuse any given with ``resume``."""
    for key, value in given.items():
        if value is not None and value is not False:
            flag = f"--{key.replace('_', '-')}"
            raise ConfigError(f"{flag}: the study in {resume} keeps the options it was started with; drop {flag} "
                              f"(or start a new study without --resume/--join)")


def run_study(
    name: str,
    *,
    quick: bool = False,
    seeds: Sequence[int] | None = None,
    dataset: str | None = None,
    data_dir: str | None = None,
    out: str | Path = "studies",
    resume: str | Path | None = None,
    command: str = "",
    on_part: Callable[[str, bool], None] | None = None,
    echo: Callable[[str], None] | None = None,
    quiet: bool = True,
    weights: str | None = None,
    full: bool = False,
    workers: int = 1,
    wait: bool = True,
) -> StudyResult:
    """Run study ``name`` into ``<out>/<stamp>-<name>/`` (or continue the study directory ``resume``).

    Several processes (here, or on other machines sharing the folder) may work on one study directory at once: each
    goes through the study's parts and does those nobody holds, each under its claim (see :meth:`StudyRun.part`), so
    every part is done once, in the same order of data as by one process; while parts it cannot do are held, a worker
    trains runs of their comparisons or waits, and takes over a part whose worker died. The last worker to end
    builds the report (see :mod:`visionbench.studies._workers`).

    Args:
        name: a name from :func:`list_studies`.
        quick: the small variant (minutes; the tests use it).
        seeds: the seeds (default: the study's).
        dataset: one of the study's datasets (default: the study's choice).
        data_dir: where to look for dataset files first.
        out: parent folder of the study directory.
        resume: an existing study directory: its saved options are used (``quick``, ``full``, ``seeds``, ``dataset``,
            ``data_dir`` and ``weights`` are refused with it) and finished parts are not redone; another worker may be
            on it (this process joins it).
        command: the command line, recorded in the report.
        on_part: called as ``on_part(part_name, already_done)`` before each part this process does, and once for
            each part it finds done.
        echo: receives the study's progress messages (None: silent).
        quiet: hide the progress bars of the training runs the study makes.
        weights: initial weights, for a study that takes them (:attr:`Study.weights` says what they mean).
        full: the study's longest tier, for a study that has one (:attr:`Study.full` says what it runs).
        workers: start this many local worker processes on the study (its folder is made first) and wait for them;
            1 works in this process.
        wait: while parts are held by other workers, wait for them (or help them) instead of ending; a worker that
            ends with parts held builds no report and names them in ``pending``.
    """
    if workers < 1:
        raise ConfigError(f"--workers {workers}: give 1 or more worker processes")
    study = get_study(name)
    if resume is not None:
        _check_kept(resume, quick=quick, full=full, seeds=seeds, dataset=dataset, data_dir=data_dir, weights=weights)
        out_dir = Path(resume)
        meta = _read_json(out_dir / STUDY_FILE, "study record")
        if meta.get("study") != study.name:
            raise ConfigError(f"--resume {out_dir}: that folder holds study {meta.get('study')!r}, not {name!r}")
        check_writable(out_dir, "--resume")
    else:
        out_dir = plan_study(name, quick=quick, seeds=seeds, dataset=dataset, data_dir=data_dir, out=out,
                             command=command, weights=weights, full=full)
    from visionbench.studies._workers import study_worker, work  # (it builds on this module)

    if workers > 1:
        from visionbench.studies._jobs import run_workers

        run_workers(out_dir, workers, study_worker, (study.name, str(out_dir), quiet), what="study",
                    again=f"visionbench study run {study.name} --join {out_dir}")
        return StudyResult(out_dir, _read_json(out_dir / SUMMARY_FILE, "study summary"))
    return work(study, out_dir, joined=command if resume is not None else "", on_part=on_part, echo=echo,
                quiet=quiet, wait=wait)


def plan_study(name: str, *, quick: bool = False, seeds: Sequence[int] | None = None, dataset: str | None = None,
               data_dir: str | None = None, out: str | Path = "studies", command: str = "",
               weights: str | None = None, full: bool = False) -> Path:
    """Check the options (as :func:`run_study`), make the study directory and write its ``study.json``, doing no
    part: workers then join it with ``run_study(name, resume=DIR)``. Returns the directory."""
    study = get_study(name)
    if seeds is None:
        seeds = study.seeds_quick if quick and study.seeds_quick else study.seeds
    seeds = list(seeds)
    _check_options(study, seeds, dataset)
    if weights is not None and study.weights is None:
        raise ConfigError(f"--weights: study {study.name} trains no model from given weights; drop --weights")
    if full and study.full is None:
        raise ConfigError(f"--full: study {study.name} has no longer tier (its default run is the whole study); "
                          f"drop --full")
    if full and quick:
        raise ConfigError("--full and --quick: pick one (--quick is the smoke test, --full the longest tier)")
    out_dir = unique_dir(out, f"{time.strftime('%Y%m%d-%H%M%S')}-{study.name}")
    write_json(out_dir / STUDY_FILE, {
        "study": study.name, "quick": quick, "full": full, "seeds": seeds, "dataset": dataset, "data_dir": data_dir,
        "weights": weights, "command": command, "created": time.strftime("%Y-%m-%d %H:%M:%S %z"), "seconds": 0.0,
        "status": "planned"})
    return out_dir


def _load_parts(out_dir: Path) -> list[dict[str, Any]]:
    parts = [_read_json(p, "study part") for p in sorted((out_dir / PARTS_DIR).glob("*.json"))]
    return sorted(parts, key=lambda p: (p.get("index", 0), p.get("name", "")))


def _aggregate(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (key, dataset): mean, sample std and count over the recorded values (one per seed)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for v in values:
        groups.setdefault((v["key"], v.get("dataset", "")), []).append(v)
    rows = []
    for (key, dataset), vals in groups.items():
        nums = [v["ours"] for v in vals if v["ours"] is not None]
        mean = float(np.mean(nums)) if nums else None
        std = float(np.std(nums, ddof=1)) if len(nums) > 1 else None
        rows.append({"key": key, "label": vals[0].get("label") or key, "ours": mean, "std": std, "n": len(nums),
                     "n_missing": len(vals) - len(nums), "unit": vals[0].get("unit", ""), "dataset": dataset,
                     "per_seed": {str(v["seed"]): v["ours"] for v in vals if v.get("seed") is not None}})
    return rows


def _join(study: Study, ours: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our rows beside the document's: every reference gets a row (ours None when not measured), then ours alone."""
    refs: dict[str, Reference] = {r.key: r for r in study.references}
    rows, seen = [], set()
    for ref in study.references:
        matches = [o for o in ours if o["key"] == ref.key] or [
            {"key": ref.key, "label": ref.key, "ours": None, "std": None, "n": 0, "n_missing": 0, "unit": ref.unit,
             "dataset": "", "per_seed": {}}]
        for o in matches:
            seen.add((o["key"], o["dataset"]))
            diff = o["ours"] - ref.value if o["ours"] is not None else None
            rows.append(o | {"reference": ref.value, "unit": ref.unit, "source": ref.source,
                             "reference_dataset": ref.dataset, "reference_note": ref.note, "difference": diff})
    for o in ours:
        if (o["key"], o["dataset"]) not in seen and o["key"] not in refs:
            rows.append(o | {"reference": None, "source": "", "reference_dataset": "", "reference_note": "",
                             "difference": None})
    return rows


def build_summary(study: Study, meta: dict[str, Any], parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The study's summary: options, provenance, and every quantity beside the document's value."""
    values = [v for p in parts for v in p.get("values", [])]
    notes = list(study.differences)
    for p in parts:
        notes += [n for n in p.get("notes", []) if n not in notes]
    return {
        "study": study.name, "title": study.title, "description": study.description,
        "document": study.document, "section": study.section,
        "status": meta.get("status"), "quick": meta.get("quick"), "seeds": meta.get("seeds"),
        "dataset": meta.get("dataset"), "command": meta.get("command"), "created": meta.get("created"),
        "seconds": meta.get("seconds"), "software": meta.get("software"), "hardware": meta.get("hardware"),
        "answer": _answer(parts),
        "rows": _join(study, _aggregate(values)),
        "differences": notes,
        "parts": [{"name": p.get("name"), "title": p.get("title"), "seconds": p.get("seconds")} for p in parts],
    }


#: Said under a study table holding an empty cell whose caption does not already say what "n/a" means there.
NA_CAPTION = ("n/a: no finite value (a run that diverged, failed or was not trained, or a quantity this setting "
              "does not define; the notes name the runs).")


def _caption(table: dict[str, Any]) -> str:
    """The table's caption, explaining "n/a" when a cell is empty (no empty cell goes unexplained)."""
    caption = str(table.get("caption") or "")
    if any(c is None for row in table["rows"] for c in row) and "n/a" not in caption:
        caption = f"{caption} {NA_CAPTION}".strip()
    return caption


def _answer(parts: list[dict[str, Any]]) -> str | None:
    """The study's one-sentence answer, when a part states one (``part.data["answer"]``; the last part's wins)."""
    answers = [p["data"]["answer"] for p in parts if (p.get("data") or {}).get("answer")]
    return str(answers[-1]) if answers else None


def _ours_cell(row: dict[str, Any]) -> str:
    if row["ours"] is None:
        return "not measured" if not row.get("n_missing") else "n/a (diverged)"
    text = fmt(row["ours"])
    if row.get("std") is not None:
        text += f" ± {fmt(row['std'])} (n={row['n']})"
    return text


def _diff_cell(row: dict[str, Any]) -> str:
    d = row.get("difference")
    if d is None:
        return ""
    return ("+" if d >= 0 else "−") + fmt(abs(d))


def _document(study: Study, summary: dict[str, Any], parts: list[dict[str, Any]]) -> Document:
    rows = summary["rows"]
    cmp_rows = [[r["label"], _ours_cell(r), fmt(r["reference"]), _diff_cell(r), r["unit"], r["dataset"] or "",
                 r["reference_dataset"] or "", (r["source"] + (f" ({r['reference_note']})" if r.get("reference_note")
                                                               else ""))]
                for r in rows]
    mode = "quick (a smoke test, not the study's protocol)" if summary.get("quick") else "full"
    status = summary.get("status")
    lead = f"{study.description} Reproduces {study.document}, {study.section}."
    if summary.get("answer"):  # the study's answer first: what a reader came for
        lead = f"{summary['answer']} {lead}"
    if status != "completed":
        lead += f" Status: {status} (the numbers below are partial)."
    sections = [
        Section("Our numbers beside the document's",
                paragraphs=["Ours is the mean over seeds (± sample standard deviation when there are several); the "
                            "difference is ours minus the document's, in the row's unit."],
                tables=[Table(["Quantity", "Ours", "Document", "Difference", "Unit", "Our data", "Document's data",
                               "Source"], cmp_rows)]),
        Section("What differs from the document", bullets=summary["differences"] or ["Nothing we know of."]),
    ]
    for p in parts:
        if not p.get("tables") and not p.get("figures"):
            continue
        sections.append(Section(
            p.get("title") or p["name"],
            tables=[Table(t["columns"], [[fmt(c) for c in row] for row in t["rows"]], t.get("title", ""),
                          _caption(t)) for t in p.get("tables", [])],
            figures=[Figure(f["file"], f["caption"]) for f in p.get("figures", [])]))
    sw = summary.get("software") or {}
    hw = summary.get("hardware") or {}
    seconds = summary.get("seconds")
    timings = "; ".join(f"{p['name']} {fmt(p['seconds'], 1)} s" for p in summary["parts"])
    sections.append(Section(
        "What was run",
        code=[summary.get("command") or f"visionbench study run {study.name}"],
        bullets=[
            f"Mode: {mode}; seeds: {', '.join(str(s) for s in summary.get('seeds') or [])}.",
            f"Started {summary.get('created')}; took {fmt(seconds, 1) if seconds is not None else 'n/a'} s "
            f"({timings}).",
            "Software: " + ", ".join(f"{k} {v}" for k, v in sw.items() if v) + ".",
            f"Machine: {hw.get('processor', '?')}, {hw.get('cpu_count_usable', '?')} usable CPUs, "
            f"{hw.get('platform', '?')}.",
            f"Rebuild this report from the study's files: `visionbench study report {'<this folder>'}`.",
        ]))
    return Document(study.title, lead, sections)


def rebuild_study_report(out_dir: str | Path) -> dict[str, Any]:
    """Rewrite ``summary.json``, ``report.html`` and ``report.md`` of a study directory from its files."""
    out_dir = Path(out_dir)
    meta = _read_json(out_dir / STUDY_FILE, "study record")
    study = get_study(str(meta.get("study")))
    parts = _load_parts(out_dir)
    summary = build_summary(study, meta, parts)
    write_json(out_dir / SUMMARY_FILE, _clean(summary))
    write_document(_document(study, summary, parts), out_dir)
    return summary


def _clean(obj: Any) -> Any:
    """JSON without NaN or infinity (they become null), so any tool can read summary.json."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
