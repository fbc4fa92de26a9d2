"""The regnet study's figures: error against parameters and FLOPs, the two fairness views, the linear probes.

Built on :class:`matplotlib.figure.Figure` without pyplot; one colour per model, as in the comparison plots
(:func:`visionbench.report.plots.model_colors`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from visionbench.report.plots import model_colors

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Point", "efficiency_figure", "views_figure", "probe_figure"]


@dataclass(frozen=True)
class Point:
    """One model in a figure: its name and label, costs, and test error (%) with its spread over seeds."""

    model: str
    label: str
    params: float | None
    mflops: float | None
    error: float | None
    std: float | None = None
    error_time: float | None = None
    std_time: float | None = None


def _marker(model: str) -> str:
    if "regnet" in model:
        return "^" if model.startswith("se") else "D"
    return "s" if model.startswith("se") else "o"


def efficiency_figure(points: Sequence[Point]) -> Figure:
    """Two panels: test error against parameters (M) and against forward MFLOPs per image, error bars = std over
    seeds; the plain ResNets are joined by a line (the "just make it deeper" curve)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    colors = model_colors(p.model for p in points)
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    shown = [p for p in points if p.error is not None]
    for ax, attr, scale, xlabel in ((axes[0], "params", 1e-6, "parameters (M)"),
                                    (axes[1], "mflops", 1.0, "forward MFLOPs per image")):
        for p in shown:
            x = getattr(p, attr)
            if x is None:
                continue
            ax.errorbar(x * scale, p.error, yerr=p.std or 0.0, fmt=_marker(p.model), color=colors[p.model],
                        capsize=3, ms=7, gid=p.model)
        plain = sorted((p for p in shown if p.model.startswith("resnet") and getattr(p, attr) is not None),
                       key=lambda p: getattr(p, attr))
        if len(plain) > 1:
            ax.plot([getattr(p, attr) * scale for p in plain], [p.error for p in plain], ls=":", color="gray", lw=1)
        ax.set(xlabel=xlabel)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test error (%)")
    handles = [Line2D([], [], color=colors[p.model], marker=_marker(p.model), ls="", label=p.label) for p in shown]
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    fig.suptitle("Test error against cost (equal epochs; mean ± std over seeds)", fontsize=10)
    return fig


def views_figure(points: Sequence[Point], time_budget: float | None) -> Figure:
    """Test error per model at equal epochs and at equal training time, side by side (bars, ± std)."""
    import numpy as np
    from matplotlib.figure import Figure

    shown = [p for p in points if p.error is not None or p.error_time is not None]
    fig = Figure(figsize=(8, 0.42 * max(len(shown), 2) + 1.4), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(shown))
    h = 0.38
    ax.barh(y - h / 2, [p.error or 0.0 for p in shown], h, xerr=[p.std or 0.0 for p in shown], capsize=2,
            color="#4c72b0", label="equal epochs")
    when = f"equal training time ({time_budget:.0f} s)" if time_budget is not None else "equal training time"
    ax.barh(y + h / 2, [p.error_time or 0.0 for p in shown], h, xerr=[p.std_time or 0.0 for p in shown],
            capsize=2, color="#dd8452", label=when)
    ax.set_yticks(y, [p.label for p in shown], fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="test error (%)", title="The two fairness views (mean ± std over seeds)")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    return fig


def probe_figure(ours: Mapping[str, Mapping[int, float]], paper: Mapping[str, Mapping[int, float]],
                 labels: Mapping[str, str]) -> Figure:
    """Linear-probe test accuracy per block: ours (solid) beside the paper's (dashed), one colour per model."""
    from matplotlib.figure import Figure

    colors = model_colors([*ours, *paper])
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    for model, accs in ours.items():
        blocks = sorted(accs)
        ax.plot(blocks, [accs[b] for b in blocks], marker="o", color=colors[model], label=f"{labels[model]} (ours)",
                gid=model)
    for model, accs in paper.items():
        blocks = sorted(accs)
        ax.plot(blocks, [accs[b] for b in blocks], marker="x", ls="--", color=colors[model],
                label=f"{labels[model]} (paper)")
    blocks = sorted({b for accs in [*ours.values(), *paper.values()] for b in accs})
    ax.set_xticks(blocks, [f"block {b}" for b in blocks])
    ax.set(ylabel="linear-probe test accuracy (%)", title="Average-pool + logistic regression per block")
    ax.set_ylim(top=100)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    return fig
