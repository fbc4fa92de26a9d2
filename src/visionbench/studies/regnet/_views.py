"""The regnet study's training: one comparison per view, in the study directory, resumable run by run.

Every view is a :func:`visionbench.studies.compare.run_comparison` (same data, same budget rule, seeds, one worker
process per run, resume), read back into plain facts per model and seed that the parts keep in their JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visionbench.studies._study import StudyRun
from visionbench.studies.regnet._tiers import Tier

__all__ = ["Context", "run_view", "errors_of", "mean_of"]


@dataclass(frozen=True)
class Context:
    """What every part needs: the study run, its tier, dataset and seeds, and how our data is named."""

    study: StudyRun
    tier: Tier
    dataset: str
    seeds: tuple[int, ...]

    @property
    def data_label(self) -> str:
        cap = self.tier.max_train_samples
        return self.dataset + (f" ({cap:,}-image training subset)" if cap else "")


def _overrides(ctx: Context, model_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    values = {"quiet": ctx.study.quiet, "max_train_samples": ctx.tier.max_train_samples,
              "threads": ctx.tier.threads, "data_dir": ctx.study.data_dir, **ctx.tier.hyper}
    if model_kwargs:
        values["model_kwargs"] = dict(model_kwargs)
    return {k: v for k, v in values.items() if v is not None}


def run_view(ctx: Context, name: str, models: Sequence[str], *, time_budget: float | None = None,
             model_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train (or resume) the comparison ``name`` of ``models`` and return its facts.

    The budget is the tier's equal-epochs budget, or ``time_budget`` seconds of training per run when given.

    Returns:
        {"dir": the comparison folder relative to the study directory, "models": {model: {"params", "mflops",
        "seeds": {seed: {"error", "top5_error", "train_seconds", "images_per_second", "steps", "passes", "run"}}}},
        "failed": ["model seed N: message", ...]}; errors in %, ``run`` relative to the study directory.
    """
    from visionbench.studies.compare import CompareConfig, run_comparison

    study, tier = ctx.study, ctx.tier
    target = study.out_dir / name
    timed = time_budget is not None
    cc = CompareConfig(dataset=ctx.dataset, models=tuple(models), seeds=ctx.seeds,
                       epochs=None if timed else tier.epochs, steps=None if timed else tier.steps,
                       time_budget=time_budget, output_dir=str(study.out_dir), name=name, isolate=tier.isolate,
                       train_overrides=_overrides(ctx, model_kwargs))

    def announce(model: str, seed: int, i: int, total: int) -> None:
        study.echo(f"{name} [{i}/{total}] {model} (seed {seed})")

    result = run_comparison(cc, resume=target if (target / "plan.json").is_file() else None, on_run=announce)
    return _facts(result.report["rows"], result.out_dir, study.out_dir)


def _pct_error(accuracy: Any) -> float | None:
    return None if accuracy is None else 100.0 * (1.0 - float(accuracy))


def _facts(rows: Sequence[dict[str, Any]], comparison: Path, root: Path) -> dict[str, Any]:
    models: dict[str, Any] = {}
    failed: list[str] = []
    for row in rows:
        if not row.get("counted", True):
            continue
        if row["status"] != "completed":
            failed.append(f"{row['model']} seed {row['seed']}: {row['status']}"
                          + (f" ({row['message']})" if row.get("message") else ""))
            continue
        entry = models.setdefault(row["model"], {"params": row["params_total"], "seeds": {},
                                                 "mflops": None if row["flops_per_image"] is None
                                                 else row["flops_per_image"] / 1e6})
        per_epoch = row["steps_per_epoch"]
        steps = row["steps_completed"]
        entry["seeds"][str(row["seed"])] = {
            "error": _pct_error(row["test_accuracy"]), "top5_error": _pct_error(row["test_top5_accuracy"]),
            "train_seconds": row["train_seconds"], "images_per_second": row["train_images_per_second"],
            "steps": steps, "passes": steps / per_epoch if steps and per_epoch else None,
            "run": Path(row["path"]).resolve().relative_to(root.resolve()).as_posix(),
        }
    return {"dir": comparison.resolve().relative_to(root.resolve()).as_posix(), "models": models, "failed": failed}


def errors_of(facts: dict[str, Any], key: str = "error") -> dict[str, dict[str, float]]:
    """model -> seed -> value of ``key`` (seeds without it left out)."""
    return {m: {s: v[key] for s, v in e["seeds"].items() if v.get(key) is not None}
            for m, e in facts["models"].items()}


def mean_of(facts: dict[str, Any], model: str, key: str) -> float | None:
    """The mean over seeds of ``key`` for ``model`` (None when it has no value)."""
    vals = [v[key] for v in ((facts["models"].get(model) or {}).get("seeds") or {}).values() if v.get(key) is not None]
    return sum(vals) / len(vals) if vals else None
