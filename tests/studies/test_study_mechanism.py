"""The study mechanism: directory layout, summary rows beside the references, resume by parts, interruption,
rebuilding the reports, and the CLI verbs (`study list | run | report`, bare `compare` = the main study)."""

from __future__ import annotations

import json
import re

import pytest

from visionbench.cli import main
from visionbench.errors import ConfigError, RunError
from visionbench.studies import Reference, Study, _runner, list_studies, rebuild_study_report, run_study

SUMMARY_KEYS = {"key", "ours", "reference", "unit", "source", "dataset"}


def _strict_json(path):
    def no_constant(name):
        raise AssertionError(f"{path} holds {name}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constant)


def _fake(run, references=()):
    return Study(name="fake", title="A fake study", description="for the tests.", document="doc", section="§1",
                 references=tuple(references), run=run, seconds=1.0, seconds_quick=1.0, seeds=(0, 1),
                 datasets=("digits",))


@pytest.fixture
def fake_registry(monkeypatch):
    studies = {}

    def install(study):
        studies[study.name] = study
        monkeypatch.setattr(_runner, "list_studies", lambda: [*list_studies(), *studies.values()])
        return study

    return install


def test_study_directory_layout_and_self_contained_report(tmp_path):
    result = run_study("diy-linear", quick=True, out=tmp_path, command="visionbench study run diy-linear --quick")
    out = result.out_dir
    assert out.parent == tmp_path and re.fullmatch(r"\d{8}-\d{6}-diy-linear", out.name)
    for name in ("study.json", "summary.json", "report.html", "report.md", "parts/seed0.json"):
        assert (out / name).is_file(), name
    figures = sorted((out / "figures").glob("*.png"))
    assert figures and all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    summary = _strict_json(out / "summary.json")
    assert summary["status"] == "completed" and summary["seeds"] == [0, 1, 2]
    assert all(SUMMARY_KEYS <= set(row) for row in summary["rows"])
    acc = {r["key"]: r for r in summary["rows"]}["test_accuracy"]
    assert acc["n"] == 3 and set(acc["per_seed"]) == {"0", "1", "2"}
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(figures)
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "visionbench study run diy-linear --quick" in page
    md = (out / "report.md").read_text(encoding="utf-8")
    assert all(f"](figures/{f.name})" in md for f in figures)
    # never overwritten: the same study again gets a new folder
    again = run_study("diy-linear", quick=True, seeds=[0], out=tmp_path)
    assert again.out_dir != out and (out / "parts/seed2.json").is_file()


def test_values_join_references_and_divergence_is_never_nan(tmp_path, fake_registry):
    def run(study):
        for seed in study.seeds:
            def part(p, seed=seed):
                p.value("acc", 0.5 + 0.1 * seed, unit="accuracy", dataset="digits", seed=seed)
                p.value("lr_big", float("nan") if seed else float("inf"), unit="accuracy", dataset="digits",
                        seed=seed)
                p.value("extra", 3, unit="s", dataset="digits", seed=seed)
                p.table("t", ["a", "b"], [[1, float("nan")], ["x", None]])
                p.table("u", ["a"], [[None]], caption="n/a: this setting has no such thing.")
                p.table("v", ["a"], [[1]], caption="Complete.")
                p.note("different data")
            study.part(f"seed{seed}", part)

    fake_registry(_fake(run, [Reference("acc", 0.7, "accuracy", "Table 1", "USPS"),
                              Reference("lr_big", 0.5, "accuracy", "Table 2", "USPS"),
                              Reference("missing", 1.0, "R2", "§2", "USPS")]))
    out = run_study("fake", out=tmp_path).out_dir
    rows = {r["key"]: r for r in _strict_json(out / "summary.json")["rows"]}
    assert rows["acc"]["ours"] == pytest.approx(0.55) and rows["acc"]["reference"] == 0.7
    assert rows["acc"]["difference"] == pytest.approx(-0.15) and rows["acc"]["std"] == pytest.approx(0.0707, 1e-3)
    assert rows["lr_big"]["ours"] is None and rows["lr_big"]["n_missing"] == 2
    assert rows["missing"]["ours"] is None and rows["missing"]["reference"] == 1.0
    assert rows["extra"]["reference"] is None
    page = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", (out / "report.html").read_text(encoding="utf-8"))
    assert "n/a (diverged)" in page and "not measured" in page and "NaN" not in page and "nan" not in page.lower()
    assert "different data" in page
    md = (out / "report.md").read_text(encoding="utf-8")
    # an empty cell is explained under its table once: by the table's own caption, or by the general sentence
    from visionbench.studies._runner import NA_CAPTION

    assert md.count(NA_CAPTION) == 2  # table t of each seed's part; u explains its own n/a, v has none
    assert "*Complete.*" in md and "n/a: this setting has no such thing.*" in md


def test_resume_redoes_only_unfinished_parts(tmp_path, fake_registry):
    calls, crash = [], {"b": True}

    def run(study):
        for name in ("a", "b", "c"):
            def part(p, name=name):
                calls.append(name)
                if crash.pop(name, False):
                    raise KeyboardInterrupt  # Ctrl-C in the middle of part b
                p.value(name, 1.0)
            study.part(name, part)

    fake_registry(_fake(run))
    with pytest.raises(KeyboardInterrupt, match="--resume"):
        run_study("fake", out=tmp_path)
    out = next(tmp_path.iterdir())
    assert _strict_json(out / "study.json")["status"] == "interrupted"
    assert calls == ["a", "b"] and not (out / "parts" / "b.json").exists()
    seen = []
    result = run_study("fake", resume=out, on_part=lambda name, done: seen.append((name, done)))
    assert seen == [("a", True), ("b", False), ("c", False)] and calls == ["a", "b", "b", "c"]
    assert result.out_dir == out and _strict_json(out / "study.json")["status"] == "completed"
    with pytest.raises(ConfigError, match="holds study 'fake'"):
        run_study("diy-linear", resume=out)


def test_report_rebuilds_in_place_and_bad_folders_are_one_line(tmp_path):
    out = run_study("diy-linear", quick=True, seeds=[0], out=tmp_path).out_dir
    (out / "report.html").unlink()
    (out / "summary.json").write_text("{}")
    summary = rebuild_study_report(out)
    assert (out / "report.html").is_file() and _strict_json(out / "summary.json")["rows"] == summary["rows"]
    with pytest.raises(RunError, match="not a study directory"):
        rebuild_study_report(tmp_path)
    (out / "parts" / "seed0.json").write_text("{broken")
    with pytest.raises(RunError, match="seed0.json: unreadable"):
        rebuild_study_report(out)


def test_options_are_checked_before_any_folder_is_made(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        run_study("nope", out=tmp_path)
    with pytest.raises(ConfigError, match="drop --dataset"):
        run_study("diy-linear", dataset="usps", out=tmp_path)
    with pytest.raises(ConfigError, match="named twice"):
        run_study("diy-linear", seeds=[1, 1], out=tmp_path)
    assert not any(tmp_path.iterdir())


def test_main_study_quick_is_a_comparison_with_its_report(tmp_path):
    result = run_study("main", quick=True, out=tmp_path)
    out = result.out_dir
    for name in ("comparison/comparison.html", "comparison/comparison.md", "comparison/plan.json", "report.html"):
        assert (out / name).is_file(), name
    assert len(list((out / "comparison" / "runs").iterdir())) == 2
    keys = {r["key"] for r in result.summary["rows"]}
    assert keys == {"mlp_small_test_accuracy", "scratch_linear_test_accuracy"}
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 4


def test_cli_study_verbs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["study", "list"]) == 0
    listed = capsys.readouterr().out
    assert "diy-linear" in listed and "main" in listed
    assert main(["study", "run", "diy-linear", "--quick", "--seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out
    folder = next((tmp_path / "studies").iterdir())
    assert main(["study", "report", str(folder)]) == 0
    assert main(["study", "run", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: study 'nope' does not exist") and "\n" not in err


def test_bare_compare_runs_the_main_study(tmp_path, monkeypatch, capsys):
    import visionbench.studies as studies

    seen = {}

    def fake_run(name, **kw):
        seen.update(kw, name=name)
        raise ConfigError("stop here")

    monkeypatch.setattr(studies, "run_study", fake_run)
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--seeds", "0,1"]) == 2
    assert seen["name"] == "main" and seen["seeds"] == [0, 1] and seen["out"] == "studies"
    seen.clear()
    main(["compare", "--models", "mlp", "--dataset", "nope-data"])
    assert not seen  # with models or data, compare is an ordinary comparison


def test_quick_seeds_and_the_answer_at_the_top(tmp_path, fake_registry):
    import dataclasses

    def run(study):
        def part(p):
            p.value("x", 1.0, unit="u", dataset="digits", seed=study.seeds[0])
            p.data["answer"] = "The claim held here (fake)."
        study.part("only", part)

    study = fake_registry(dataclasses.replace(_fake(run), seeds_quick=(7,)))
    quick = run_study(study.name, quick=True, out=tmp_path)
    summary = _strict_json(quick.out_dir / "summary.json")
    assert summary["seeds"] == [7] and summary["answer"] == "The claim held here (fake)."
    page = (quick.out_dir / "report.md").read_text(encoding="utf-8")
    assert page.index("The claim held here (fake).") < page.index("Our numbers beside")
    full = run_study(study.name, out=tmp_path)
    assert _strict_json(full.out_dir / "summary.json")["seeds"] == [0, 1]
    assert run_study(study.name, quick=True, seeds=[3], out=tmp_path).summary["seeds"] == [3]


def test_weights_reach_a_study_that_takes_them_and_survive_resume(tmp_path, fake_registry, capsys):
    import dataclasses

    seen = []

    def run(study):
        seen.append(study.weights)
        study.part("only", lambda p: p.value("x", 1.0, unit="u", dataset="digits", seed=0))

    study = fake_registry(dataclasses.replace(_fake(run), weights="a file of weights"))
    first = run_study(study.name, quick=True, out=tmp_path, weights="w.pt")
    assert _strict_json(first.out_dir / "study.json")["weights"] == "w.pt"
    run_study(study.name, resume=first.out_dir)
    assert seen == ["w.pt", "w.pt"]
    with pytest.raises(ConfigError, match="--weights: study diy-linear trains no model from given weights"):
        run_study("diy-linear", quick=True, out=tmp_path, weights="imagenet")
    assert main(["study", "run", "diy-linear", "--quick", "--weights", "imagenet", "--out", str(tmp_path)]) == 2
    assert "drop --weights" in capsys.readouterr().err


def test_full_reaches_a_study_that_has_a_longer_tier_and_survives_resume(tmp_path, fake_registry, capsys):
    import dataclasses

    seen = []

    def run(study):
        seen.append((study.quick, study.full))
        study.part("only", lambda p: p.value("x", 1.0, unit="u", dataset="digits", seed=0))

    study = fake_registry(dataclasses.replace(_fake(run), full="a longer budget"))
    first = run_study(study.name, full=True, out=tmp_path)
    assert _strict_json(first.out_dir / "study.json")["full"] is True
    run_study(study.name, resume=first.out_dir)
    run_study(study.name, out=tmp_path)
    assert seen == [(False, True), (False, True), (False, False)]
    with pytest.raises(ConfigError, match="--full and --quick: pick one"):
        run_study(study.name, full=True, quick=True, out=tmp_path)
    with pytest.raises(ConfigError, match="--full: study diy-linear has no longer tier"):
        run_study("diy-linear", full=True, out=tmp_path)
    assert main(["study", "run", "diy-linear", "--full", "--out", str(tmp_path)]) == 2
    assert "drop --full" in capsys.readouterr().err
    assert main(["study", "list"]) == 0
    assert "--full:" in capsys.readouterr().out  # regnet says what its --full runs
