"""ViT attention maps for the ``lab2`` study: attention rollout (Abnar and Zuidema, "Quantifying Attention Flow in
Transformers", ACL 2020, arXiv 2005.00928) on test images, from a trained run's checkpoint.

Rollout: in every block, average the heads' attention matrices, add the identity (the residual connection carries
each token to itself), renormalise every row to sum to 1, and multiply the blocks' matrices from the first to the
last: ``R = Â_L ... Â_2 Â_1``. Every factor is row-stochastic, so R is too (non-negative, rows summing to 1); row t of
R is how much of output token t comes from each input token. The map of an image is the class token's row over the
patch tokens (a class-token ViT), or the mean of the patch tokens' rows (a mean-pooled ViT, whose head reads their
average), laid out on the patch grid.

The weights are read with hooks on the model's :class:`~visionbench.layers.attention.Attention` modules during the
ordinary forward pass that also gives the predictions: a forward pre-hook asks each module for its weights
(``return_attention=True``, the written-out path) and a forward hook keeps them and hands the block only the output
tokens, so the model itself is unchanged and never needs to know.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from visionbench.layers.attention import Attention

__all__ = ["capture_attention", "attention_rollout", "rollout_maps", "RolloutResult", "run_rollout", "rollout_figure"]


def capture_attention(model: nn.Module, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Run ``model(x)`` in eval mode without gradients and collect every attention module's weights.

    Args:
        model: a model holding :class:`Attention` modules (our ViTs).
        x: its input batch.

    Returns:
        The model's output and, per attention module in execution order, its weights (B, heads, T, T).
    """
    maps: list[Tensor] = []

    def ask(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        return args, {**kwargs, "return_attention": True}

    def keep(module: nn.Module, args: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> Tensor:
        out, attn = output
        maps.append(attn.detach())
        return out  # the block receives what it receives without the hook

    modules = [m for m in model.modules() if isinstance(m, Attention)]
    if not modules:
        raise ValueError(f"{type(model).__name__} has no attention module to read")
    handles = [h for m in modules for h in (m.register_forward_pre_hook(ask, with_kwargs=True),
                                            m.register_forward_hook(keep))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return out, maps


def attention_rollout(maps: Sequence[Tensor | np.ndarray]) -> np.ndarray:
    """The rollout of a stack of attention layers (see the module docstring).

    Args:
        maps: per layer, first to last, attention weights (B, heads, T, T) whose rows sum to 1.

    Returns:
        float64 (B, T, T), row-stochastic.
    """
    rollout: np.ndarray | None = None
    for a in maps:
        a = np.asarray(a.cpu() if isinstance(a, Tensor) else a, dtype=np.float64).mean(axis=1)  # (B, T, T)
        a = a + np.eye(a.shape[-1])
        a = a / a.sum(axis=-1, keepdims=True)
        rollout = a if rollout is None else a @ rollout  # later layers act on what the earlier ones mixed
    if rollout is None:
        raise ValueError("attention_rollout needs at least one layer")
    return rollout


def rollout_maps(rollout: np.ndarray, num_prefix_tokens: int, grid: int) -> np.ndarray:
    """Per image, the share of the head's input drawn from each patch, on the patch grid (B, grid, grid).

    With a class token (``num_prefix_tokens == 1``) the class token's row is used, its own entry dropped and the rest
    renormalised; without, the mean of the patch tokens' rows. Each map sums to 1.
    """
    p = num_prefix_tokens
    rows = rollout[:, 0, p:] if p else rollout[:, p:, p:].mean(axis=1)  # (B, N)
    if rows.shape[1] != grid * grid:
        raise ValueError(f"{rows.shape[1]} patch tokens do not make a {grid}x{grid} grid")
    rows = rows / rows.sum(axis=1, keepdims=True)
    return rows.reshape(-1, grid, grid)  # (B, grid, grid)


@dataclass
class RolloutResult:
    """A trained ViT's rollout on a few test images.

    Attributes:
        label: the model's name in the figure.
        images: uint8 (B, C, h, w) test images, as stored.
        labels: their true classes.
        predictions: the model's classes.
        rollout: (B, T, T) rollout matrices.
        maps: (B, grid, grid) maps (see :func:`rollout_maps`).
        class_token: whether the map is the class token's row.
    """

    label: str
    images: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    rollout: np.ndarray
    maps: np.ndarray
    class_token: bool

    def checks(self) -> dict[str, float]:
        """What must hold whatever the training: no negative entry, rows and maps summing to 1."""
        return {"min_entry": float(min(self.rollout.min(), self.maps.min())),
                "max_row_sum_error": float(np.abs(self.rollout.sum(axis=-1) - 1).max()),
                "max_map_sum_error": float(np.abs(self.maps.sum(axis=(1, 2)) - 1).max())}

    def to_data(self) -> dict[str, Any]:
        """Small JSON-able record (maps rounded) for the study's part file."""
        return {"label": self.label, "labels": self.labels.tolist(), "predictions": self.predictions.tolist(),
                "class_token": self.class_token, "maps": np.round(self.maps, 5).tolist(), **self.checks()}


def pick_test_images(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` test images: the first of each class in turn (deterministic, every digit shown)."""
    order: list[int] = []
    classes = np.unique(labels)
    firsts = {c: list(np.flatnonzero(labels == c)) for c in classes}
    depth = 0
    while len(order) < min(n, len(labels)):
        for c in classes:
            if depth < len(firsts[c]) and len(order) < n:
                order.append(int(firsts[c][depth]))
        depth += 1
    return np.asarray(order, dtype=np.int64)


def run_rollout(run_dir: str | Path, label: str, n_images: int = 8) -> RolloutResult:
    """Rebuild a ViT run's model with its best weights and compute its rollout on ``n_images`` test images.

    The images go through the run's own preprocessing (its normalisation and resize), via the training session.
    """
    from visionbench.train.loop import load_run_session

    _, session, _ = load_run_session(run_dir)
    model = session.backend.model
    test = session.dataset.test
    labels = np.asarray(test.labels)
    idx = pick_test_images(labels, n_images)
    images = np.asarray(test.images[idx])  # only the chosen images (a lazy folder stays on disk)
    x, _ = session.batch(images, labels[idx])
    logits, maps = capture_attention(model, x)
    rollout = attention_rollout(maps)
    prefix = int(getattr(model, "num_prefix_tokens", 0))
    grid = math.isqrt(rollout.shape[-1] - prefix)
    return RolloutResult(label, images, labels[idx], logits.argmax(dim=1).cpu().numpy(), rollout,
                         rollout_maps(rollout, prefix, grid), prefix == 1)


def rollout_figure(results: Sequence[RolloutResult], title: str) -> Figure:
    """One column per test image; the image, then one row per model with its map over the (grey) image."""
    n = len(results[0].labels)
    fig = Figure(figsize=(1.35 * n + 0.4, 1.5 * (len(results) + 1) + 0.4), layout="constrained")
    axes = fig.subplots(len(results) + 1, n, squeeze=False)
    first = results[0]
    for j in range(n):
        img = first.images[j].astype(np.float64).mean(axis=0)  # (h, w)
        axes[0, j].imshow(img, cmap="gray", interpolation="nearest")
        axes[0, j].set_title(f"true {first.labels[j]}", fontsize=8)
        for i, res in enumerate(results, start=1):
            ax = axes[i, j]
            # Both on the unit square: the patch grid covers the image whatever their sizes.
            ax.imshow(img, cmap="gray", interpolation="nearest", extent=(0, 1, 1, 0))
            ax.imshow(res.maps[j], cmap="inferno", alpha=0.6, interpolation="nearest", extent=(0, 1, 1, 0),
                      vmin=0, vmax=float(res.maps[j].max()))
            ok = res.predictions[j] == res.labels[j]
            ax.set_title(f"pred {res.predictions[j]}", fontsize=8, color="black" if ok else "#d62728")
            if j == 0:
                ax.set_ylabel(res.label, fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("test image", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig
