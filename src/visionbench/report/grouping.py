"""Which runs average together: the strictness check, configuration labels, duplicate seeds, paired tests.

A report averages the seeds of one model only when their fingerprints (:mod:`visionbench.report.fingerprint`)
agree, and compares models only when they saw the same data. Anything else is refused with one line naming the
model, the first differing key and both values, unless the caller allows mixed configurations, in which case each
(model, fingerprint) gets its own row and a short label naming what differs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from visionbench.errors import ConfigError
from visionbench.report.fingerprint import (
    CROSS_MODEL_KEYS,
    FINGERPRINT_KEYS,
    describe,
    differing_keys,
    fingerprint,
    first_difference,
)
from visionbench.report.stats import paired_difference
from visionbench.report.tables import group_key
from visionbench.runs import Run

__all__ = ["MIXED_FIX", "check_comparable", "mark_duplicates", "add_paired_tests"]

MIXED_FIX = "pass --allow-mixed to show one row per configuration"


def _show(value: Any) -> str:
    return "None (not recorded)" if value is None else json.dumps(value, sort_keys=True, default=str)


def _by_model(runs: Sequence[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for run in runs:
        out.setdefault(run.model, []).append(run)
    return out


def check_comparable(runs: Sequence[Run], *, allow_mixed: bool = False) -> dict[str, Any]:
    """Fingerprint every run; refuse mixed configurations unless ``allow_mixed``; label what differs.

    Args:
        runs: the runs of one report.
        allow_mixed: keep runs of several configurations (one summary row per model and fingerprint).

    Returns:
        {"fingerprints": {run path: hash}, "facts": {hash: facts}, "labels": {run path: label naming what differs
        ("" when nothing does)}, "warnings": [one-line messages]}.

    Raises:
        ConfigError: without ``allow_mixed``, a model's runs have more than one fingerprint, or two models were run
            on different data (dataset, test size, validation split, training-sample cap).
    """
    prints = {str(r.path): fingerprint(r) for r in runs}
    models = _by_model(runs)
    warnings: list[str] = []
    notes: list[str] = []
    if not allow_mixed:
        # A failed run is listed but never averaged, and may have failed before its data was known: not checked.
        strict = _by_model([r for r in runs if r.status != "failed"])
        for model, members in strict.items():
            ref = members[0]
            for run in members[1:]:
                diff = first_difference(prints[str(ref.path)][1], prints[str(run.path)][1])
                if diff:
                    key, a, b = diff
                    raise ConfigError(
                        f"{model}: runs differ in {key} ({_show(a)} in {ref.path.name}, {_show(b)} in "
                        f"{run.path.name}); compare runs of one configuration, or {MIXED_FIX}"
                    )
        firsts = [members[0] for members in strict.values()]
        for run in firsts[1:]:
            ref = firsts[0]
            a_facts, b_facts = prints[str(ref.path)][1], prints[str(run.path)][1]
            diff = first_difference(
                {k: a_facts[k] for k in CROSS_MODEL_KEYS}, {k: b_facts[k] for k in CROSS_MODEL_KEYS}
            )
            if diff:
                key, a, b = diff
                raise ConfigError(
                    f"{run.model} and {ref.model} were run on different data: {key} is {_show(b)} for {run.model} "
                    f"({run.path.name}) but {_show(a)} for {ref.model} ({ref.path.name}); compare runs made on the "
                    f"same data, or {MIXED_FIX}"
                )
    # as text: a damaged config.json may hold any JSON value there, hashable or not
    sizes = {m: sorted({json.dumps(prints[str(r.path)][1].get("img_size"), default=str) for r in members})
             for m, members in models.items()}
    if len({json.dumps(v, default=str) for v in sizes.values()}) > 1:
        # Not an error, nor a warning: the pipeline resizes images up to a model's minimum input side (a ViT on 8x8
        # digits), the normal case of the main job. A note in comparison.md says it.
        notes.append(
            "models see different input sizes (img_size): "
            + ", ".join(f"{m} {'/'.join(str(s) for s in v)}" for m, v in sizes.items())
            + "; the images are the same, resized to each model's input side"
        )
    # What the label names: within one dataset, the keys that differ between one model's configurations and the
    # data facts that differ across models (the dataset itself has its own column, and its sizes follow from it).
    labels: dict[str, str] = {}
    for dataset in {r.dataset for r in runs}:
        in_data = [r for r in runs if r.dataset == dataset]
        cross = differing_keys([{k: prints[str(r.path)][1].get(k) for k in CROSS_MODEL_KEYS} for r in in_data])
        for members in _by_model(in_data).values():
            own = differing_keys([prints[str(r.path)][1] for r in members])
            keys = [k for k in FINGERPRINT_KEYS if (k in own or k in cross) and k != "dataset"]
            for run in members:
                labels[str(run.path)] = describe(prints[str(run.path)][1], keys)
    return {
        "fingerprints": {path: fp for path, (fp, _) in prints.items()},
        "facts": {fp: facts for fp, facts in prints.values()},
        "labels": labels,
        "warnings": warnings,
        "notes": notes,
    }


def mark_duplicates(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Count a seed once per (model, fingerprint): set ``counted`` and ``note`` on every row, return warnings.

    The kept run is the completed one (the first by path if several completed), else the first by path; the others
    stay in the per-run table, marked, and out of every mean.
    """
    seen: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        row["counted"], row["note"] = True, ""
        if row["seed"] is not None:
            seen.setdefault((*group_key(row), json.dumps(row["seed"])), []).append(row)
    warnings = []
    for (model, _, _, _), members in seen.items():
        if len(members) < 2:
            continue
        members = sorted(members, key=lambda r: r["path"])
        keep = next((r for r in members if r["status"] == "completed"), members[0])
        for row in members:
            if row is not keep:
                row["counted"] = False
                row["note"] = f"duplicate of seed {row['seed']} in {_short(keep['path'])}, not counted"
        label = f"{model} ({keep['config']})" if keep.get("config") else model
        names = ", ".join(_short(r["path"]) for r in members)
        warnings.append(f"{label}: seed {keep['seed']} appears {len(members)} times ({names}); counted once, from "
                        f"{_short(keep['path'])}")
    return warnings


def _short(path: str) -> str:
    """``parent/name``: enough to tell apart two runs of one name in different folders."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def _acc_by_seed(rows: Sequence[dict[str, Any]], key: tuple[str, str, str]) -> dict[Any, float]:
    return {
        json.dumps(r["seed"]): r["test_accuracy"]
        for r in rows
        if r.get("counted", True) and r["status"] == "completed" and r["test_accuracy"] is not None
        and r["seed"] is not None and group_key(r) == key
    }


def add_paired_tests(
    summary: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], facts: Mapping[str, Mapping[str, Any]]
) -> None:
    """Add ``vs_best``, ``vs_best_n_pairs``, ``vs_best_diff_mean``, ``vs_best_diff_ci_low``, ``vs_best_diff_ci_high``
    and ``vs_best_p_value`` to every summary row (None where undefined), in place.

    The best row is the first (highest mean test accuracy). The difference is row minus best, over the seeds both
    completed, tested with a paired t-test when they share at least 2; rows run on other data are not tested.
    """
    keys = ["vs_best", "vs_best_n_pairs", "vs_best_diff_mean", "vs_best_diff_ci_low", "vs_best_diff_ci_high",
            "vs_best_p_value"]
    for a in summary:
        a.update(dict.fromkeys(keys))
    if len(summary) < 2 or summary[0]["test_accuracy_mean"] is None:
        return
    best = summary[0]
    best_key = (best["model"], best["dataset"], best["fingerprint"])
    best_seeds = _acc_by_seed(rows, best_key)
    best_data = {k: (facts.get(best["fingerprint"]) or {}).get(k) for k in CROSS_MODEL_KEYS}
    for a in summary[1:]:
        a["vs_best"] = best["label"]
        data = {k: (facts.get(a["fingerprint"]) or {}).get(k) for k in CROSS_MODEL_KEYS}
        if data != best_data:  # only models that saw the same data pair up
            continue
        seeds = _acc_by_seed(rows, (a["model"], a["dataset"], a["fingerprint"]))
        a["vs_best_n_pairs"] = len(set(seeds) & set(best_seeds))
        test = paired_difference(seeds, best_seeds)
        if test is not None:
            a.update(vs_best_diff_mean=test["diff_mean"], vs_best_diff_ci_low=test["ci_low"],
                     vs_best_diff_ci_high=test["ci_high"], vs_best_p_value=test["p_value"])
