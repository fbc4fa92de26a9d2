"""What the DIY report's studies share: the course's artificial data, the digit images, a training loop that
notices divergence, a loss whose batch gradient is summed, accuracy, one part per seed, and the usual figures (loss
curves, decision boundaries, image grids).

Everything here runs on the NumPy engine (``visionbench.scratch``); torch is never imported.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

from visionbench.scratch import Loss, Module, Optimizer
from visionbench.scratch.loop import SGD
from visionbench.studies._study import Part, StudyRun

__all__ = ["DOC", "DIVERGED_ABOVE", "gen_arti", "DigitData", "digit_data", "Fit", "fit", "SummedGradient",
           "accuracy", "accuracies", "predict_labels", "seed_parts", "one_thread", "mean_of", "state_to_json",
           "state_from_json", "fmt3", "batches_text", "loss_figure", "boundary_figure", "image_grid_figure"]

#: How the DIY report is named in every study's header.
DOC = "DIY report (003)"
#: A training whose epoch loss is non-finite or above this is stopped and marked diverged.
DIVERGED_ABOVE = 1e12


def gen_arti(kind: str, n: int, rng: np.random.Generator, *, center: float = 1.0, sigma: float = 0.1,
             epsilon: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """The course's artificial 2-D data (after the ``gen_arti`` helper of its tool box), labels 0/1.

    Args:
        kind: ``two-gaussians`` (centres ±(c, c), linearly separable), ``four-gaussians`` (XOR: (c, c) and
            (-c, -c) are class 1, (-c, c) and (c, -c) class 0) or ``checkerboard`` (uniform on [-4, 4]^2, the class
            alternates on unit squares).
        n: number of points (even).
        rng: the random generator.
        center: the gaussians' centre coordinate ``c``.
        sigma: the gaussians' standard deviation.
        epsilon: standard deviation of the noise added to every point.
    """
    if kind == "two-gaussians":
        half = n // 2
        X = np.vstack([rng.normal([center, center], sigma, (half, 2)),
                       rng.normal([-center, -center], sigma, (n - half, 2))])
        y = np.r_[np.ones(half), np.zeros(n - half)]
    elif kind == "four-gaussians":
        q = n // 4
        cs = [(center, center, 1), (-center, -center, 1), (-center, center, 0), (center, -center, 0)]
        sizes = [q, q, q, n - 3 * q]
        X = np.vstack([rng.normal([cx, cy], sigma, (m, 2)) for (cx, cy, _), m in zip(cs, sizes, strict=True)])
        y = np.concatenate([np.full(m, lab) for (_, _, lab), m in zip(cs, sizes, strict=True)])
    elif kind == "checkerboard":
        X = rng.uniform(-4, 4, (n, 2))
        y = ((np.ceil(X[:, 0]) + np.ceil(X[:, 1])) % 2).astype(float)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    X = X + rng.normal(0, epsilon, X.shape)
    order = rng.permutation(n)
    return X[order].astype(np.float64), y[order].astype(np.int64)


@dataclass
class DigitData:
    """Digit images as flat float rows in [0, 1] (or [0, 2] for the course's USPS scaling), labels 0..9.

    Attributes:
        name: ``USPS (16x16)`` or ``digits (8x8)`` (the report's "Our data" column).
        side: image side in pixels.
        X_train, y_train, X_test, y_test: the splits; X is (N, side * side).
    """

    name: str
    side: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def digit_data(run: StudyRun, part: Part | None = None) -> DigitData:
    """USPS when the user has it (``--dataset usps`` or found on disk), else scikit-learn's embedded ``digits``.

    Pixels are scaled to [0, 1]. With ``part``, a note says which data was used and why.
    """
    from visionbench.data import dataset_status, load_dataset

    wanted = run.dataset
    if wanted is None:
        wanted = "usps" if dataset_status("usps", data_dir=run.data_dir).found else "digits"
    ds = load_dataset(wanted, data_dir=run.data_dir)
    side = int(ds.train.images.shape[-1])

    def flat(images: Any) -> np.ndarray:
        return np.asarray(images, dtype=np.float64).reshape(len(images), -1) / 255.0

    name = "USPS (16x16)" if ds.name == "usps" else f"{ds.name} ({side}x{side})"
    if part is not None and ds.name != "usps":
        part.note(f"Data: the document used USPS (16x16, 7,291 training and 2,007 test images); USPS was not found "
                  f"here, so this run used scikit-learn's embedded {name}, {len(ds.train)} training and "
                  f"{len(ds.test)} test images. Put the course's USPS files in a data folder to use them.")
    return DigitData(name, side, flat(ds.train.images), ds.train.labels, flat(ds.test.images), ds.test.labels)


@dataclass
class Fit:
    """How a training went: the mean loss of every epoch, whether it diverged, and its time."""

    losses: list[float] = field(default_factory=list)
    diverged: bool = False
    seconds: float = 0.0


def fit(net: Module, loss: Loss, X: np.ndarray, Y: np.ndarray, *, epochs: int, lr: float,
        batch_size: int | None = None, n_batches: int | None = None, shuffle: bool = True,
        rng: np.random.Generator, optimizer: Optimizer | None = None,
        on_epoch: Callable[[int, float], None] | None = None) -> Fit:
    """The engine's mini-batch ``SGD`` (the course's ``Optim`` step), stopped at the first diverged epoch, and timed.

    Give either ``batch_size`` or ``n_batches`` (the report's "number of batches": the data cut into that many
    equal batches per epoch). An epoch loss that becomes NaN or infinite (or above :data:`DIVERGED_ABOVE`) marks the
    fit ``diverged`` and ends its losses with NaN; ``on_epoch(epoch, mean_loss)`` follows every other epoch.
    """
    n = len(X)
    if (batch_size is None) == (n_batches is None):
        raise ValueError("give exactly one of batch_size and n_batches")
    size = batch_size if batch_size is not None else max(1, -(-n // int(n_batches)))
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        history = SGD(net, loss, X, Y, batch_size=size, epochs=epochs, eps=lr, shuffle=shuffle, rng=rng,
                      optimizer=optimizer, on_epoch=on_epoch, diverge_above=DIVERGED_ABOVE)
    return Fit(list(history), history.diverged, time.perf_counter() - start)


class SummedGradient(Loss):
    """A loss whose batch gradient is the *sum* over the batch rather than the mean.

    The engine's ``Optim`` divides the per-example loss gradient by the batch size; an implementation that adds the
    examples' gradients without dividing (the DIY report's, judging by its numbers) moves the weights b times further
    on a batch of b examples at the same learning rate. Multiplying the gradient by the batch size here undoes the
    division: ``fit`` with this loss at learning rate ``lr`` is that SGD at ``lr``. The loss values stay per-example
    means.
    """

    def __init__(self, inner: Loss) -> None:
        self.inner = inner

    def forward(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        return self.inner.forward(y, yhat)

    def backward(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        return self.inner.backward(y, yhat) * yhat.dtype.type(len(yhat))


def seed_parts(study: StudyRun, *parts: tuple[str, Callable[[Part, int], None], str],
               seeds: Sequence[int] | None = None) -> None:
    """One part per seed and per ``(name, fn, title)`` of ``parts``, seed by seed (all parts of a seed, then the next).

    ``fn(part, seed)`` runs as part ``<name>-seed<k>`` (``seed<k>`` when ``name`` is empty), titled
    ``<title>, seed <k>``. ``seeds`` defaults to the run's seeds.
    """
    for seed in study.seeds if seeds is None else seeds:
        for name, fn, title in parts:
            study.part(f"{name}-seed{seed}" if name else f"seed{seed}", functools.partial(_seed_part, fn, seed),
                       title=f"{title}, seed {seed}")


def _seed_part(fn: Callable[[Part, int], None], seed: int, part: Part) -> None:
    fn(part, seed)


def one_thread(run: Callable[[StudyRun], None]) -> Callable[[StudyRun], None]:
    """``run`` with every native thread pool (BLAS, and OpenMP for k-means and t-SNE) at one thread: the DIY
    studies' matrices are small, and on a shared 2-core machine more threads only added overhead (full-batch steps
    several times slower)."""
    @functools.wraps(run)
    def limited(study: StudyRun) -> None:
        with threadpool_limits(limits=1):
            run(study)
    return limited


def predict_labels(net: Module, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    """Class predictions: argmax of the output, or output > 0.5 for a single output column."""
    outs = []
    with np.errstate(over="ignore", invalid="ignore"):
        for s in range(0, len(X), batch):
            outs.append(net.forward(X[s:s + batch]))
    out = np.concatenate(outs)
    if out.ndim == 1 or out.shape[-1] == 1:
        return (out.reshape(-1) > 0.5).astype(np.int64)
    return out.argmax(axis=-1)


def accuracy(net: Module, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of correct predictions (see :func:`predict_labels`)."""
    return float((predict_labels(net, X) == np.asarray(y).reshape(-1)).mean())


def accuracies(net: Module, f: Fit, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray,
               y_test: np.ndarray) -> tuple[float | None, float | None]:
    """Train and test accuracy of a trained net, None for both when its training diverged."""
    if f.diverged:
        return None, None
    return accuracy(net, X_train, y_train), accuracy(net, X_test, y_test)


def mean_of(values: Sequence[float | None]) -> float | None:
    """The mean of the finite values (None when there is none: every run diverged or none ran)."""
    nums = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(nums)) if nums else None


def state_to_json(net: Module) -> dict[str, list[Any]]:
    """A scratch network's weights as JSON lists (a part's saved data: the report needs no other file)."""
    return {k: np.asarray(v).tolist() for k, v in net.state_dict().items()}


def state_from_json(net: Module, state: dict[str, list[Any]]) -> Module:
    """``net`` with the float64 weights of :func:`state_to_json` loaded; returns it."""
    net.load_state_dict({k: np.asarray(v, dtype=np.float64) for k, v in state.items()})
    return net


def fmt3(v: float | None) -> str:
    """Three decimals, or ``n/a`` for None (a diverged run)."""
    return "n/a" if v is None else f"{v:.3f}"


def batches_text(n: int) -> str:
    """``1 batch``, ``10 batches``."""
    return f"{n} batch" if n == 1 else f"{n} batches"


def loss_figure(curves: Mapping[str, Sequence[float]], *, title: str, xlabel: str = "epoch",
                ylabel: str = "training loss", log: bool = False) -> Figure:
    """One line per named loss curve; a curve that diverged ends with a cross at its last finite value."""
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for name, ys in curves.items():
        ys = np.asarray(ys, dtype=float)
        finite = np.isfinite(ys)
        x = np.arange(1, len(ys) + 1)
        (line,) = ax.plot(x[finite], ys[finite], label=name)
        if not finite.all() and finite.any():
            last = np.flatnonzero(finite)[-1]
            ax.plot([x[last]], [ys[last]], "x", color=line.get_color(), markersize=9)
    if log:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    return fig


def boundary_figure(panels: Sequence[tuple[str, Module, np.ndarray, np.ndarray]], *, title: str = "",
                    resolution: int = 200) -> Figure:
    """Decision regions of 2-D classifiers, one panel each: ``(panel title, net, X, y)``; points coloured by label."""
    fig = Figure(figsize=(4.2 * len(panels), 4.0), layout="constrained")
    for i, (name, net, X, y) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
        grid = np.c_[gx.ravel(), gy.ravel()]
        z = predict_labels(net, grid).reshape(gx.shape)
        ax.contourf(gx, gy, z, levels=[-0.5, 0.5, 1.5], colors=["#f4c7c3", "#c6dbef"], alpha=0.8)
        ax.scatter(X[:, 0], X[:, 1], c=np.where(np.asarray(y) > 0, "#1f77b4", "#d62728"), s=6, linewidths=0)
        ax.set(title=name, xticks=[], yticks=[])
    if title:
        fig.suptitle(title)
    return fig


def image_grid_figure(images: np.ndarray, side: int, captions: Sequence[str], *, cols: int = 8, title: str = "",
                      caption_colors: Sequence[str] | None = None) -> Figure:
    """A grid of grey images (rows of ``side * side`` pixels) with a caption under each."""
    n = len(images)
    rows = max(1, -(-n // cols))
    fig = Figure(figsize=(1.3 * cols, 1.45 * rows + (0.4 if title else 0)), layout="constrained")
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(np.asarray(images[i]).reshape(side, side), cmap="gray_r", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(captions[i], fontsize=8, color=(caption_colors[i] if caption_colors else "black"))
    if title:
        fig.suptitle(title)
    return fig
