"""The two convolutional nets of ``diy-conv`` and the three ways the study trains them.

``build_conv1d`` is the course's Conv1D net on the flat pixel row, ``build_conv2d`` our Conv2D net on the image
(channels last). :func:`train_report` trains one at a report budget (random subsets of the report's sizes, the data
cut into a number of batches, the course's plain step), :func:`train_large` at the larger budget (the whole training
split, mini-batches of 32, momentum SGD with weight decay, the learning rate divided by 10 for the last quarter) and
:func:`sweep_run` reads accuracies and training time along one plain-SGD run. Every training draws its subsets from
the seed's first child sequence and its initial weights and shuffles from the second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from visionbench.scratch import (
    CELogSoftmax,
    Conv1D,
    Conv2D,
    Flatten,
    Linear,
    MaxPool1D,
    MaxPool2D,
    Module,
    ReLU,
    Sequential,
    SGDOptimizer,
)
from visionbench.studies._diy import DigitData, Fit, accuracy, fit

__all__ = ["NETS", "BUILDERS", "build_conv1d", "build_conv2d", "as_input", "arch", "train_report", "train_large",
           "sweep_run", "LARGE_BATCH", "LARGE_LR", "LARGE_MOMENTUM", "LARGE_WD"]

CLASSES = 10
HIDDEN = 100
CONV1D_CHANNELS, CONV2D_CHANNELS = 32, 16
NETS = {"conv1d": "Conv1D", "conv2d": "Conv2D"}

# The larger budget: the whole training split, batch 32, momentum SGD, lr / 10 for the last quarter.
LARGE_BATCH, LARGE_LR, LARGE_MOMENTUM, LARGE_WD = 32, 0.05, 0.9, 5e-4


def build_conv1d(side: int, rng: np.random.Generator) -> Sequential:
    """The course's Conv1D net on a flat row of ``side * side`` pixels, input (batch, length, 1).

    ``Conv1D(3, 1, 32)-MaxPool1D(2, 2)-Flatten-Linear(32 * (L - 2) // 2, 100)-ReLU-Linear(100, 10)``: 4,064 inputs to
    the first Linear on USPS (L = 256), 992 on the 8x8 digits (L = 64).
    """
    pooled = (side * side - 2) // 2
    return Sequential(Conv1D(3, 1, CONV1D_CHANNELS, rng=rng), MaxPool1D(2, 2), Flatten(),
                      Linear(pooled * CONV1D_CHANNELS, HIDDEN, rng=rng), ReLU(), Linear(HIDDEN, CLASSES, rng=rng))


def build_conv2d(side: int, rng: np.random.Generator) -> Sequential:
    """Our Conv2D net on ``side x side`` images, channels-last input (batch, side, side, 1).

    ``Conv2D(3x3, 1 -> 16)-ReLU-MaxPool2D(2)-Flatten-Linear(16 * ((side - 2) // 2) ** 2, 100)-ReLU-Linear(100, 10)``:
    784 inputs to the first Linear on USPS, 144 on the 8x8 digits.
    """
    pooled = (side - 2) // 2
    return Sequential(Conv2D(3, 1, CONV2D_CHANNELS, rng=rng), ReLU(), MaxPool2D(2), Flatten(),
                      Linear(pooled * pooled * CONV2D_CHANNELS, HIDDEN, rng=rng), ReLU(),
                      Linear(HIDDEN, CLASSES, rng=rng))


BUILDERS: dict[str, Callable[[int, np.random.Generator], Sequential]] = {"conv1d": build_conv1d,
                                                                          "conv2d": build_conv2d}


def as_input(kind: str, X: np.ndarray, side: int) -> np.ndarray:
    """Flat rows as the net's input: (N, side * side, 1) signals or (N, side, side, 1) images, float32."""
    X = np.asarray(X, dtype=np.float32)
    return X.reshape(len(X), side * side, 1) if kind == "conv1d" else X.reshape(len(X), side, side, 1)


def arch(kind: str, side: int) -> str:
    if kind == "conv1d":
        return (f"Conv1D(3, 1, 32)-MaxPool1D(2, 2)-Flatten-Linear({(side * side - 2) // 2 * 32}, 100)-ReLU-"
                f"Linear(100, 10)")
    return (f"Conv2D(3x3, 1->16)-ReLU-MaxPool2D(2)-Flatten-Linear({((side - 2) // 2) ** 2 * 16}, 100)-ReLU-"
            f"Linear(100, 10)")


def _seeds(seed: int) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """(data, model) seed sequences: the subsets and the initial weights / shuffles of one seed."""
    data_seq, model_seq = np.random.SeedSequence(seed).spawn(2)
    return data_seq, model_seq


def _subsets(data: DigitData, seed: int, n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Random training and test indices of the report's sizes (or the whole split when it is smaller)."""
    rng = np.random.default_rng(_seeds(seed)[0])
    tr = rng.permutation(len(data.X_train))[:min(n_train, len(data.X_train))]
    te = rng.permutation(len(data.X_test))[:min(n_test, len(data.X_test))]
    return np.sort(tr), np.sort(te)


def _evaluate(net: Module, f: Fit, kind: str, data: DigitData, tr: np.ndarray, te: np.ndarray) -> dict[str, Any]:
    """What one training gives: accuracies (None when it diverged), loss curve, time."""
    s = data.side
    ok = not f.diverged
    return {
        "train": accuracy(net, as_input(kind, data.X_train[tr], s), data.y_train[tr]) if ok else None,
        "test": accuracy(net, as_input(kind, data.X_test[te], s), data.y_test[te]) if ok else None,
        "test_whole": accuracy(net, as_input(kind, data.X_test, s), data.y_test) if ok else None,
        "seconds": f.seconds, "losses": f.losses, "diverged": f.diverged,
        "n_train": int(len(tr)), "n_test": int(len(te)),
    }


def train_report(kind: str, data: DigitData, seed: int, *, n_train: int, n_test: int, epochs: int,
                 n_batches: int, lr: float) -> dict[str, Any]:
    """One net at a report budget: plain gradient steps (the course's ``Optim``), the data cut into ``n_batches``."""
    tr, te = _subsets(data, seed, n_train, n_test)
    rng = np.random.default_rng(_seeds(seed)[1])
    net = BUILDERS[kind](data.side, rng)
    f = fit(net, CELogSoftmax(), as_input(kind, data.X_train[tr], data.side), data.y_train[tr], epochs=epochs, lr=lr,
            n_batches=n_batches, rng=rng)
    out = _evaluate(net, f, kind, data, tr, te)
    out.update(epochs=epochs, n_batches=n_batches, lr=lr, batch_size=-(-len(tr) // n_batches),
               steps=len(f.losses) * n_batches)
    return out


def train_large(kind: str, data: DigitData, seed: int, epochs: int) -> dict[str, Any]:
    """One net at the larger budget: whole training split, batch 32, momentum SGD, lr / 10 for the last quarter."""
    rng = np.random.default_rng(_seeds(seed)[1])
    net = BUILDERS[kind](data.side, rng)
    X = as_input(kind, data.X_train, data.side)
    biases = [n for n, _, _ in net.named_parameters() if n.endswith("bias")]
    opt = SGDOptimizer(net, LARGE_LR, momentum=LARGE_MOMENTUM, weight_decay=LARGE_WD, no_decay=biases)
    decay_from = epochs - epochs // 4

    def step_decay(epoch: int, _loss: float) -> None:
        if epoch + 1 == decay_from:
            opt.lr = LARGE_LR / 10

    f = fit(net, CELogSoftmax(), X, data.y_train, epochs=epochs, lr=LARGE_LR, batch_size=LARGE_BATCH, rng=rng,
            optimizer=opt, on_epoch=step_decay)
    everything = np.arange(len(data.X_train)), np.arange(len(data.X_test))
    out = _evaluate(net, f, kind, data, *everything)
    out.update(epochs=epochs, batch_size=LARGE_BATCH, lr=LARGE_LR,
               steps=len(f.losses) * -(-len(X) // LARGE_BATCH))
    return out


def sweep_run(kind: str, data: DigitData, seed: int, batch: int, lr: float,
              checkpoints: Sequence[int]) -> list[dict[str, Any]]:
    """Plain SGD on the whole training split; accuracies and training time read at each epoch of ``checkpoints``."""
    rng = np.random.default_rng(_seeds(seed)[1])
    net = BUILDERS[kind](data.side, rng)
    X, Xte = as_input(kind, data.X_train, data.side), as_input(kind, data.X_test, data.side)
    marks = set(checkpoints)
    rows: dict[int, dict[str, Any]] = {}
    spent = {"eval": 0.0}
    start = time.perf_counter()

    def on_epoch(epoch: int, _loss: float) -> None:
        if epoch + 1 in marks:
            t = time.perf_counter()
            rows[epoch + 1] = {"train": accuracy(net, X, data.y_train), "test": accuracy(net, Xte, data.y_test),
                               "seconds": t - start - spent["eval"]}
            spent["eval"] += time.perf_counter() - t

    f = fit(net, CELogSoftmax(), X, data.y_train, epochs=max(checkpoints), lr=lr, batch_size=batch, rng=rng,
            on_epoch=on_epoch)
    steps_per_epoch = -(-len(X) // batch)
    out = []
    for e in checkpoints:
        r = rows.get(e, {"train": None, "test": None, "seconds": None})  # missing: diverged before epoch e
        out.append({"batch": batch, "lr": lr, "epochs": e, "steps": e * steps_per_epoch, **r,
                    "diverged": f.diverged and e not in rows})
    return out
