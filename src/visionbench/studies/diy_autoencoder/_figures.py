"""Figures of study ``diy-autoencoder``: image mosaics (reconstructions, clusters, denoising), t-SNE maps and the
auto-encoder's training length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure


def _mosaic_figure(rows: Sequence[Sequence[np.ndarray | None]], side: int, *, row_labels: Sequence[str] = (),
                   captions: Sequence[Sequence[str]] = (), caption_colors: Sequence[Sequence[str]] = (),
                   title: str = "") -> Figure:
    """A grid of grey images drawn as one picture (fast: one axes, not one per image), captions under each image.

    Args:
        rows: rows of flat images (``side * side`` pixels in [0, 1]); None leaves a blank cell.
        side: image side.
        row_labels: a label left of every row.
        captions: a short text under every image, row by row.
        caption_colors: the captions' colours.
        title: the figure's title.
    """
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    gap, band = 1, (max(3, side // 2) if captions else 1)
    height, width = n_rows * (side + band), n_cols * (side + gap) - gap
    canvas = np.full((height, width), np.nan)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            if img is not None:
                top, left = i * (side + band), j * (side + gap)
                canvas[top:top + side, left:left + side] = np.asarray(img, dtype=float).reshape(side, side)
    scale = 1.05 if side <= 8 else 0.95
    label_w = 1.1 if row_labels else 0.0
    fig = Figure(figsize=(label_w + scale * n_cols, scale * n_rows * (side + band) / side + (0.35 if title else 0.1)),
                 layout="constrained")
    ax = fig.add_subplot()
    cmap = colormaps["gray_r"].with_extremes(bad="white")
    ax.imshow(canvas, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest", aspect="equal")
    for i in range(n_rows):
        for j in range(n_cols):
            if i < len(captions) and j < len(captions[i]) and captions[i][j]:
                color = caption_colors[i][j] if i < len(caption_colors) and j < len(caption_colors[i]) else "black"
                ax.text(j * (side + gap) + (side - 1) / 2, i * (side + band) + side - 0.5 + band / 2, captions[i][j],
                        ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks([])
    ax.set_yticks([(side - 1) / 2 + i * (side + band) for i in range(n_rows)] if row_labels else [])
    if row_labels:
        ax.set_yticklabels(row_labels, fontsize=8)
        ax.tick_params(axis="y", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def _recon_figure(X: np.ndarray, R: np.ndarray, y: np.ndarray, idx: np.ndarray, side: int, errors: np.ndarray,
                  title: str) -> Figure:
    """Originals (top row) above their reconstructions (bottom row)."""
    return _mosaic_figure([[X[i] for i in idx], [R[i] for i in idx]], side,
                          row_labels=["original", "reconstruction"],
                          captions=[[f"digit {y[i]}" for i in idx], [f"MSE {errors[i]:.3f}" for i in idx]],
                          title=title)


def _tsne_figure(panels: Sequence[tuple[str, np.ndarray]], y: np.ndarray) -> Figure:
    """Side-by-side 2-D maps, points coloured by digit, each digit's label written at its median position."""
    fig = Figure(figsize=(5.2 * len(panels), 5.0), layout="constrained")
    colors = [f"C{i}" for i in range(10)]
    for i, (title, E) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for d in range(10):
            pts = E[y == d]
            if len(pts) == 0:
                continue
            ax.scatter(pts[:, 0], pts[:, 1], s=5, color=colors[d], label=str(d), linewidths=0)
            mx, my = np.median(pts, axis=0)
            ax.text(mx, my, str(d), fontsize=13, weight="bold", ha="center", va="center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": colors[d], "alpha": 0.8})
        ax.set(title=title, xticks=[], yticks=[])
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside right center", markerscale=3, fontsize=8,
               title="digit")
    return fig


def _epochs_figure(rows: Sequence[Sequence[Any]], raw: dict[str, Any]) -> Figure:
    """Four panels against the auto-encoder's epochs: reconstruction MSE, silhouette, purity, classifier accuracy."""
    fig = Figure(figsize=(12.0, 3.2), layout="constrained")
    ep = np.array([r[0] for r in rows], dtype=float)

    def col(i: int) -> np.ndarray:
        return np.array([np.nan if r[i] is None else r[i] for r in rows], dtype=float)

    panels = (("test reconstruction MSE", [(1, "codes")], None), ("silhouette", [(2, "codes")], "silhouette"),
              ("mean purity", [(3, "codes")], "purity_mean"),
              ("test accuracy", [(5, "TanH + Softmax"), (6, "TanH, logits")], None))
    for k, (title, series, raw_key) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        for i, name in series:
            ax.plot(ep, col(i), "o-", label=name)
        if raw_key and raw.get(raw_key) is not None:
            ax.axhline(raw[raw_key], color="gray", linestyle="--", label="pixels")
        ax.set(title=title, xlabel="auto-encoder epochs", xscale="log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig

