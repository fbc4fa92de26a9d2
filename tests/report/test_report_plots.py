"""Plots people read: one colour per model everywhere, accuracy axes within 100 %, readable log ticks, legends
outside the data, and every PNG embedded in comparison.md."""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Any

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from report_fakes import write_fake_run

from visionbench.report import build_comparison_report, collect, model_colors
from visionbench.report.plots import (
    PALETTE,
    accuracy_by_seed_figure,
    accuracy_vs_time_figure,
    confusions_figure,
    learning_curves_figure,
)
from visionbench.runs import read_run

# Accuracies close to 100 % with a std that reaches past it; training times over four decades.
SPEC = {"cnn": ([0.995, 0.999], 20.0), "mlp": ([0.96, 0.97], 0.4), "resnet20": ([0.99, 0.985], 900.0)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("plots")
    return [write_fake_run(root, m, s, a, seconds=secs, val_acc=a) for m, (accs, secs) in SPEC.items()
            for s, a in enumerate(accs, 1)] + [write_fake_run(root, "mlp", 3, None, status="diverged")]


def _figures(runs: list[Path], colors: dict[str, str]) -> dict[str, Figure]:
    read = [read_run(p) for p in runs]
    rows = collect(runs)
    return {
        "learning_curves": learning_curves_figure(read, colors=colors),
        "accuracy_vs_time": accuracy_vs_time_figure(rows, colors=colors),
        "accuracy_by_seed": accuracy_by_seed_figure(rows, colors=colors),
        "confusions": confusions_figure(read, colors=colors),
    }


def _color(artist: Any) -> tuple[float, float, float] | None:
    if isinstance(artist, (Line2D, Text)):
        return to_rgb(artist.get_color())
    if isinstance(artist, Collection):
        colors = artist.get_facecolor() if len(artist.get_facecolor()) else artist.get_edgecolor()
        return to_rgb(colors[0])
    return None


def test_model_colors_are_stable_distinct_and_order_free() -> None:
    names = [f"model{i}" for i in range(25)]
    colors = model_colors(names)
    assert len(set(colors.values())) == 25  # past the palette's 20 too
    assert model_colors(reversed(names)) == colors
    # a model alone gets its preferred tab10 slot, in every report
    assert model_colors(["cnn"])["cnn"] == PALETTE[zlib.crc32(b"cnn") % 10]
    # up to ten models use tab10 only
    assert set(model_colors(names[:10]).values()) == set(PALETTE[:10])


def test_a_model_has_one_colour_in_every_plot(runs: list[Path]) -> None:
    colors = model_colors(SPEC)
    seen: dict[str, set[str]] = {m: set() for m in SPEC}
    for name, fig in _figures(runs, colors).items():
        for artist in fig.findobj(lambda a: a.get_gid() in colors):
            rgb = _color(artist)
            if rgb is None:
                continue
            model = artist.get_gid()
            assert rgb == pytest.approx(to_rgb(colors[model])), (name, model, artist)
            seen[model].add(name)
    for model, plots in seen.items():
        assert plots == {"learning_curves", "accuracy_vs_time", "accuracy_by_seed", "confusions"}, model


def test_accuracy_axes_stop_at_100(runs: list[Path]) -> None:
    figs = _figures(runs, model_colors(SPEC))
    checked = 0
    for fig in figs.values():
        FigureCanvasAgg(fig).draw()
        for ax in fig.axes:
            if "accuracy" in ax.get_ylabel():
                assert ax.get_ylim()[1] <= 100.0
                checked += 1
            if "accuracy" in ax.get_xlabel():
                assert ax.get_xlim()[1] <= 100.0
                checked += 1
    assert checked == 3  # learning curves, accuracy vs time, accuracy by seed


def test_log_axis_has_few_plain_ticks_that_do_not_overlap(runs: list[Path]) -> None:
    fig = accuracy_vs_time_figure(collect(runs), colors=model_colors(SPEC))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"  # 0.4 s to 900 s
    lo, hi = ax.get_xlim()
    labels = [t for t in ax.get_xticklabels() if t.get_text() and lo <= t.get_position()[0] <= hi]
    assert 2 <= len(labels) <= 7
    assert all(re.fullmatch(r"[0-9.]+", t.get_text()) for t in labels), [t.get_text() for t in labels]
    boxes = sorted((t.get_window_extent(canvas.get_renderer()) for t in labels), key=lambda b: b.x0)
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))


def test_legends_sit_outside_the_data_area(runs: list[Path]) -> None:
    figs = _figures(runs, model_colors(SPEC))
    for name in ("learning_curves", "accuracy_vs_time"):
        fig = figs[name]
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        (legend,) = fig.legends
        box = legend.get_window_extent(canvas.get_renderer())
        for ax in fig.axes:
            assert not ax.get_window_extent().overlaps(box), name
        assert not any(ax.get_legend() for ax in fig.axes)


def test_curves_fill_the_x_range(runs: list[Path]) -> None:
    fig = learning_curves_figure([read_run(p) for p in runs])
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        assert 0.9 <= lo <= 1.0 and 3.0 <= hi <= 3.1  # epochs 1..3, no empty margin


def test_every_plot_is_embedded_in_the_page(runs: list[Path], tmp_path: Path) -> None:
    report = build_comparison_report(runs, tmp_path / "cmp")
    md = report["markdown"]
    pngs = sorted((tmp_path / "cmp" / "plots").glob("*.png"))
    assert len(pngs) == 4
    for png in pngs:
        (line,) = [x for x in md.splitlines() if x.startswith("![") and f"](plots/{png.name})" in x]
        caption = md.split(line, 1)[1].lstrip("\n").splitlines()[0]
        assert caption.startswith("*") and caption.endswith("*") and len(caption) > 20
    assert set(report["colors"]) == set(SPEC)
