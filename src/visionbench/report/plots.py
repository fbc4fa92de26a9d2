"""Comparison plots as PNG files: learning curves, accuracy against time, accuracy by seed, confusion matrices.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas directly, never through pyplot, so no
window opens, no global backend is switched and nothing leaks between figures. Each PNG is written to a temporary
name in the target folder and renamed, so a crash never leaves half a file.

Rules every figure follows, so the plots read the same way:

- one model has one colour in every plot of a report (:func:`model_colors`, the only place colours are chosen);
  configurations of one model (``--allow-mixed``) share its colour and differ by marker;
- accuracy axes never go past 100 %; curves fill the x range (no empty margin);
- a log axis has few, plainly written ticks (``1``, ``10``, ``100``, never ``10^2`` or overlapping labels);
- legends sit outside the data area, to the right of the axes.

The ``*_figure`` functions return the figure (for tests, notebooks); the ``plot_*`` functions write a PNG. Every
artist drawn for a model has its ``gid`` set to the model's name, so a test can check its colour.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from visionbench.report.tables import aggregate, group_key
from visionbench.runs import Run

__all__ = [
    "PALETTE",
    "model_colors",
    "save_figure",
    "learning_curves_figure",
    "accuracy_vs_time_figure",
    "accuracy_by_seed_figure",
    "confusions_figure",
    "plot_learning_curves",
    "plot_accuracy_vs_time",
    "plot_accuracy_by_seed",
    "plot_confusion",
    "plot_confusions",
]

# tab10, then ten darker colours that stay distinct from it (tab20b/tab20c picks), used past ten models.
PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363",
]  # fmt: skip
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
ACC_MAX = 100.0


def model_colors(models: Iterable[str]) -> dict[str, str]:
    """A colour per model name, the same in every plot of a report and, as far as possible, across reports.

    A model's preferred slot among the first ten colours of :data:`PALETTE` (tab10) comes from a hash of its name
    (``zlib.crc32``, stable across processes, unlike ``hash``); when that slot is taken the next free one is used,
    so two models of one report never share a colour (the ten darker colours come after tab10). Names are placed in
    sorted order, so the result does not depend on the order given. Past the palette's 20 colours, further ones are
    spread over the ``turbo`` colour map.
    """
    names = sorted(set(models))
    taken: dict[int, str] = {}
    out: dict[str, str] = {}
    extra: list[str] = []
    for name in names:
        if len(taken) == len(PALETTE):
            extra.append(name)
            continue
        # The preferred slot is one of the ten tab10 colours, the most distinct ones; the darker ten past them are
        # reached only by probing, when a report has more than ten models or two names hash alike.
        preferred = zlib.crc32(name.encode("utf-8")) % 10
        # linear probing: deterministic, and keeps most names in their preferred slot
        probe = [(preferred + i) % 10 for i in range(10)] + list(range(10, len(PALETTE)))
        slot = next(i for i in probe if i not in taken)
        taken[slot] = name
        out[name] = PALETTE[slot]
    cmap = colormaps["turbo"]
    for i, name in enumerate(extra):
        out[name] = to_hex(cmap((i + 0.5) / len(extra)))
    return out


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Render ``fig`` to PNG at ``path`` atomically and return the path."""
    import io

    from visionbench.runs import atomic_write_bytes

    path = Path(path)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())  # the umask's mode (mkstemp's was 0600), a full disk in one line
    return path


def _readable_log_axis(axis: Any, lo: float, hi: float) -> None:
    """Few major ticks written plainly (``0.5``, ``10``, ``200``), no minor labels: nothing overlaps."""
    decades = math.log10(max(hi, 1e-12) / max(lo, 1e-12))
    subs = (1.0, 2.0, 5.0) if decades <= 1.5 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=6))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _acc_limits(lo: float, hi: float) -> tuple[float, float]:
    """Accuracy (%) limits around the data with a little room, never past 100 nor below 0."""
    pad = max(1.0, 0.05 * (hi - lo))
    return max(0.0, lo - pad), min(ACC_MAX, hi + pad)


def _legend_outside(fig: Figure, handles: list[Any], title: str | None = None) -> None:
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize=8, title=title, title_fontsize=8,
                   frameon=False)


def _empty_note(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray")


def _groups(runs: Sequence[Run], labels: Mapping[str, str] | None) -> dict[str, list[Run]]:
    """Runs by display label: ``labels[str(run.path)]`` when given, else the model (and dataset when several)."""
    several = len({r.dataset for r in runs}) > 1
    groups: dict[str, list[Run]] = {}
    for run in runs:
        label = (labels or {}).get(str(run.path))
        if label is None:
            label = f"{run.model} / {run.dataset}" if several else run.model
        groups.setdefault(label, []).append(run)
    return groups


def _markers(models_by_label: Mapping[str, str]) -> dict[str, str]:
    """A marker per label: the first configuration of a model gets ``o``, the next ``s``..."""
    seen: dict[str, int] = {}
    out = {}
    for label, model in models_by_label.items():
        i = seen.get(model, 0)
        seen[model] = i + 1
        out[label] = MARKERS[i % len(MARKERS)]
    return out


def _curve(runs: Sequence[Run], column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-epoch mean and std of ``column`` over runs (each epoch over the runs that reached it)."""
    per_epoch: dict[int, list[float]] = {}
    for run in runs:
        for row in run.history:
            value = row.get(column)
            if "epoch" in row and value is not None and math.isfinite(value):
                per_epoch.setdefault(int(row["epoch"]), []).append(value)
    epochs = np.array(sorted(per_epoch), dtype=float)
    means = np.array([np.mean(per_epoch[int(e)]) for e in epochs])
    stds = np.array([np.std(per_epoch[int(e)], ddof=1) if len(per_epoch[int(e)]) > 1 else 0.0 for e in epochs])
    return epochs, means, stds


def learning_curves_figure(
    runs: Sequence[Run], *, colors: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None
) -> Figure:
    """Validation accuracy (left) and train/validation loss (right) per epoch, every model on one figure.

    Completed runs of a group are averaged per epoch with a ±1 std band over seeds; runs that did not complete
    are drawn one by one as thin dotted lines.

    Args:
        runs: the runs to draw.
        colors: colour per model name (default: :func:`model_colors` of these runs).
        labels: display label per run path (``str(run.path)``), one legend entry per label.
    """
    colors = dict(colors or model_colors(r.model for r in runs))
    groups = _groups(runs, labels)
    markers = _markers({label: members[0].model for label, members in groups.items()})
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    ax_acc, ax_loss = fig.subplots(1, 2)
    handles: list[Any] = []
    epochs_seen: list[float] = []
    acc_seen: list[float] = []
    loss_seen: list[float] = []
    for label, members in groups.items():
        model = members[0].model
        color, marker = colors[model], markers[label]
        done = [r for r in members if r.status == "completed"]
        drew = False
        for ax, column, style in ((ax_acc, "val_acc", "-"), (ax_loss, "val_loss", "-"), (ax_loss, "train_loss", "--")):
            x, mean, std = _curve(done, column)
            if len(x) == 0:
                continue
            scale = 100.0 if column == "val_acc" else 1.0
            every = max(1, len(x) // 12)  # markers tell configurations apart without cluttering long curves
            (line,) = ax.plot(x, mean * scale, style, color=color, marker=marker, markevery=every, ms=3.5, lw=1.5)
            line.set_gid(model)
            if len(done) > 1:
                low = mean - std
                if column != "val_acc":  # a log axis: a band reaching 0 or below would leave holes, so shrink it
                    low = np.where(low > 0, low, mean * mean / (mean + std))  # the geometric mirror of mean + std
                band = ax.fill_between(x, low * scale, (mean + std) * scale, color=color, alpha=0.2, lw=0)
                band.set_gid(model)
            epochs_seen += list(x)
            (acc_seen if column == "val_acc" else loss_seen).extend(mean * scale)
            drew = True
        for run in members:
            if run.status == "completed":
                continue
            for ax, column, scale in ((ax_acc, "val_acc", 100.0), (ax_loss, "val_loss", 1.0)):
                x, mean, _ = _curve([run], column)
                if len(x):
                    (line,) = ax.plot(x, mean * scale, ":", color=color, lw=1)
                    line.set_gid(model)
                    epochs_seen += list(x)
                    (acc_seen if column == "val_acc" else loss_seen).extend(mean * scale)
                    drew = True
        if drew:
            n = f" (n={len(done)})" if len(done) > 1 else ""
            flagged = len(members) - len(done)
            extra = f", {flagged} not completed" if flagged else ""
            handle = Line2D([], [], color=color, marker=marker, ms=4, label=f"{label}{n}{extra}")
            handle.set_gid(model)
            handles.append(handle)
    ax_acc.set(title="Validation accuracy", xlabel="epoch", ylabel="accuracy (%)")
    ax_loss.set(title="Loss", xlabel="epoch", ylabel="cross-entropy")
    for ax in (ax_acc, ax_loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if not ax.lines:
            _empty_note(ax, "no history")
    if epochs_seen:
        lo, hi = min(epochs_seen), max(epochs_seen)
        for ax in (ax_acc, ax_loss):
            # the data's own range, with just enough room that the end markers are not cut in half
            pad = 0.5 if lo == hi else 0.015 * (hi - lo)
            ax.set_xlim(lo - pad, hi + pad)
    if acc_seen:
        ax_acc.set_ylim(*_acc_limits(min(acc_seen), max(acc_seen)))
    positive = [v for v in loss_seen if v > 0]
    if positive and max(positive) / min(positive) > 20:  # an early spike would flatten every later epoch
        ax_loss.set_yscale("log")
        _readable_log_axis(ax_loss.yaxis, min(positive), max(positive))
    if handles:
        handles += [
            # black, since tab10's grey may be a model's colour
            Line2D([], [], color="black", ls="-", lw=1, label="validation"),
            Line2D([], [], color="black", ls="--", lw=1, label="train (loss only)"),
            Line2D([], [], color="black", ls=":", lw=1, label="run not completed"),
        ]
    _legend_outside(fig, handles)
    return fig


def plot_learning_curves(
    runs: Sequence[Run],
    path: str | os.PathLike[str],
    *,
    colors: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Path:
    """Write :func:`learning_curves_figure` to ``path`` (PNG)."""
    return save_figure(learning_curves_figure(runs, colors=colors, labels=labels), path)


def _summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    summary = aggregate(rows)
    several = len({a["dataset"] for a in summary}) > 1
    for a in summary:
        a["_name"] = f"{a['label']} / {a['dataset']}" if several else a["label"]
    return summary


def accuracy_vs_time_figure(rows: Sequence[dict[str, Any]], *, colors: Mapping[str, str] | None = None) -> Figure:
    """Test accuracy against training time, one point per summary row, error bars = std over seeds on both axes.

    Args:
        rows: per-run rows from :func:`visionbench.report.tables.collect` (with ``fingerprint`` and ``config``
            when the build set them); only completed runs are plotted.
        colors: colour per model name (default: :func:`model_colors` of these rows).
    """
    colors = dict(colors or model_colors(str(r["model"]) for r in rows))
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    summary = [a for a in _summary(rows) if a["test_accuracy_mean"] is not None and a["train_seconds_mean"]]
    markers = _markers({a["_name"]: a["model"] for a in summary})
    handles = []
    lows, highs = [], []
    for a in summary:
        x, y = a["train_seconds_mean"], 100 * a["test_accuracy_mean"]
        xerr = a["train_seconds_std"] or 0.0
        yerr = 100 * (a["test_accuracy_std"] or 0.0)
        cont = ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=markers[a["_name"]], color=colors[a["model"]], capsize=3,
                           ms=7)
        for artist in (cont.lines[0], *cont.lines[1], *cont.lines[2]):
            artist.set_gid(a["model"])
        n = f" (n={a['n_seeds']})" if a["n_seeds"] > 1 else ""
        handle = Line2D([], [], color=colors[a["model"]], marker=markers[a["_name"]], ls="", label=f"{a['_name']}{n}")
        handle.set_gid(a["model"])
        handles.append(handle)
        lows.append(y - yerr)
        highs.append(y + yerr)
    if summary:
        ax.set_ylim(*_acc_limits(min(lows), max(highs)))
        xs = [a["train_seconds_mean"] for a in summary]
        if max(xs) / min(xs) > 20:  # a wide spread of budgets reads better on a log axis
            ax.set_xscale("log")
            _readable_log_axis(ax.xaxis, min(xs), max(xs))
    else:
        _empty_note(ax, "no completed run")
    ax.set(title="Test accuracy against training time", xlabel="training time (s)", ylabel="test accuracy (%)")
    ax.grid(alpha=0.3)
    _legend_outside(fig, handles)
    return fig


def plot_accuracy_vs_time(
    rows: Sequence[dict[str, Any]], path: str | os.PathLike[str], *, colors: Mapping[str, str] | None = None
) -> Path:
    """Write :func:`accuracy_vs_time_figure` to ``path`` (PNG)."""
    return save_figure(accuracy_vs_time_figure(rows, colors=colors), path)


def accuracy_by_seed_figure(rows: Sequence[dict[str, Any]], *, colors: Mapping[str, str] | None = None) -> Figure:
    """Test accuracy of every completed seed (dots), the mean (bar) and its 95 % interval, one line per row.

    Best row on top, as in the summary table. Shows what a mean ± std hides: one bad seed, or two models whose
    seeds overlap entirely.
    """
    colors = dict(colors or model_colors(str(r["model"]) for r in rows))
    summary = [a for a in _summary(rows) if a["test_accuracy_mean"] is not None]  # completed with an accuracy
    fig = Figure(figsize=(8, 1.2 + 0.45 * max(1, len(summary))), layout="constrained")
    ax = fig.subplots()
    if not summary:
        _empty_note(ax, "no completed run")
        return fig
    values: list[float] = []
    for i, a in enumerate(summary):
        y = len(summary) - 1 - i
        color = colors[a["model"]]
        accs = [100 * r["test_accuracy"] for r in rows if r.get("counted", True) and r["status"] == "completed"
                and r["test_accuracy"] is not None and group_key(r) == (a["model"], a["dataset"], a["fingerprint"])]
        pts = ax.scatter(accs, [y] * len(accs), color=color, s=22, alpha=0.8, zorder=3)
        pts.set_gid(a["model"])
        mean = 100 * a["test_accuracy_mean"]
        (bar,) = ax.plot([mean, mean], [y - 0.3, y + 0.3], color=color, lw=2.5)
        bar.set_gid(a["model"])
        if a["test_accuracy_ci_low"] is not None:
            (ci,) = ax.plot([100 * a["test_accuracy_ci_low"], 100 * a["test_accuracy_ci_high"]], [y, y], color=color,
                            lw=1)
            ci.set_gid(a["model"])
            values += [100 * a["test_accuracy_ci_low"], 100 * a["test_accuracy_ci_high"]]
        values += accs + [mean]
    ax.set_yticks(range(len(summary)), labels=[a["_name"] for a in reversed(summary)], fontsize=8)
    for tick, a in zip(ax.get_yticklabels(), reversed(summary)):
        tick.set_color(colors[a["model"]])
        tick.set_gid(a["model"])
    ax.set_ylim(-0.6, len(summary) - 0.4)
    ax.set_xlim(*_acc_limits(min(values), max(values)))
    ax.set(title="Test accuracy by seed (dots), mean (bar) and 95 % interval (line)", xlabel="test accuracy (%)")
    ax.grid(alpha=0.3, axis="x")
    return fig


def plot_accuracy_by_seed(
    rows: Sequence[dict[str, Any]], path: str | os.PathLike[str], *, colors: Mapping[str, str] | None = None
) -> Path:
    """Write :func:`accuracy_by_seed_figure` to ``path`` (PNG)."""
    return save_figure(accuracy_by_seed_figure(rows, colors=colors), path)


def _confusion(results: dict[str, Any]) -> np.ndarray | None:
    cm = results.get("confusion_matrix")
    if not cm:
        return None
    return np.asarray(cm, dtype=float)


def _draw_confusion(ax: Any, cm: np.ndarray, classes: Sequence[str], title: str, color: str = "black") -> None:
    totals = cm.sum(axis=1, keepdims=True)  # (K, 1)
    norm = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    k = cm.shape[0]
    ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_title(title, fontsize=9, color=color, fontweight="bold")
    if k <= 30:
        ticks = np.arange(k)
        size = 7 if k <= 12 else 5
        ax.set_xticks(ticks, labels=list(classes), rotation=90, fontsize=size)
        ax.set_yticks(ticks, labels=list(classes), fontsize=size)
    ax.set_xlabel("predicted", fontsize=8)
    ax.set_ylabel("true", fontsize=8)
    if k <= 12:
        for i in range(k):
            for j in range(k):
                if norm[i, j] >= 0.005:
                    text_color = "white" if norm[i, j] > 0.5 else "black"
                    ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=6, color=text_color)


def _class_names(results: dict[str, Any], k: int) -> list[str]:
    names = results.get("classes")
    return [str(c) for c in names] if names and len(names) == k else [str(i) for i in range(k)]


def plot_confusion(run: Run, path: str | os.PathLike[str], *, color: str = "black") -> Path:
    """The confusion matrix of one run, normalised by row (each true class sums to 1), class names on the axes."""
    fig = Figure(figsize=(6, 5.5), layout="constrained")
    ax = fig.subplots()
    results = run.results or {}
    cm = _confusion(results)
    if cm is None:
        _empty_note(ax, f"{run.model}: no confusion matrix ({run.status})")
    else:
        _draw_confusion(ax, cm, _class_names(results, cm.shape[0]), f"{run.model} on {run.dataset}", color)
    return save_figure(fig, path)


def confusions_figure(
    runs: Sequence[Run], *, colors: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None
) -> Figure:
    """A grid with one row-normalised confusion matrix per group (summed over its completed seeds).

    Each panel's title is written in the model's colour, as in the other plots.
    """
    colors = dict(colors or model_colors(r.model for r in runs))
    panels = []
    for name, members in _groups(runs, labels).items():
        done = [r for r in members if r.status == "completed" and _confusion(r.results or {}) is not None]
        if not done:
            continue
        mats = [_confusion(r.results or {}) for r in done]
        if len({m.shape for m in mats}) != 1:
            continue
        n = f" ({len(done)} seeds)" if len(done) > 1 else ""
        panels.append((f"{name}{n}", sum(mats), _class_names(done[0].results or {}, mats[0].shape[0]), done[0].model))
    cols = min(3, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / cols))
    fig = Figure(figsize=(4.6 * cols, 4.3 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, (title, cm, classes, model) in zip(axes, panels):
        _draw_confusion(ax, cm, classes, title, colors[model])
        ax.title.set_gid(model)
    for ax in axes[len(panels) :]:
        ax.axis("off")
    if not panels:
        _empty_note(axes[0], "no completed run with a confusion matrix")
    return fig


def plot_confusions(
    runs: Sequence[Run],
    path: str | os.PathLike[str],
    *,
    colors: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Path:
    """Write :func:`confusions_figure` to ``path`` (PNG)."""
    return save_figure(confusions_figure(runs, colors=colors, labels=labels), path)
