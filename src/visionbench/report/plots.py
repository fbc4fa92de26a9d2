"""Comparison plots as PNG files: learning curves, accuracy against training time, confusion matrices.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas directly, never through pyplot, so no
window opens, no global backend is switched and nothing leaks between figures. Each PNG is written to a temporary
name in the target folder and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from visionbench.report.tables import aggregate
from visionbench.runs import Run

__all__ = ["plot_learning_curves", "plot_accuracy_vs_time", "plot_confusion", "plot_confusions", "save_figure"]


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Render ``fig`` to PNG at ``path`` atomically and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=dpi)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _colors(names: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _group_key(run: Run, several_datasets: bool) -> str:
    return f"{run.model} / {run.dataset}" if several_datasets else run.model


def _by_group(runs: Sequence[Run]) -> dict[str, list[Run]]:
    several = len({r.dataset for r in runs}) > 1
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(_group_key(run, several), []).append(run)
    return groups


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


def _empty_note(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="gray")


def plot_learning_curves(runs: Sequence[Run], path: str | os.PathLike[str]) -> Path:
    """All models on one figure: validation accuracy (left) and train/validation loss (right) per epoch.

    Completed runs of a model are averaged per epoch with a ±1 std band over seeds; runs that did not complete
    are drawn one by one as thin dotted lines, labelled with their status.
    """
    fig = Figure(figsize=(12, 4.5))
    ax_acc, ax_loss = fig.subplots(1, 2)
    groups = _by_group(runs)
    colors = _colors(list(groups))
    for name, members in groups.items():
        color = colors[name]
        done = [r for r in members if r.status == "completed"]
        if done:
            n = f" (n={len(done)})" if len(done) > 1 else ""
            for ax, column, style, label in (
                (ax_acc, "val_acc", "-", f"{name}{n}"),
                (ax_loss, "val_loss", "-", f"{name} val{n}"),
                (ax_loss, "train_loss", "--", f"{name} train{n}"),
            ):
                x, mean, std = _curve(done, column)
                if len(x) == 0:
                    continue
                scale = 100.0 if column == "val_acc" else 1.0
                ax.plot(x, mean * scale, style, color=color, label=label, marker="o" if len(x) < 15 else None, ms=3)
                if len(done) > 1:
                    ax.fill_between(x, (mean - std) * scale, (mean + std) * scale, color=color, alpha=0.2, lw=0)
        for run in members:
            if run.status == "completed":
                continue
            label = f"{name} seed {run.config.get('seed', '?')} ({run.status})"
            for ax, column, scale in ((ax_acc, "val_acc", 100.0), (ax_loss, "val_loss", 1.0)):
                x, mean, _ = _curve([run], column)
                if len(x):
                    ax.plot(x, mean * scale, ":", color=color, lw=1, label=label)
    ax_acc.set(title="Validation accuracy", xlabel="epoch", ylabel="accuracy (%)")
    ax_loss.set(title="Loss (solid: validation, dashed: train)", xlabel="epoch", ylabel="cross-entropy")
    for ax in (ax_acc, ax_loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            _empty_note(ax, "no history")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_accuracy_vs_time(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Test accuracy against training time, one labelled point per model, error bars over seeds.

    Args:
        rows: per-run rows from :func:`visionbench.report.tables.collect`; only completed runs are plotted.
        path: the PNG to write.
    """
    fig = Figure(figsize=(7, 5))
    ax = fig.subplots()
    summary = [a for a in aggregate(rows) if a["test_accuracy_mean"] is not None and a["train_seconds_mean"]]
    several = len({a["dataset"] for a in summary}) > 1
    names = [f"{a['model']} / {a['dataset']}" if several else a["model"] for a in summary]
    colors = _colors(names)
    for name, a in zip(names, summary):
        x, y = a["train_seconds_mean"], 100 * a["test_accuracy_mean"]
        xerr = a["train_seconds_std"] or 0.0
        yerr = 100 * (a["test_accuracy_std"] or 0.0)
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", color=colors[name], capsize=3, ms=6)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    if summary:
        xs = [a["train_seconds_mean"] for a in summary]
        if max(xs) / min(xs) > 20:  # a wide spread of budgets reads better on a log axis
            ax.set_xscale("log")
    else:
        _empty_note(ax, "no completed run")
    ax.set(title="Test accuracy against training time", xlabel="training time (s)", ylabel="test accuracy (%)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def _confusion(results: dict[str, Any]) -> np.ndarray | None:
    cm = results.get("confusion_matrix")
    if not cm:
        return None
    return np.asarray(cm, dtype=float)


def _draw_confusion(ax: Any, cm: np.ndarray, classes: Sequence[str], title: str) -> None:
    totals = cm.sum(axis=1, keepdims=True)  # (K, 1)
    norm = np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)
    k = cm.shape[0]
    ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_title(title, fontsize=9)
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
                    color = "white" if norm[i, j] > 0.5 else "black"
                    ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=6, color=color)


def _class_names(results: dict[str, Any], k: int) -> list[str]:
    names = results.get("classes")
    return [str(c) for c in names] if names and len(names) == k else [str(i) for i in range(k)]


def plot_confusion(run: Run, path: str | os.PathLike[str]) -> Path:
    """The confusion matrix of one run, normalised by row (each true class sums to 1), class names on the axes."""
    fig = Figure(figsize=(6, 5.5))
    ax = fig.subplots()
    results = run.results or {}
    cm = _confusion(results)
    if cm is None:
        _empty_note(ax, f"{run.model}: no confusion matrix ({run.status})")
    else:
        _draw_confusion(ax, cm, _class_names(results, cm.shape[0]), f"{run.model} on {run.dataset}")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_confusions(runs: Sequence[Run], path: str | os.PathLike[str]) -> Path:
    """A grid with one row-normalised confusion matrix per model (summed over its completed seeds)."""
    panels = []
    for name, members in _by_group(runs).items():
        done = [r for r in members if r.status == "completed" and _confusion(r.results or {}) is not None]
        if not done:
            continue
        mats = [_confusion(r.results or {}) for r in done]
        if len({m.shape for m in mats}) != 1:
            continue
        n = f" ({len(done)} seeds)" if len(done) > 1 else ""
        panels.append((f"{name}{n}", sum(mats), _class_names(done[0].results or {}, mats[0].shape[0])))
    cols = min(3, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / cols))
    fig = Figure(figsize=(4.6 * cols, 4.3 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, (title, cm, classes) in zip(axes, panels):
        _draw_confusion(ax, cm, classes, title)
    for ax in axes[len(panels) :]:
        ax.axis("off")
    if not panels:
        _empty_note(axes[0], "no completed run with a confusion matrix")
    fig.tight_layout()
    return save_figure(fig, path)
