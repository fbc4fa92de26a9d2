"""Statistics over seeds: mean, sample std and a Student-t confidence interval; paired tests between models.

Seeds are few (often 2 to 5), so intervals use Student's t rather than the normal approximation, and the
comparison of two models pairs their runs by seed (same split, same initialisation stream): the seed-to-seed
variation they share cancels out of the difference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from scipy import stats as _st

__all__ = ["CONFIDENCE", "mean_std_ci", "paired_difference"]

CONFIDENCE = 0.95


def _clip(value: float, bounds: tuple[float, float] | None) -> float:
    if bounds is None:
        return value
    return min(max(value, bounds[0]), bounds[1])


def mean_std_ci(
    values: Sequence[float], confidence: float = CONFIDENCE, bounds: tuple[float, float] | None = None
) -> dict[str, Any]:
    """Mean, sample std (ddof=1) and the two-sided Student-t confidence interval of the mean.

    Args:
        values: one value per seed.
        confidence: coverage of the interval.
        bounds: the metric's range (``(0, 1)`` for an accuracy); the interval is clipped to it.

    Returns:
        {"n", "mean", "std", "ci_low", "ci_high"}; ``mean`` is None without values, and ``std`` and the interval
        are None for a single value (undefined, never a fake 0).
    """
    vals = [float(v) for v in values]
    n = len(vals)
    out: dict[str, Any] = {"n": n, "mean": None, "std": None, "ci_low": None, "ci_high": None}
    if n == 0:
        return out
    mean = sum(vals) / n
    out["mean"] = mean
    if n < 2:
        return out
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = float(_st.t.ppf(0.5 + confidence / 2, df=n - 1)) * std / math.sqrt(n)
    out.update(std=std, ci_low=_clip(mean - half, bounds), ci_high=_clip(mean + half, bounds))
    return out


def paired_difference(
    a: Mapping[Any, float], b: Mapping[Any, float], confidence: float = CONFIDENCE
) -> dict[str, Any] | None:
    """Paired t-test of ``a - b`` over the keys (seeds) both have.

    Args:
        a: value per seed of one model.
        b: value per seed of the reference model.
        confidence: coverage of the interval of the mean difference.

    Returns:
        None when fewer than 2 seeds are shared; else {"n_pairs", "seeds", "diff_mean", "diff_std", "ci_low",
        "ci_high", "t", "p_value"} (``scipy.stats.ttest_rel``, two-sided). When every difference is the same the
        test is undefined and ``t`` and ``p_value`` are None.
    """
    seeds = sorted((s for s in a if s in b), key=str)
    if len(seeds) < 2:
        return None
    xa = [float(a[s]) for s in seeds]
    xb = [float(b[s]) for s in seeds]
    diff = mean_std_ci([x - y for x, y in zip(xa, xb)], confidence)
    t = p = None
    # Equal differences up to rounding (0.9 - 0.8 vs 0.8 - 0.7) leave t at ~1e16: call the test undefined instead.
    if diff["std"] is not None and diff["std"] > 1e-12 * max(1.0, abs(diff["mean"])):
        res = _st.ttest_rel(xa, xb)
        t, p = float(res.statistic), float(res.pvalue)
    return {
        "n_pairs": len(seeds),
        "seeds": seeds,
        "diff_mean": diff["mean"],
        "diff_std": diff["std"],
        "ci_low": diff["ci_low"],
        "ci_high": diff["ci_high"],
        "t": t,
        "p_value": p,
    }
