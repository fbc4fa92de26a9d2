"""rebuild_report: the report of a comparison directory rewritten in place from the runs it remembers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from report_fakes import write_fake_run

from visionbench.errors import ConfigError, RunError
from visionbench.report import SOURCES_FILE, build_comparison_report, rebuild_report
from visionbench.runs import write_json


def _set_accuracy(run: Path, acc: float) -> None:
    res = json.loads((run / "results.json").read_text())
    res["test_accuracy"] = acc
    write_json(run / "results.json", res)


def test_comparison_of_existing_runs_remembers_its_sources(tmp_path: Path) -> None:
    runs = [write_fake_run(tmp_path / "runs", "cnn", s, a) for s, a in ((1, 0.9), (2, 0.92))]
    out = tmp_path / "comparisons" / "mine"
    report = build_comparison_report(runs, out, title="Mine")
    sources = json.loads((out / SOURCES_FILE).read_text())
    assert sources == {"title": "Mine", "allow_mixed": False, "runs": [str(r.resolve()) for r in runs]}
    assert all(os.path.isabs(p) for p in sources["runs"])
    assert report["files"][SOURCES_FILE] == out / SOURCES_FILE

    _set_accuracy(runs[1], 0.96)
    before = sorted(p.name for p in (tmp_path / "comparisons").iterdir())
    again = rebuild_report(out)
    assert sorted(p.name for p in (tmp_path / "comparisons").iterdir()) == before  # in place, no new folder
    assert again["summary"][0]["test_accuracy_mean"] == pytest.approx(0.93)
    md = (out / "comparison.md").read_text()
    assert md.startswith("# Mine") and "93.00 ± 4.24" in md


def test_rebuild_line_names_the_comparison_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = write_fake_run(tmp_path / "runs", "cnn", 1, 0.9)
    build_comparison_report([run], tmp_path / "cmp dir")
    md = (tmp_path / "cmp dir" / "comparison.md").read_text()
    assert "```sh\nvisionbench report 'cmp dir'\n```" in md
    assert "visionbench compare runs" not in md


def test_training_comparison_rescans_its_runs_folder(tmp_path: Path) -> None:
    """A comparison made by training (runs/ under it) picks up runs added since, e.g. by --resume."""
    out = tmp_path / "cmp"
    write_json(out / "plan.json", {"dataset": "toy", "models": ["cnn", "mlp"], "seeds": [1]})
    write_fake_run(out / "runs", "cnn", 1, 0.9)
    first = build_comparison_report([out / "runs"], out, title="toy: cnn, mlp")
    assert len(first["summary"]) == 1
    (out / SOURCES_FILE).unlink()  # a directory made before sources.json existed: the title comes from plan.json
    write_fake_run(out / "runs", "mlp", 1, 0.8)
    again = rebuild_report(out)
    assert [a["model"] for a in again["summary"]] == ["cnn", "mlp"]
    assert again["markdown"].startswith("# toy: cnn, mlp")


def test_allow_mixed_is_remembered_and_can_be_overridden(tmp_path: Path) -> None:
    runs = [write_fake_run(tmp_path / "runs", "cnn", 1, 0.9),
            write_fake_run(tmp_path / "runs", "cnn", 2, 0.8, config={"lr": 0.01})]
    out = tmp_path / "cmp"
    build_comparison_report(runs, out, allow_mixed=True)
    assert json.loads((out / SOURCES_FILE).read_text())["allow_mixed"] is True
    assert len(rebuild_report(out)["summary"]) == 2
    with pytest.raises(ConfigError, match="allow-mixed"):
        rebuild_report(out, allow_mixed=False)


def test_rebuild_errors_name_the_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match=r"empty: not a comparison directory"):
        rebuild_report(tmp_path / "empty")
    run = write_fake_run(tmp_path / "runs", "cnn", 1, 0.9)
    build_comparison_report([run], tmp_path / "cmp")
    (run / "results.json").unlink()
    (run / "config.json").unlink()
    (run / "history.csv").unlink()
    run.rmdir()
    with pytest.raises(RunError) as err:
        rebuild_report(tmp_path / "cmp")
    assert "sources.json: lists" in str(err.value) and "cnn-s1" in str(err.value) and "\n" not in str(err.value)
