"""The regnet study's parts: Table III at equal epochs, equal training time, the position ablation, the Fig. 1(b)
probes, the efficiency figures and the answer. Each part trains through :func:`run_view` (resumable run by run) or
reads the parts before it (``study.data_of``), records values beside the paper's and its tables and figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from visionbench.report.stats import mean_std_ci
from visionbench.studies._study import Part
from visionbench.studies.regnet._figures import Point, efficiency_figure, probe_figure, views_figure
from visionbench.studies.regnet._paper import (
    ABLATION_MODEL,
    BASELINE,
    CLAIM,
    EXTRA_PAIRS,
    FIG1B,
    LABELS,
    PROBE_MODELS,
    TABLE3,
)
from visionbench.studies.regnet._verdict import (
    PairTest,
    claim_sentence,
    holm,
    pair_test,
    position_sentence,
    reading,
)
from visionbench.studies.regnet._views import Context, errors_of, mean_of, run_view

__all__ = ["epochs_part", "time_part", "ablation_part", "probe_part", "efficiency_part", "answer_part"]

TEST_COLUMNS = ["Model", "Against", "Question", "Seeds paired", "Gain (points)", "95 % CI", "t", "p",
                "p (Holm)", "Reading"]


def _r(value: float | None, digits: int = 2) -> float | int | None:
    """Rounded for a table (an int at 0 digits), None kept."""
    if value is None:
        return None
    return int(round(float(value))) if digits == 0 else round(float(value), digits)


def _label(key: str) -> str:
    """A model's readable name; ``stageN`` (the ablation's nets) and ``all`` too."""
    if key.startswith("stage"):
        return f"Regulator in stage {key[5:]} only"
    return "Regulator in all stages" if key == "all" else LABELS.get(key, key)


def _ci(low: float | None, high: float | None, signed: bool = False) -> str | None:
    """``[15.90, 22.14]`` (an error's interval), or ``[-0.66, +4.23]`` with ``signed`` (a gain's)."""
    if low is None or high is None:
        return None
    return f"[{low:+.2f}, {high:+.2f}]" if signed else f"[{low:.2f}, {high:.2f}]"


def _stats(errors: Mapping[str, float]) -> dict[str, Any]:
    return mean_std_ci(list(errors.values()), bounds=(0.0, 100.0))  # an error rate's interval stays in [0, 100] %


def _claim_tests(errs: Mapping[str, Mapping[str, float]], models: Sequence[str]) -> list[PairTest]:
    """Each regulated net against its baseline, Holm-adjusted as one family."""
    return holm([pair_test(m, BASELINE[m], CLAIM, errs) for m in models if m in BASELINE and BASELINE[m] in models])


def _test_rows(tests: Sequence[PairTest]) -> list[list[Any]]:
    return [[_label(t.model), _label(t.against), t.why, t.n_pairs, _r(t.gain),
             _ci(t.ci_low, t.ci_high, signed=True), _r(t.t), _r(t.p, 4), _r(t.p_holm, 4), reading(t)] for t in tests]


def _record_errors(p: Part, ctx: Context, facts: dict[str, Any], suffix: str, what: str) -> None:
    for model, entry in facts["models"].items():
        for seed, v in entry["seeds"].items():
            p.value(f"{model}_error{suffix}", v["error"], unit="%", dataset=ctx.data_label, seed=int(seed),
                    label=f"{_label(model)}: test error, {what}")


def _record_gains(p: Part, ctx: Context, tests: Sequence[PairTest], errs: Mapping[str, Mapping[str, float]],
                  key: str, what: str) -> None:
    for t in tests:
        for seed in t.seeds:
            p.value(key.format(model=t.model), errs[t.against][seed] - errs[t.model][seed], unit="points",
                    dataset=ctx.data_label, seed=int(seed),
                    label=f"{_label(t.model)}: error below {_label(t.against)}, {what}")


def _paired_tests(p: Part, ctx: Context, errs: Mapping[str, Mapping[str, float]], view: str, suffix: str,
                  caption: str) -> list[dict[str, Any]]:
    """The claim's tests (recorded per seed as ``<model>_gain<suffix>``) and the context pairs, as a table; returns
    them as dicts for the part's data."""
    tests = _claim_tests(errs, ctx.tier.models)
    _record_gains(p, ctx, tests, errs, "{model}_gain" + suffix, view)
    extra = [pair_test(m, a, why, errs) for m, a, why in EXTRA_PAIRS if m in errs and a in errs]
    p.table(f"Paired tests at {view}", TEST_COLUMNS, _test_rows(tests + extra), caption=caption)
    return [t.as_dict() for t in tests + extra]


def _failed_notes(p: Part, facts: dict[str, Any]) -> None:
    for text in facts["failed"]:
        p.note(f"Not completed, left out of the means and tests: {text} (see its run directory).")


def epochs_part(p: Part, ctx: Context) -> None:
    """Table III re-run: the ten models at the tier's equal-epochs budget, over the seeds."""
    facts = run_view(ctx, "table3-epochs", ctx.tier.models)
    errs = errors_of(facts)
    _record_errors(p, ctx, facts, "", "equal epochs")
    rows = []
    for model in ctx.tier.models:
        entry = facts["models"].get(model)
        if entry is None:
            continue
        for seed, v in entry["seeds"].items():
            p.value(f"{model}_top5_error", v["top5_error"], unit="%", dataset=ctx.data_label, seed=int(seed),
                    label=f"{LABELS[model]}: top-5 error, equal epochs")
        p.value(f"{model}_params", entry["params"], unit="parameters", dataset=ctx.data_label,
                label=f"{LABELS[model]}: parameters")
        p.value(f"{model}_mflops", entry["mflops"], unit="MFLOPs", dataset=ctx.data_label,
                label=f"{LABELS[model]}: forward MFLOPs per image")
        st = _stats(errs.get(model, {}))
        paper = TABLE3.get(model, (None, None))
        rows.append([LABELS[model], paper[0], paper[1], _r(st["mean"]), _r(st["std"]), _ci(st["ci_low"], st["ci_high"]),
                     _r(mean_of(facts, model, "top5_error")), _r(entry["params"] / 1e6, 3), _r(entry["mflops"], 1),
                     _r(mean_of(facts, model, "train_seconds"), 1), _r(mean_of(facts, model, "images_per_second"), 0),
                     st["n"]])
    p.table("Table III re-run at equal epochs",
            ["Model", "Paper CIFAR-10 (%)", "Paper CIFAR-100 (%)", "Error (%)", "± std", "95 % CI", "Top-5 error (%)",
             "Params (M)", "MFLOPs", "Train s", "Images/s", "Seeds"], rows,
            caption=f"Test error on {ctx.data_label}, {ctx.tier.budget_words()} per run, mean ± sample std over "
                    f"seeds and the 95 % Student-t interval of the mean; the paper's single runs on CIFAR beside. "
                    f"FLOPs are 2 x multiply-adds of one forward pass; images/s counts training images seen per "
                    f"second of training.")
    tests = _paired_tests(p, ctx, errs, "equal epochs", "",
                          "Gain = the baseline's error minus the model's, per shared seed (positive: the model makes "
                          "fewer errors); scipy's paired t-test over those seeds. Holm's correction covers the claim's "
                          "tests together; the depth rows are context and uncorrected.")
    p.data.update(facts, tests=tests)
    _failed_notes(p, facts)
    p.note(ctx.tier.protocol)


def _time_budget(first: dict[str, Any], floor: float) -> float:
    """The equal-time budget: what ResNet-20 took at equal epochs (the fastest model's time without it)."""
    ref = mean_of(first, "resnet20", "train_seconds")
    if ref is None:
        times = [t for m in first["models"] if (t := mean_of(first, m, "train_seconds")) is not None]
        ref = min(times) if times else floor
    return max(floor, round(ref, 1))


def time_part(p: Part, ctx: Context) -> None:
    """The same models, each trained for the same number of seconds."""
    first = ctx.study.data_of("epochs")
    budget = _time_budget(first, ctx.tier.min_time_budget)
    facts = run_view(ctx, "table3-time", ctx.tier.models, time_budget=budget)
    errs = errors_of(facts)
    _record_errors(p, ctx, facts, "_time", f"equal time ({budget:g} s)")
    rows = []
    for model in ctx.tier.models:
        if model not in facts["models"]:
            continue
        st = _stats(errs.get(model, {}))
        at_epochs = mean_of(first, model, "error")
        rows.append([LABELS[model], _r(st["mean"]), _r(st["std"]), _ci(st["ci_low"], st["ci_high"]),
                     _r(mean_of(facts, model, "steps"), 0), _r(mean_of(facts, model, "passes")), _r(at_epochs),
                     None if at_epochs is None or st["mean"] is None else _r(st["mean"] - at_epochs)])
    p.table(f"Equal training time: {budget:g} s per run",
            ["Model", "Error (%)", "± std", "95 % CI", "Steps", "Passes", "Error at equal epochs (%)", "Change"],
            rows, caption=f"Every run trains for {budget:g} s (ResNet-20's training time at equal epochs); a probe "
                          f"of a few steps fixes the steps that fit before step one, so the schedule spans them. "
                          f"Passes = steps x batch / training images. The seconds depend on the machine and on what "
                          f"else runs on it.")
    tests = _paired_tests(p, ctx, errs, "equal training time", "_time",
                          "As at equal epochs: what the regulator buys per second of training rather than per epoch.")
    p.data.update(facts, tests=tests, time_budget=budget)
    _failed_notes(p, facts)


def ablation_part(p: Part, ctx: Context) -> None:
    """The ConvLSTM regulator in one stage only, for each stage, against the plain ResNet-20 and all stages."""
    first = ctx.study.data_of("epochs")
    base = errors_of(first)
    errs: dict[str, dict[str, float]] = {"resnet20": base.get("resnet20", {}), "all": base.get(ABLATION_MODEL, {})}
    costs: dict[str, tuple[Any, Any]] = {}
    for s in ctx.tier.stages:
        key = f"stage{s + 1}"
        facts = run_view(ctx, f"ablation-{key}", (ABLATION_MODEL,), model_kwargs={"regulated_stages": [s]})
        entry = facts["models"].get(ABLATION_MODEL)
        errs[key] = errors_of(facts).get(ABLATION_MODEL, {})
        costs[key] = (entry["params"], entry["mflops"]) if entry else (None, None)
        for seed, err in errs[key].items():
            p.value(f"ablation_{key}_error", err, unit="%", dataset=ctx.data_label, seed=int(seed),
                    label=f"Regulator in stage {s + 1} only: test error")
        p.value(f"ablation_{key}_params", costs[key][0], unit="parameters", dataset=ctx.data_label,
                label=f"Regulator in stage {s + 1} only: parameters")
        p.value(f"ablation_{key}_mflops", costs[key][1], unit="MFLOPs", dataset=ctx.data_label,
                label=f"Regulator in stage {s + 1} only: forward MFLOPs per image")
        p.data[key] = facts
        _failed_notes(p, facts)
    gains = {s: pair_test(f"stage{s + 1}", "resnet20", "position", errs) for s in ctx.tier.stages}
    _record_gains(p, ctx, list(gains.values()), errs, "ablation_{model}_gain", "equal epochs")
    low, high = min(ctx.tier.stages), max(ctx.tier.stages)
    low_vs_high = pair_test(f"stage{low + 1}", f"stage{high + 1}", "lower vs higher", errs)
    sentence = position_sentence(gains, low_vs_high)
    all_entry = first["models"].get(ABLATION_MODEL) or {}
    base_entry = first["models"].get("resnet20") or {}
    rows = []
    for name, key, test, (params, mflops) in [
        *[(f"stage {s + 1} only", f"stage{s + 1}", gains[s], costs[f"stage{s + 1}"]) for s in ctx.tier.stages],
        ("all stages", "all", pair_test("all", "resnet20", "position", errs),
         (all_entry.get("params"), all_entry.get("mflops"))),
        ("none (ResNet-20)", "resnet20", None, (base_entry.get("params"), base_entry.get("mflops"))),
    ]:
        st = _stats(errs.get(key, {}))
        rows.append([name, _r(st["mean"]), _r(st["std"]), _r(test.gain) if test else None,
                     _ci(test.ci_low, test.ci_high, signed=True) if test else None, _r(test.p, 4) if test else None,
                     None if params is None else _r(params / 1e6, 3), _r(mflops, 1), st["n"]])
    p.table("Where the ConvLSTM regulator sits", ["Regulator in", "Error (%)", "± std", "Gain vs ResNet-20",
                                                  "95 % CI", "p", "Params (M)", "MFLOPs", "Seeds"], rows,
            caption=sentence + " RegNet-20 (ConvLSTM) with `regulated_stages` = one stage; the other stages are "
                               "plain ResNet-20 stages. Same data, budget and seeds as Table III; gains are paired "
                               "t-tests against ResNet-20 over shared seeds (uncorrected).")
    p.data.update(errors=errs, sentence=sentence, tests=[t.as_dict() for t in [*gains.values(), low_vs_high]])


def probe_part(p: Part, ctx: Context) -> None:
    """Linear probes on blocks 7, 8 and 9 of the first seed's ResNet-20 and RegNet-20 (ConvLSTM)."""
    from visionbench.studies.regnet._probe import linear_probes

    first = ctx.study.data_of("epochs")
    seed = str(ctx.seeds[0])
    ours: dict[str, dict[int, float]] = {}
    for model in PROBE_MODELS:
        run = ((first["models"].get(model) or {}).get("seeds") or {}).get(seed)
        if run is None:
            p.note(f"Fig. 1(b) probe: no completed {LABELS[model]} run of seed {seed} to probe.")
            continue
        ours[model] = linear_probes(ctx.study.out_dir / run["run"])
        for block, acc in ours[model].items():
            p.value(f"probe_block{block}_{model}", acc, unit="%", dataset=ctx.data_label, seed=int(seed),
                    label=f"{LABELS[model]}: linear probe on block {block}")
    a, b = PROBE_MODELS
    rows = []
    for block in sorted(FIG1B[a]):
        mine = [ours.get(m, {}).get(block) for m in (a, b)]
        rows.append([f"block {block}", _r(mine[0]), FIG1B[a][block], _r(mine[1]), FIG1B[b][block],
                     None if None in mine else _r(mine[1] - mine[0]), _r(FIG1B[b][block] - FIG1B[a][block])])
    p.table("Fig. 1(b): linear probes", ["Output of", f"{LABELS[a]} (ours)", f"{LABELS[a]} (paper)",
                                         f"{LABELS[b]} (ours)", f"{LABELS[b]} (paper)", "Difference (ours)",
                                         "Difference (paper)"], rows,
            caption=f"Test accuracy (%) of a logistic regression on the average-pooled block output (standardised), "
                    f"fitted on the run's training split; seed {seed}'s best weights. Blocks are counted from 1 "
                    f"over the network (ResNet-20: three stages of three).")
    if ours:
        p.figure(probe_figure(ours, FIG1B, LABELS), "probe",
                 "Linear-probe test accuracy on the outputs of blocks 7, 8 and 9: ours (solid) and the paper's "
                 "(dashed).")
    p.data["probes"] = {m: {str(k): v for k, v in accs.items()} for m, accs in ours.items()}


def _points(ctx: Context, first: dict[str, Any], timed: dict[str, Any]) -> list[Point]:
    out = []
    for model in ctx.tier.models:
        entry = first["models"].get(model)
        if entry is None:
            continue
        e, t = _stats(errors_of(first).get(model, {})), _stats(errors_of(timed).get(model, {}))
        out.append(Point(model, LABELS[model], entry["params"], entry["mflops"], e["mean"], e["std"], t["mean"],
                         t["std"]))
    return out


def efficiency_part(p: Part, ctx: Context) -> None:
    """Error against parameters and FLOPs, the two fairness views side by side, and the costs relative to
    ResNet-20."""
    first, timed = ctx.study.data_of("epochs"), ctx.study.data_of("time")
    points = _points(ctx, first, timed)
    p.figure(efficiency_figure(points), "error-vs-cost",
             "Test error against parameters and against forward FLOPs per image at equal epochs, one point per "
             "model with ± 1 std over seeds; the dotted line joins the plain ResNets (20, 32, 56 layers).")
    p.figure(views_figure(points, timed.get("time_budget")), "fairness-views",
             "Test error per model at equal epochs (the paper's protocol) and at equal training time.")
    ref = next((q for q in points if q.model == "resnet20"), None)
    gains = {t["model"]: t for t in first.get("tests", []) if t["why"] == CLAIM}
    gains_time = {t["model"]: t for t in timed.get("tests", []) if t["why"] == CLAIM}
    ref_s = mean_of(first, "resnet20", "train_seconds")

    def ratio(x: float | None, y: float | None) -> float | None:
        return None if x is None or not y else _r(x / y)

    rows = [[q.label, ratio(q.params, ref.params if ref else None), ratio(q.mflops, ref.mflops if ref else None),
             ratio(mean_of(first, q.model, "train_seconds"), ref_s), _r(q.error), _r(q.error_time),
             _r((gains.get(q.model) or {}).get("gain")), _r((gains_time.get(q.model) or {}).get("gain"))]
            for q in points]
    p.table("Cost and gain relative to the baseline",
            ["Model", "Params x ResNet-20", "FLOPs x ResNet-20", "Train time x ResNet-20", "Error, equal epochs",
             "Error, equal time", "Gain, equal epochs", "Gain, equal time"], rows,
            caption="Gains are the baseline's error minus the model's (points; the baseline is ResNet-20 or "
                    "SE-ResNet-20), mean over shared seeds.")


def answer_part(p: Part, ctx: Context) -> None:
    """The one-sentence answers, from the paired tests of the parts before."""
    first, timed, ablation = (ctx.study.data_of(n) for n in ("epochs", "time", "ablation"))
    tests = [PairTest.from_dict(t) for t in first.get("tests", []) if t["why"] == CLAIM]
    tests_time = [PairTest.from_dict(t) for t in timed.get("tests", []) if t["why"] == CLAIM]
    answer = claim_sentence(tests, tests_time, timed.get("time_budget"))
    p.data.update(answer=answer, position=ablation.get("sentence"))
    p.table("The answer", ["Question", "Answer"], [
        ["Does a ConvRNN regulator lower the test error of ResNet-20 and SE-ResNet-20 (Table III)?", answer],
        ["Does the regulator help most in the lower layers?", ablation.get("sentence")],
    ], caption=ctx.tier.protocol)
