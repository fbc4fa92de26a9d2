"""The regnet study's statistics and sentences: paired tests against a baseline over shared seeds, Holm's correction
for a family of tests, and the one-sentence answers (does the regulator help; does it help most in the lower layers).

Pure functions of numbers (scipy through :mod:`visionbench.report.stats`): the tests feed them hand-made values.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from visionbench.report.stats import paired_difference

__all__ = ["PairTest", "ALPHA", "pair_test", "holm", "reading", "claim_sentence", "position_sentence"]

#: Significance level of every test in the study.
ALPHA = 0.05

Errors = Mapping[str, Mapping[str, float]]  # model -> seed -> test error (%)


@dataclass(frozen=True)
class PairTest:
    """``against``'s error minus ``model``'s, per shared seed: a positive gain means ``model`` has fewer errors.

    Attributes:
        model: the model tested (a registered name or a study key such as ``stage1``).
        against: the model it is compared to.
        why: what the comparison asks (``the claim``, ``depth``...).
        n_pairs: seeds both completed.
        seeds: those seeds.
        gain: mean gain in points of error (None without a shared seed).
        ci_low: 95 % Student-t interval of the mean gain (None below two pairs).
        ci_high: upper end of that interval.
        t: paired t statistic (None below two pairs, or when every difference is the same).
        p: two-sided p-value of ``scipy.stats.ttest_rel``.
        p_holm: ``p`` adjusted for its family of tests (Holm); None outside a family.
    """

    model: str
    against: str
    why: str
    n_pairs: int
    seeds: tuple[str, ...]
    gain: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    t: float | None = None
    p: float | None = None
    p_holm: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PairTest:
        return cls(**{**data, "seeds": tuple(data.get("seeds") or ())})


def pair_test(model: str, against: str, why: str, errors: Errors) -> PairTest:
    """The paired test of ``model`` against ``against`` over the seeds both have in ``errors``."""
    mine, theirs = errors.get(model) or {}, errors.get(against) or {}
    seeds = tuple(sorted((s for s in mine if s in theirs), key=str))
    if not seeds:
        return PairTest(model, against, why, 0, (), None)
    if len(seeds) == 1:
        return PairTest(model, against, why, 1, seeds, theirs[seeds[0]] - mine[seeds[0]])
    res = paired_difference(dict(theirs), dict(mine))
    assert res is not None  # two shared seeds or more
    return PairTest(model, against, why, res["n_pairs"], seeds, res["diff_mean"], res["ci_low"], res["ci_high"],
                    res["t"], res["p_value"])


def holm(tests: Sequence[PairTest]) -> list[PairTest]:
    """The tests with ``p_holm`` set: Holm's step-down adjustment over those that have a p-value."""
    order = sorted((i for i, t in enumerate(tests) if t.p is not None), key=lambda i: tests[i].p)  # type: ignore
    m = len(order)
    adjusted: dict[int, float] = {}
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(tests[i].p)))  # type: ignore[arg-type]
        adjusted[i] = running
    return [replace(t, p_holm=adjusted.get(i)) for i, t in enumerate(tests)]


def _significant(t: PairTest) -> bool:
    p = t.p_holm if t.p_holm is not None else t.p
    return p is not None and p < ALPHA


def reading(t: PairTest) -> str:
    """A few words on one test: better or worse (significantly or not), or why it cannot be told."""
    if t.gain is None:
        return "not run (a run is missing)"
    if t.n_pairs < 2:
        return "cannot tell (one seed)"
    if t.p is None:
        return "same difference on every seed (no test)"
    direction = "fewer errors" if t.gain > 0 else "more errors"
    return f"{direction}, significant" if _significant(t) else f"{direction}, not significant"


def _half_width(tests: Sequence[PairTest]) -> float | None:
    widths = [(t.ci_high - t.ci_low) / 2 for t in tests if t.ci_low is not None and t.ci_high is not None]
    return statistics.median(widths) if widths else None


def _count(tests: Sequence[PairTest]) -> tuple[int, int, int]:
    better = sum(1 for t in tests if (t.gain or 0.0) > 0)
    sig_better = sum(1 for t in tests if (t.gain or 0.0) > 0 and t.n_pairs >= 2 and _significant(t))
    sig_worse = sum(1 for t in tests if (t.gain or 0.0) < 0 and t.n_pairs >= 2 and _significant(t))
    return better, sig_better, sig_worse


def _significantly(n: int) -> str:
    return "none significantly" if n == 0 else f"{n} significantly"


def claim_sentence(epochs: Sequence[PairTest], timed: Sequence[PairTest] = (), time_budget: float | None = None
                   ) -> str:
    """One sentence: did the regulated nets beat their baselines here, and how sure are we.

    Args:
        epochs: the claim's tests at equal epochs (each regulated net against its baseline), Holm-adjusted.
        timed: the same tests at equal training time (may be empty).
        time_budget: the seconds each run had in the equal-time view.
    """
    done = [t for t in epochs if t.gain is not None]
    if not done:
        return ("This run cannot answer whether the regulator helps: no regulated net finished beside its baseline "
                "(see the runs' messages).")
    m = len(done)
    mean_gain = sum(t.gain for t in done) / m  # type: ignore[misc]
    better, sig_better, sig_worse = _count(done)
    if max(t.n_pairs for t in done) < 2:
        seed = done[0].seeds[0] if done[0].seeds else "?"
        return (f"We cannot tell whether the regulator helps here: with one seed there is no seed-to-seed spread to "
                f"test a difference against (on seed {seed}, {better} of {m} regulated nets had a lower test error "
                f"than their baseline at equal epochs, mean gain {mean_gain:+.2f} points).")
    n = max(t.n_pairs for t in done)
    if better == m and sig_better >= math.ceil(m / 2) and sig_worse == 0:
        head = "The claim held here"
    elif sig_better == 0 and (sig_worse > 0 or better <= m / 2):
        head = "The claim did not hold here"
    elif sig_better == 0:
        head = "The claim is not confirmed here"
    else:
        head = "The claim held only in part here"
    hw = _half_width(done)
    sure = f"Holm-corrected paired t-tests over {n} seeds" + (
        f", 95 % intervals of the gains about ±{hw:.2f} points" if hw is not None else "")
    text = (f"{head}: at equal epochs {better} of {m} regulated nets had a lower test error than their baseline "
            f"(mean gain {mean_gain:+.2f} points), {_significantly(sig_better)}"
            + (f" and {sig_worse} significantly worse" if sig_worse else "") + f" ({sure})")
    timed_done = [t for t in timed if t.gain is not None and t.n_pairs >= 2]
    if timed_done:
        tb, ts, tw = _count(timed_done)
        budget = f" ({time_budget:.0f} s of training each)" if time_budget is not None else ""
        text += (f"; at equal training time{budget} {tb} of {len(timed_done)} did, {_significantly(ts)}"
                 + (f", {tw} significantly worse" if tw else ""))
    return text + "."


def position_sentence(gains: Mapping[int, PairTest], low_vs_high: PairTest | None) -> str:
    """One sentence on "the regulator helps most in the lower layers".

    Args:
        gains: 0-based stage -> the test of the regulator in that stage alone against the plain ResNet.
        low_vs_high: the lowest stage's net against the highest stage's (a positive gain: the lowest has fewer
            errors).
    """
    done = {s: t for s, t in gains.items() if t.gain is not None}
    if not done:
        return "The position ablation did not finish: no stage can be compared."
    best = max(done, key=lambda s: done[s].gain)  # type: ignore[arg-type,return-value]
    each = ", ".join(f"stage {s + 1} {done[s].gain:+.2f}" for s in sorted(done))
    lowest = min(done)
    if max(t.n_pairs for t in done.values()) < 2:
        return (f"With one seed we cannot tell where the regulator helps most (gains against the plain ResNet on "
                f"that seed, in points of error: {each}).")
    if best != lowest:
        return (f"\"Lower layers help most\" does not hold here: the regulator alone gained most in stage {best + 1} "
                f"(gains against the plain ResNet, in points of error: {each}).")
    p = low_vs_high.p if low_vs_high is not None else None
    sig = low_vs_high is not None and p is not None and p < ALPHA and (low_vs_high.gain or 0.0) > 0
    test = f"stage {lowest + 1} against stage {max(done) + 1}: p = {p:.3f}" if p is not None else "no test"
    if sig:
        return (f"\"Lower layers help most\" holds here: the regulator gained most in stage {lowest + 1} and "
                f"significantly more than in stage {max(done) + 1} (gains in points of error: {each}; {test}).")
    return (f"\"Lower layers help most\" points the right way here but is not established: stage {lowest + 1} "
            f"gained most, not significantly more than stage {max(done) + 1} (gains in points of error: {each}; "
            f"{test}).")
