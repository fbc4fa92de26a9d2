"""What makes runs comparable: a fingerprint of the facts in a run's ``config.json`` that must agree.

Two runs of one model average into one row only when they saw the same data, the same budget and the same
hyper-parameters, and differ only by their seed. :func:`fingerprint` reads those facts (missing keys count as
``None``, so old runs that lack a key still compare) and hashes them; :func:`dataset_part` is the subset that must
also agree across models, since models trained on different data are not compared on one table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from visionbench.runs import Run
from visionbench.train.config import BUDGET_OPTIONS

__all__ = [
    "DATASET_KEYS",
    "CROSS_MODEL_KEYS",
    "BUDGET_KEYS",
    "HYPER_KEYS",
    "FINGERPRINT_KEYS",
    "config_facts",
    "fingerprint",
    "dataset_part",
    "first_difference",
    "differing_keys",
    "short_key",
    "describe",
]

# Facts about the data every model of one report must share. ``img_size`` is checked separately (see
# :data:`CROSS_MODEL_KEYS`): the pipeline resizes images up to a model's minimum side, so a ViT on 8x8 digits sees
# 16x16 inputs of the same images.
DATASET_KEYS = ["dataset", "dataset_info.test_size", "val_split", "max_train_samples", "img_size"]
CROSS_MODEL_KEYS = [k for k in DATASET_KEYS if k != "img_size"]
BUDGET_KEYS = list(BUDGET_OPTIONS)  # the ways a run states its length
HYPER_KEYS = [
    "batch_size",
    "optimizer",
    "lr",
    "momentum",
    "nesterov",
    "weight_decay",
    "schedule",
    "warmup_steps",
    "warmup_epochs",
    "label_smoothing",
    "augment",
    "backbone_lr_scale",
    "model_kwargs",
]
FINGERPRINT_KEYS = [
    "dataset",
    "dataset_info.train_size",
    "dataset_info.val_size",
    "dataset_info.test_size",
    "val_split",
    "max_train_samples",
    "img_size",
    *BUDGET_KEYS,
    *HYPER_KEYS,
]


def _lookup(config: Mapping[str, Any], key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def config_facts(config: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of :data:`FINGERPRINT_KEYS` read from a run's config (``None`` where a key is missing).

    With a ``time_budget`` the step and epoch counts are left out: each run then stops at its own step. So is the
    warm-up unless the run was given one: the recipe's is capped at a fifth of the run's own steps.
    """
    facts = {key: _lookup(config, key) for key in FINGERPRINT_KEYS}
    if facts["time_budget"] is not None:
        del facts["steps"], facts["epochs"]
        budget = config.get("budget")
        if isinstance(budget, dict) and budget.get("source") == "time":
            del facts["warmup_steps"]
    return facts


def _hash(facts: Mapping[str, Any]) -> str:
    text = json.dumps(facts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def fingerprint(run: Run | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """A short stable hash of what makes runs of one model comparable, and the facts it was computed from.

    Args:
        run: a run read back (:func:`visionbench.runs.read_run`) or its ``config.json`` as a dict.

    Returns:
        (10 hex digits, {key: value}) with the keys of :data:`FINGERPRINT_KEYS` (dotted keys such as
        ``dataset_info.train_size`` name nested values); the hash ignores key order and the seed.
    """
    config = run.config if isinstance(run, Run) else run
    facts = config_facts(config)
    return _hash(facts), facts


def dataset_part(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The facts that must agree across models (:data:`DATASET_KEYS`)."""
    return {key: facts.get(key) for key in DATASET_KEYS}


def first_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[str, Any, Any] | None:
    """The first key (in :data:`FINGERPRINT_KEYS` order, then any other) whose values differ, or None."""
    order = [k for k in FINGERPRINT_KEYS if k in a or k in b]
    order += sorted(k for k in {*a, *b} if k not in order)
    for key in order:
        if a.get(key) != b.get(key):
            return key, a.get(key), b.get(key)
    return None


def differing_keys(facts: Sequence[Mapping[str, Any]]) -> list[str]:
    """Keys whose values are not the same in every one of ``facts``, in :data:`FINGERPRINT_KEYS` order."""
    keys = [k for k in FINGERPRINT_KEYS if any(k in f for f in facts)]
    keys += sorted({k for f in facts for k in f} - set(keys))
    return [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in facts}) > 1]


def short_key(key: str) -> str:
    """``dataset_info.train_size`` -> ``train_size``: the label column has little room."""
    return key.rsplit(".", 1)[-1]


def _short_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def describe(facts: Mapping[str, Any], keys: Sequence[str]) -> str:
    """A short label such as ``lr=0.01, epochs=5`` naming the values of ``keys``; a missing key reads ``—``.

    ``steps`` and ``epochs`` are absent from a time-budget run's facts; they are left out of its label.
    """
    parts = []
    for key in keys:
        if key not in facts and key in ("steps", "epochs"):
            continue
        value = facts.get(key)
        parts.append(f"{short_key(key)}={'—' if value is None else _short_value(value)}")
    return ", ".join(parts)
