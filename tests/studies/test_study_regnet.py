"""regnet: the quick tier end to end (Table III rows beside the paper's, paired tests, ablation, probes, figures, the
answer, resume), and the statistics and sentences on hand-made numbers."""

from __future__ import annotations

import json
import math
import shutil

import matplotlib.image as mpimg
import pytest
from scipy import stats

from visionbench.studies._runner import run_study
from visionbench.studies.regnet._tiers import DEFAULT, FULL, QUICK, choose_tier
from visionbench.studies.regnet._verdict import PairTest, claim_sentence, holm, pair_test, position_sentence, reading
from visionbench.train.budget import plan_budget

PARTS = ["epochs", "time", "ablation", "probe", "efficiency", "answer"]
FIGURES = ["error-vs-cost.png", "fairness-views.png", "probe.png"]
# Exact parameter counts (10 classes, 1 channel): a wrong block, cell or shortcut changes them.
PARAMS = {"resnet20": 269_434, "regnet20_convlstm": 690_554, "stage1": 289_658, "stage2": 349_818,
          "stage3": 589_946}


def _strict_json(path):
    def no_constant(name):
        raise AssertionError(f"{path} holds {name}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constant)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = run_study("regnet", quick=True, out=tmp_path_factory.mktemp("study")).out_dir
    summary = _strict_json(out / "summary.json")
    rows: dict[tuple[str, str], dict] = {(r["key"], r["reference_dataset"]): r for r in summary["rows"]}
    return out, summary, rows


def _part(out, name):
    return _strict_json(out / "parts" / f"{name}.json")


def _table(part, title):
    return next(t for t in part["tables"] if t["title"].startswith(title))


def test_layout_parts_and_comparisons(quick):
    out, summary, _ = quick
    assert summary["status"] == "completed" and summary["quick"] is True
    assert [p["name"] for p in summary["parts"]] == PARTS
    for name, n_runs in (("table3-epochs", 2), ("table3-time", 2), ("ablation-stage1", 1), ("ablation-stage2", 1),
                         ("ablation-stage3", 1)):
        assert (out / name / "plan.json").is_file(), name
        assert len(list((out / name / "runs").iterdir())) == n_runs, name
    plan = json.loads((out / "ablation-stage2" / "plan.json").read_text())
    assert plan["train_overrides"]["model_kwargs"] == {"regulated_stages": [1]} and plan["epochs"] == 3


def test_table3_rows_beside_the_paper(quick):
    _, _, rows = quick
    for model, (c10, c100) in (("resnet20", (8.38, 31.72)), ("regnet20_convlstm", (7.28, 29.81))):
        for data, ref in (("CIFAR-10", c10), ("CIFAR-100", c100)):
            row = rows[(f"{model}_error", data)]
            assert row["reference"] == ref and row["unit"] == "%" and row["source"] == "Table III"
            assert row["n"] == 1 and set(row["per_seed"]) == {"0"} and row["dataset"] == "digits"
            # Chance is 90 % error on ten digits; both nets must be far below it even after 3 epochs.
            assert 0.0 <= row["ours"] < 25.0, model
    gain = rows[("regnet20_convlstm_gain", "CIFAR-10")]
    assert gain["reference"] == pytest.approx(1.10) and rows[("regnet20_convlstm_gain", "CIFAR-100")]["reference"] == (
        pytest.approx(1.91))
    assert gain["ours"] == pytest.approx(rows[("resnet20_error", "CIFAR-10")]["ours"]
                                         - rows[("regnet20_convlstm_error", "CIFAR-10")]["ours"])
    # Models not in the quick tier keep their reference row, unmeasured.
    assert rows[("seregnet20_convlstm_error", "CIFAR-10")]["ours"] is None
    for model in ("resnet20", "regnet20_convlstm"):
        assert rows[(f"{model}_params", "")]["ours"] == PARAMS[model]
        assert 0.0 <= rows[(f"{model}_top5_error", "")]["ours"] <= rows[(f"{model}_error", "CIFAR-10")]["ours"]
    assert rows[("regnet20_convlstm_mflops", "")]["ours"] > 4 * rows[("resnet20_mflops", "")]["ours"] > 0


def test_tables_and_paired_test_rows(quick):
    out, _, _ = quick
    epochs = _part(out, "epochs")
    table = _table(epochs, "Table III re-run")
    assert [r[0] for r in table["rows"]] == ["ResNet-20", "RegNet-20 (ConvLSTM)"]
    assert table["rows"][0][1:3] == [8.38, 31.72] and all(r[-1] == 1 for r in table["rows"])
    for name, title in (("epochs", "Paired tests at equal epochs"), ("time", "Paired tests at equal training time")):
        tests = _table(_part(out, name), title)["rows"]
        assert [r[:4] for r in tests] == [["RegNet-20 (ConvLSTM)", "ResNet-20", "the claim", 1]], name
        assert tests[0][-1] == "cannot tell (one seed)" and tests[0][7] is None and math.isfinite(tests[0][4])
    timed = _part(out, "time")
    assert timed["data"]["time_budget"] >= QUICK.min_time_budget
    for row in _table(timed, "Equal training time")["rows"]:
        assert row[4] >= 1 and row[1] is not None and 0 <= row[1] <= 100


def test_ablation_rows(quick):
    out, _, rows = quick
    table = _table(_part(out, "ablation"), "Where the ConvLSTM regulator sits")
    assert [r[0] for r in table["rows"]] == ["stage 1 only", "stage 2 only", "stage 3 only", "all stages",
                                             "none (ResNet-20)"]
    params = [r[6] for r in table["rows"]]
    assert params == [round(PARAMS[k] / 1e6, 3) for k in ("stage1", "stage2", "stage3", "regnet20_convlstm",
                                                           "resnet20")]
    for stage in (1, 2, 3):
        assert rows[(f"ablation_stage{stage}_params", "")]["ours"] == PARAMS[f"stage{stage}"]
        assert 0.0 <= rows[(f"ablation_stage{stage}_error", "")]["ours"] < 25.0
        assert math.isfinite(rows[(f"ablation_stage{stage}_gain", "")]["ours"])
    assert table["caption"].startswith("With one seed we cannot tell where the regulator helps most")


def test_probe_rows_beside_fig1b(quick):
    out, _, rows = quick
    for model, paper in (("resnet20", (55.6, 67.9, 91.6)), ("regnet20_convlstm", (60.2, 71.7, 92.7))):
        for block, ref in zip((7, 8, 9), paper):
            row = rows[(f"probe_block{block}_{model}", "CIFAR (set not restated)")]
            assert row["reference"] == ref and row["source"] == "Fig. 1(b)"
            # Ten digit classes: a probe on a trained net's last stage is far above chance (10 %).
            assert 70.0 <= row["ours"] <= 100.0, (model, block)
    assert len(_table(_part(out, "probe"), "Fig. 1(b)")["rows"]) == 3


def test_figures_decode_and_report(quick):
    out, _, _ = quick
    assert sorted(p.name for p in (out / "figures").glob("*.png")) == sorted(FIGURES)
    for name in FIGURES:
        img = mpimg.imread(out / "figures" / name)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 400 and img.std() > 0.01, name
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(FIGURES)
    assert "<script" not in page


def test_answer_says_it_cannot_tell(quick):
    out, _, _ = quick
    answer = _part(out, "answer")["data"]
    assert answer["answer"].startswith("We cannot tell whether the regulator helps here: with one seed")
    assert answer["position"].startswith("With one seed we cannot tell")
    assert answer["answer"] in (out / "report.md").read_text(encoding="utf-8")


def test_resume_redoes_no_finished_run(quick, tmp_path):
    out, summary, _ = quick
    copy = tmp_path / out.name
    shutil.copytree(out, copy)
    for name in ("time", "ablation", "efficiency", "answer"):
        (copy / "parts" / f"{name}.json").unlink()
    runs_before = sorted(p.relative_to(copy) for p in copy.glob("*/runs/*"))
    again = run_study("regnet", resume=copy)
    assert sorted(p.relative_to(copy) for p in copy.glob("*/runs/*")) == runs_before
    rows = {(r["key"], r["reference_dataset"]): r["ours"] for r in again.summary["rows"]}
    assert rows == {(r["key"], r["reference_dataset"]): r["ours"] for r in summary["rows"]}


def test_tiers_follow_quick_and_dataset():
    assert choose_tier(True, False, None) == (QUICK, "digits")
    assert choose_tier(True, False, "fashion-mnist") == (QUICK, "fashion-mnist")
    assert choose_tier(False, False, None) == (DEFAULT, "fashion-mnist")
    assert choose_tier(False, False, "cifar10") == (DEFAULT, "cifar10")  # the 2-hour budget on a CIFAR subset
    assert choose_tier(False, True, None) == (FULL, "cifar10")
    assert choose_tier(False, True, "cifar100") == (FULL, "cifar100")
    # The protocols state the budgets the pipeline plans: 4,500 training images x 4 epochs; 64,000 steps on 45,000.
    default = plan_budget(4500, 128, epochs=DEFAULT.epochs, recipe_steps=1, min_epochs=1, max_epochs=None,
                          warmup_steps=0)
    assert f"({default.steps} steps of 128)" in DEFAULT.protocol
    full = plan_budget(45000, 128, steps=FULL.steps, recipe_steps=1, min_epochs=1, max_epochs=None, warmup_steps=0)
    assert f"about {full.epochs} epochs" in FULL.protocol and len(DEFAULT.models) == 10


def _errors(**by_model):
    return {m: {str(s): e for s, e in enumerate(v)} for m, v in by_model.items()}


def test_pair_test_is_scipys_paired_t_test():
    errs = _errors(base=[10.0, 12.0, 11.0, 13.0], reg=[9.0, 11.5, 9.0, 12.0])
    t = pair_test("reg", "base", "the claim", errs)
    ref = stats.ttest_rel([10.0, 12.0, 11.0, 13.0], [9.0, 11.5, 9.0, 12.0])
    assert t.n_pairs == 4 and t.gain == pytest.approx(1.125)
    assert t.t == pytest.approx(ref.statistic) and t.p == pytest.approx(ref.pvalue)
    assert t.ci_low < t.gain < t.ci_high
    one = pair_test("reg", "base", "x", _errors(base=[10.0], reg=[9.0]))
    assert (one.n_pairs, one.gain, one.p) == (1, 1.0, None) and reading(one) == "cannot tell (one seed)"
    assert pair_test("reg", "nothing", "x", errs).gain is None


def test_holm_adjusts_step_down():
    tests = [PairTest(m, "b", "x", 3, ("0", "1", "2"), 1.0, p=p) for m, p in (("a", 0.01), ("b", 0.04), ("c", 0.03))]
    tests.append(PairTest("d", "b", "x", 1, ("0",), 1.0))
    assert [t.p_holm for t in holm(tests)] == [pytest.approx(0.03), pytest.approx(0.06), pytest.approx(0.06), None]


def _t(gain, p, n=3):
    return PairTest("m", "b", "the claim", n, tuple(str(i) for i in range(n)), gain, gain - 0.5, gain + 0.5,
                    1.0, p, p)


def test_claim_sentence_follows_the_tests():
    held = claim_sentence([_t(1.0, 0.01), _t(0.8, 0.02), _t(0.3, 0.3)], [_t(-0.5, 0.01)], 42.0)
    assert held.startswith("The claim held here: at equal epochs 3 of 3") and "2 significantly" in held
    assert "over 3 seeds" in held and "±0.50 points" in held and "(42 s of training each) 0 of 1 did" in held
    assert held.count(".") >= 1 and held.endswith(".")
    assert claim_sentence([_t(-1.0, 0.01), _t(0.2, 0.5)]).startswith("The claim did not hold here")
    assert claim_sentence([_t(0.4, 0.2), _t(0.3, 0.3)]).startswith("The claim is not confirmed here")
    assert claim_sentence([_t(1.0, 0.01), _t(-0.2, 0.6), _t(0.1, 0.7)]).startswith("The claim held only in part")
    single = claim_sentence([_t(0.5, None, n=1)])
    assert single.startswith("We cannot tell") and "1 of 1" in single


def test_position_sentence_follows_the_ablation():
    gains = {0: _t(1.2, 0.01), 1: _t(0.4, 0.2), 2: _t(0.1, 0.8)}
    assert position_sentence(gains, _t(1.1, 0.01)).startswith('"Lower layers help most" holds here')
    assert position_sentence(gains, _t(1.1, 0.2)).startswith('"Lower layers help most" points the right way')
    flipped = {0: _t(0.1, 0.8), 1: _t(0.4, 0.2), 2: _t(1.2, 0.01)}
    text = position_sentence(flipped, _t(-1.1, 0.01))
    assert text.startswith('"Lower layers help most" does not hold here') and "stage 3" in text
    assert position_sentence({0: _t(1.0, None, n=1)}, None).startswith("With one seed")
