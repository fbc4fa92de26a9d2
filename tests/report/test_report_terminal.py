"""The terminal table fits the console: whole numbers or no column, never a number cut to ``9…``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from report_fakes import write_fake_run
from rich.console import Console

from visionbench.report import build_comparison_report, render_table_rich
from visionbench.report.tables import summary_columns

MODELS = {"regnet20_convlstm": [0.9876, 0.9912], "vit_tiny_patch4": [0.9654, 0.9731], "scratch_cnn2d": [0.9123]}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("terminal")
    runs = [write_fake_run(root / "runs", m, s, a, seconds=1234.5 * s) for m, accs in MODELS.items()
            for s, a in enumerate(accs, 1)]
    return build_comparison_report(runs, root / "cmp")


def _render(summary: list[dict[str, Any]], width: int, **kwargs: Any) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(render_table_rich(summary, width=width, **kwargs))
    return console.export_text()


@pytest.mark.parametrize("width", [80, 100])
def test_fits_the_console_and_keeps_every_number_whole(report: dict[str, Any], width: int) -> None:
    text = _render(report["summary"], width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text
    cols = {c["key"]: c for c in summary_columns(report["summary"])}
    # the most important columns are there, with every cell whole on one line
    for key in ("model", "test_accuracy", "test_macro_f1", "train_seconds", "steps_completed"):
        for value in cols[key]["cells"]:
            assert any(value in line for line in lines), (key, value)
    assert "98.94 ± 0.25" in text
    # what was left out is named
    assert "Not shown at" in text and "Peak mem. (MiB)" in " ".join(text.split())


def test_narrow_console_drops_less_important_columns_first(report: dict[str, Any]) -> None:
    wide_enough = _render(report["summary"], 100)
    narrow = _render(report["summary"], 80)
    assert "Macro-F1" in narrow
    hidden = narrow.split("Not shown at 80 columns:")[1]
    assert "Test loss" in hidden and "Macro-F1" not in hidden
    assert len(wide_enough.split("Not shown at")[1]) < len(hidden)


def test_wide_shows_every_column(report: dict[str, Any]) -> None:
    text = _render(report["summary"], 300, wide=True)
    assert "Not shown" not in text and "…" not in text
    for col in summary_columns(report["summary"]):
        for value in col["cells"]:
            assert value in text, (col["key"], value)


def test_config_labels_stay_visible(tmp_path: Path) -> None:
    runs = [write_fake_run(tmp_path, "cnn", 1, 0.91), write_fake_run(tmp_path, "cnn", 1, 0.85, name="b",
                                                                     config={"lr": 0.01})]
    summary = build_comparison_report(runs, tmp_path / "cmp", allow_mixed=True)["summary"]
    text = _render(summary, 80)
    assert "lr=0.1" in text and "lr=0.01" in text and "91.00" in text and "85.00" in text
    assert max(len(line) for line in text.splitlines()) <= 80
