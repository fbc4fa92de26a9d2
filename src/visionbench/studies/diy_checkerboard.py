"""``diy-checkerboard``: the DIY report's §3.3.2 and §3.3.3, hyper-parameters of a 4-layer network on a checkerboard.

The report trains a "4-layer" TanH network ending with a Sigmoid on the course's checkerboard data (8 x 8 unit squares
on [-4, 4]^2) by mini-batch SGD, where the *number of batches* is how many equal batches the training set is cut
into per iteration (one iteration = one pass over the data). It sweeps iterations x number of batches (Table 3.1,
best: 1,500 iterations and 10 batches, 0.906 train / 0.782 test accuracy), then the learning rate at that
configuration (Table 3.2: 1e-2 best, 1e-3 too slow, 1e-1 oscillates and ends at chance, Figure 3.5), and notes
(§3.3.3) that a 2-layer network never passes 60 % whatever its width.

Ours, per seed (the data and the initial weights come from the seed; every run of one seed starts from the same
weights), on ``gen_arti("checkerboard")`` with 1,000 training and 1,000 test points, inputs standardised with the
training statistics, ``Linear(2, 32)-TanH-Linear(32, 32)-TanH-Linear(32, 32)-TanH-Linear(32, 1)-Sigmoid`` and MSE on
0/1 labels, the batch gradient *summed* over the batch (see :class:`~visionbench.studies._diy.SummedGradient`):

- part ``grid-seed<k>``: one run per number of batches, as long as the longest iteration count; the accuracies at
  the shorter counts are read on the way (a run of 300 iterations is the first 300 iterations of the longer one);
- part ``grid``: the mean over seeds as heat-map tables and a heat-map figure;
- part ``lr-seed<k>`` and ``learning-rate``: learning rates 1e-3 and 1e-1 at the report's best configuration (1e-2
  is the grid's cell), the decision boundaries and the loss curves, and 1e-2 with the engine's batch-mean gradient;
- part ``two-layer-seed<k>`` and ``two-layer``: ``Linear(2, h)-TanH-Linear(h, 1)-Sigmoid`` for several widths h at
  the same configuration, against the 4-layer network.

A run whose loss becomes non-finite is marked diverged and its accuracies are n/a; a run that ends predicting one
class everywhere is reported as such (its accuracy is the class frequency).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from visionbench.scratch import Linear, Loss, Module, MSELoss, Sequential, Sigmoid, TanH
from visionbench.studies._diy import (
    DOC,
    Fit,
    SummedGradient,
    accuracies,
    accuracy,
    batches_text,
    boundary_figure,
    fit,
    fmt3,
    gen_arti,
    loss_figure,
    mean_of,
    one_thread,
    predict_labels,
    seed_parts,
    state_from_json,
    state_to_json,
)
from visionbench.studies._study import Part, Reference, Study, StudyRun

__all__ = ["STUDY"]

N_POINTS = 1000
LEARNED = 0.6  # test accuracy under which a run is called "near chance" (the report's bar for the 2-layer network)
HIDDEN = 32
LR = 1e-2
LRS, QUICK_LRS = (1e-3, 1e-2, 1e-1), (1e-2, 1e-1)
ITERATIONS, QUICK_ITERATIONS = (300, 600, 1000, 1500, 2000), (200, 1000)
BATCHES, QUICK_BATCHES = (1, 5, 10, 20, 30, 40), (1, 10)
BEST, QUICK_BEST = (1500, 10), (1000, 10)  # the report's best configuration (iterations, number of batches)
WIDTHS, QUICK_WIDTHS = (8, 32, 128), (16,)
DATA = f"checkerboard (8x8 unit squares on [-4, 4]^2, noise 0.02), {N_POINTS} train / {N_POINTS} test"
SRC_31, SRC_32 = "DIY report §3.3.2, Table 3.1", "DIY report §3.3.2, Table 3.2"
REF_DATA = "checkerboard (size unstated)"

#: The report's Table 3.1: (iterations, number of batches) -> (train accuracy, test accuracy).
TABLE_31 = {(1500, 10): (0.906, 0.782), (2000, 10): (0.93, 0.781), (1000, 10): (0.842, 0.753),
            (600, 10): (0.747, 0.702), (600, 30): (0.728, 0.682), (600, 20): (0.735, 0.674),
            (600, 5): (0.692, 0.661), (300, 30): (0.633, 0.628), (300, 40): (0.628, 0.626), (600, 1): (0.525, 0.523)}
#: The report's Table 3.2 at 1,500 iterations and 10 batches: learning rate -> (train, test).
TABLE_32 = {1e-2: (0.906, 0.782), 1e-3: (0.596, 0.586), 1e-1: (0.5, 0.485)}


def _settings(quick: bool) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, int], tuple[float, ...],
                                    tuple[int, ...]]:
    """(iteration counts, batch counts, best configuration, learning rates, 2-layer widths)."""
    if quick:
        return QUICK_ITERATIONS, QUICK_BATCHES, QUICK_BEST, QUICK_LRS, QUICK_WIDTHS
    return ITERATIONS, BATCHES, BEST, LRS, WIDTHS


def _data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardised training and test checkerboards of the seed, and the raw training points (for the figure)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    Xtr, ytr = gen_arti("checkerboard", N_POINTS, rng)
    Xte, yte = gen_arti("checkerboard", N_POINTS, rng)
    mean, std = Xtr.mean(axis=0), Xtr.std(axis=0)
    return (Xtr - mean) / std, ytr, (Xte - mean) / std, yte, Xtr


def _model_rng(seed: int) -> np.random.Generator:
    """The generator of a run's initial weights and batch order: the same for every run of one seed."""
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])


def four_layer(rng: np.random.Generator, hidden: int = HIDDEN) -> Sequential:
    """The report's "4-layer" network (its Figure 3.3 is not in the text): four Linear layers, TanH, Sigmoid."""
    return Sequential(Linear(2, hidden, rng=rng, dtype=np.float64), TanH(),
                      Linear(hidden, hidden, rng=rng, dtype=np.float64), TanH(),
                      Linear(hidden, hidden, rng=rng, dtype=np.float64), TanH(),
                      Linear(hidden, 1, rng=rng, dtype=np.float64), Sigmoid())


def two_layer(rng: np.random.Generator, hidden: int) -> Sequential:
    """§3.3.3's 2-layer network: Linear(2, h)-TanH-Linear(h, 1)-Sigmoid."""
    return Sequential(Linear(2, hidden, rng=rng, dtype=np.float64), TanH(),
                      Linear(hidden, 1, rng=rng, dtype=np.float64), Sigmoid())


def _train(net: Module, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, epochs: int, lr: float,
           n_batches: int, summed: bool = True, on_epoch: Callable[[int, float], None] | None = None) -> Fit:
    loss: Loss = SummedGradient(MSELoss()) if summed else MSELoss()
    return fit(net, loss, X, y[:, None].astype(np.float64), epochs=epochs, lr=lr, n_batches=n_batches, rng=rng,
               on_epoch=on_epoch)


def _status(net: Module, f: Fit, X: np.ndarray, y: np.ndarray) -> str:
    """``diverged`` (non-finite loss), ``one class`` (the same prediction everywhere), ``near chance`` (accuracy on
    ``X`` below :data:`LEARNED`) or ``learned``."""
    if f.diverged:
        return "diverged"
    if len(np.unique(predict_labels(net, X))) == 1:
        return "one class"
    return "learned" if accuracy(net, X, y) >= LEARNED else "near chance"


def _grid_best(grid: dict[str, Any], seed: int) -> Module:
    """The grid's network at the best configuration (its initial weights if that run diverged before)."""
    net = four_layer(_model_rng(seed))
    return state_from_json(net, grid["best_state"]) if "best_state" in grid else net


def _cell(it: int, nb: int) -> str:
    return f"it{it}_b{nb}"


def _mean_cell(values: Sequence[float | None]) -> float | str | None:
    """A table cell: the mean over seeds, ``diverged`` when every seed diverged, with a count when some did."""
    nums = [v for v in values if v is not None]
    if not nums:
        return "diverged" if values else None
    if len(nums) < len(values):
        return f"{np.mean(nums):.3f} ({len(values) - len(nums)} of {len(values)} diverged)"
    return float(np.mean(nums))


def _seeds_text(seeds: Sequence[int]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"


def _data_figure(X: np.ndarray, y: np.ndarray, seed: int) -> Figure:
    fig = Figure(figsize=(4.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(X[:, 0], X[:, 1], c=np.where(y > 0, "#1f77b4", "#d62728"), s=6, linewidths=0)
    ax.set(title=f"checkerboard training set (seed {seed})", xlim=(-4.2, 4.2), ylim=(-4.2, 4.2), aspect="equal")
    ax.set_xticks(range(-4, 5))
    ax.set_yticks(range(-4, 5))
    ax.grid(alpha=0.3)
    return fig


def _heatmap_figure(iterations: Sequence[int], batches: Sequence[int],
                    grids: dict[str, list[list[float | None]]], title: str) -> Figure:
    """One annotated heat map per named grid (rows: iterations, columns: number of batches); n/a cells hatched."""
    fig = Figure(figsize=(0.9 * len(batches) * len(grids) + 2.5, 0.55 * len(iterations) + 1.8), layout="constrained")
    axes = fig.subplots(1, len(grids), squeeze=False)[0]
    image = None
    for ax, (name, grid) in zip(axes, grids.items(), strict=True):
        values = np.array([[np.nan if v is None else v for v in row] for row in grid], dtype=float)
        image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", vmin=0.4, vmax=1.0, aspect="auto")
        for i in range(len(iterations)):
            for j in range(len(batches)):
                v = values[i, j]
                text = "div." if not np.isfinite(v) else f"{v:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if np.isfinite(v) and v < 0.75 else "black")
        ax.set_xticks(range(len(batches)), [str(b) for b in batches])
        ax.set_yticks(range(len(iterations)), [str(i) for i in iterations])
        ax.set(xlabel="number of batches", ylabel="iterations (epochs)", title=name)
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="accuracy")
    fig.suptitle(title)
    return fig


@one_thread
def _run(study: StudyRun) -> None:
    iterations, batches, best, lrs, widths = _settings(study.quick)
    seeds = study.seeds
    first = seeds[0]
    longest = max(iterations)

    def grid_part(p: Part, seed: int) -> None:
        Xtr, ytr, Xte, yte, raw = _data(seed)
        cells: dict[str, list[float | None]] = {}
        out: dict[str, Any] = {}
        for nb in batches:
            rng = _model_rng(seed)
            net = four_layer(rng)

            def checkpoint(epoch: int, _loss: float, net: Module = net, nb: int = nb) -> None:
                if epoch + 1 in iterations:
                    cells[_cell(epoch + 1, nb)] = [accuracy(net, Xtr, ytr), accuracy(net, Xte, yte)]
                if (epoch + 1, nb) == best:
                    out["best_state"] = state_to_json(net)

            f = _train(net, Xtr, ytr, rng, epochs=longest, lr=LR, n_batches=nb, on_epoch=checkpoint)
            if nb == best[1]:
                out["best_losses"] = f.losses[:best[0]]
            if f.diverged:
                p.note(f"Seed {seed}: the {nb}-batch run diverged after {len(f.losses) - 1} iterations; the "
                       f"later cells are n/a.")
            for it in iterations:
                tr, te = cells.setdefault(_cell(it, nb), [None, None])
                p.value(f"acc_train_{_cell(it, nb)}", tr, unit="accuracy", dataset=DATA, seed=seed,
                        label=f"train accuracy, {it} iterations, {batches_text(nb)}")
                p.value(f"acc_test_{_cell(it, nb)}", te, unit="accuracy", dataset=DATA, seed=seed,
                        label=f"test accuracy, {it} iterations, {batches_text(nb)}")
        p.data = out | {"cells": cells}
        if seed == first:
            p.figure(_data_figure(raw, ytr, seed), f"data-seed{seed}",
                     f"The checkerboard training set (seed {seed}, before standardisation): uniform on "
                     f"[-4, 4]^2, the class alternates on unit squares (report Figure 3.2).")
    seed_parts(study, ("grid", grid_part, "Iterations x number of batches"), seeds=seeds)

    def grid_summary(p: Part) -> None:
        per_seed = [study.data_of(f"grid-seed{s}")["cells"] for s in seeds]
        means: dict[str, list[list[float | None]]] = {"train accuracy": [], "test accuracy": []}
        for col, name in ((0, "train accuracy"), (1, "test accuracy")):
            rows = []
            for it in iterations:
                cells = [_mean_cell([d[_cell(it, nb)][col] for d in per_seed]) for nb in batches]
                rows.append([it, *cells])
                means[name].append([mean_of([d[_cell(it, nb)][col] for d in per_seed]) for nb in batches])
            p.table(f"Mean {name} (rows: iterations, columns: number of batches)",
                    ["iterations", *[batches_text(nb) for nb in batches]], rows,
                    f"Mean over {_seeds_text(seeds)} (per-seed values and standard deviations: "
                    f"the comparison table above); lr {LR}, summed batch gradients. The report's Table 3.1 lists "
                    f"10 of these cells (best: 1500 iterations, 10 batches, 0.906 train / 0.782 test).")
        test = means["test accuracy"]
        flat = [(v, it, nb) for i, it in enumerate(iterations) for j, nb in enumerate(batches)
                if (v := test[i][j]) is not None]
        if flat:
            v, it, nb = max(flat)
            p.note(f"Our best grid cell (mean test accuracy over {_seeds_text(seeds)}) is {it} iterations with "
                   f"{batches_text(nb)} ({v:.3f}); the report's is 1500 iterations with 10 batches (0.782). The "
                   f"learning-rate sweep uses the report's configuration.")
        last = test[-1]
        if 1 in batches and len(batches) > 2 and None not in last:
            others = [v for nb, v in zip(batches, last, strict=True) if nb != 1]
            p.note(f"Number of batches: at {iterations[-1]} iterations the mean test accuracy is {min(others):.3f}-"
                   f"{max(others):.3f} for {min(batches[1:])} to {max(batches)} batches against "
                   f"{last[batches.index(1)]:.3f} for one batch. With summed gradients a pass over the data moves "
                   f"the weights by about the same total whatever the number of batches; more batches mostly split "
                   f"it into more, smaller steps, which matters most between one batch and a few.")
        if {1500, 2000} <= set(iterations) and 10 in batches:
            a, b = test[iterations.index(1500)][batches.index(10)], test[iterations.index(2000)][batches.index(10)]
            if a is not None and b is not None:
                p.note(f"Over-fitting: with 10 batches our mean test accuracy goes from {a:.3f} at 1500 iterations "
                       f"to {b:.3f} at 2000; the report's went from 0.782 to 0.781, which it read as the start of "
                       f"over-fitting.")
        p.figure(_heatmap_figure(iterations, batches, means, "checkerboard, 4-layer network, lr 0.01"),
                 "heatmap-iterations-batches",
                 f"Mean train and test accuracy over {_seeds_text(seeds)} for each number of "
                 f"iterations and of batches (report Table 3.1 as a heat map; 'div.' marks a diverged cell).")
    study.part("grid", grid_summary, title="Iterations x number of batches: heat maps (mean over seeds)")

    def lr_part(p: Part, seed: int) -> None:
        Xtr, ytr, Xte, yte, _ = _data(seed)
        grid = study.data_of(f"grid-seed{seed}")
        results: dict[str, dict[str, Any]] = {}
        panels = []
        curves: dict[str, list[float]] = {}
        for lr in lrs:
            if lr == LR:  # the grid's run at this configuration, same seed, same start
                net, f = _grid_best(grid, seed), Fit(grid["best_losses"], "best_state" not in grid)
            else:
                rng = _model_rng(seed)
                net = four_layer(rng)
                f = _train(net, Xtr, ytr, rng, epochs=best[0], lr=lr, n_batches=best[1])
            status = _status(net, f, Xte, yte)
            tr, te = accuracies(net, f, Xtr, ytr, Xte, yte)
            results[f"{lr:g}"] = {"train": tr, "test": te, "status": status, "final_loss": f.losses[-1]}
            p.value(f"acc_train_lr{lr:g}", tr, unit="accuracy", dataset=DATA, seed=seed,
                    label=f"train accuracy, lr {lr:g} ({best[0]} iterations, {best[1]} batches)")
            p.value(f"acc_test_lr{lr:g}", te, unit="accuracy", dataset=DATA, seed=seed,
                    label=f"test accuracy, lr {lr:g} ({best[0]} iterations, {best[1]} batches)")
            curves[f"lr {lr:g}"] = f.losses
            panels.append((f"lr {lr:g}: test acc {fmt3(te)} ({status})", net, Xte, yte))
        if not study.quick:
            rng = _model_rng(seed)
            net = four_layer(rng)
            f = _train(net, Xtr, ytr, rng, epochs=best[0], lr=LR, n_batches=best[1], summed=False)
            tr, te = accuracies(net, f, Xtr, ytr, Xte, yte)
            results["meangrad"] = {"train": tr, "test": te, "status": _status(net, f, Xte, yte),
                                   "final_loss": f.losses[-1]}
            p.value(f"acc_train_lr{LR:g}_meangrad", tr, unit="accuracy", dataset=DATA, seed=seed,
                    label=f"train accuracy, lr {LR:g}, batch-mean gradient (the engine's Optim)")
            p.value(f"acc_test_lr{LR:g}_meangrad", te, unit="accuracy", dataset=DATA, seed=seed,
                    label=f"test accuracy, lr {LR:g}, batch-mean gradient (the engine's Optim)")
        p.data = {"results": results}
        if seed == first:
            p.figure(boundary_figure(panels, title=f"{best[0]} iterations, {best[1]} batches, test points"),
                     f"boundary-lr-seed{seed}",
                     f"Decision regions on the test points for the three learning rates (seed {seed}); the "
                     f"lr {LR:g} panel is the report's best configuration (Figure 3.4).")
            p.figure(loss_figure(curves, title="training loss (MSE) by learning rate"), f"loss-lr-seed{seed}",
                     f"Mean training MSE per iteration (seed {seed}). At lr 0.1 the loss oscillates around 0.25, "
                     f"the error of answering 0.5 everywhere, and can jump higher when the output saturates on the "
                     f"wrong side; the network never fits the squares (report Figure 3.5). A cross would mark a "
                     f"non-finite loss.")
    seed_parts(study, ("lr", lr_part, "Learning rate at the best configuration"), seeds=seeds)

    def lr_summary(p: Part) -> None:
        per_seed = [study.data_of(f"lr-seed{s}")["results"] for s in seeds]
        rows = []
        keys = [f"{lr:g}" for lr in lrs] + (["meangrad"] if "meangrad" in per_seed[0] else [])
        for key in keys:
            res = [d[key] for d in per_seed]
            statuses = sorted({r["status"] for r in res})
            name = f"{key} (summed gradient)" if key != "meangrad" else f"{LR:g} (batch-mean gradient)"
            ref = TABLE_32.get(float(key)) if key != "meangrad" else None
            rows.append([name, _mean_cell([r["train"] for r in res]), _mean_cell([r["test"] for r in res]),
                         ref[0] if ref else None, ref[1] if ref else None, ", ".join(statuses)])
        p.table(f"Learning rate at {best[0]} iterations and {best[1]} batches",
                ["learning rate", "train accuracy (ours)", "test accuracy (ours)", "train (report)",
                 "test (report)", "outcome"], rows,
                f"Mean over {_seeds_text(seeds)}. Outcome (per seed): 'learned' (test accuracy >= {LEARNED}), "
                f"'near chance' (below), 'one class' (the network answers the same class everywhere, so its "
                f"accuracy is that class's share) or 'diverged' (non-finite loss, accuracy n/a)."
                + (f" The batch-mean row is the lr {LR:g} run with the engine's Optim, which averages the gradient "
                   f"over the batch: steps {N_POINTS // best[1]} times smaller." if "meangrad" in keys else ""))
        high = [d[f"{lrs[-1]:g}"] for d in per_seed]
        if all(r["status"] != "learned" for r in high):
            p.note(f"At lr {lrs[-1]:g} our runs end as the report's do, at chance (outcomes: "
                   f"{', '.join(sorted({r['status'] for r in high}))}), without a non-finite loss: MSE on a "
                   f"Sigmoid output is bounded, so the 'divergence' of the report's Figure 3.5 is an oscillating, "
                   f"saturated network rather than an overflow.")
    study.part("learning-rate", lr_summary, title="Learning rate: 1e-3, 1e-2, 1e-1 (Table 3.2)")

    def two_layer_part(p: Part, seed: int) -> None:
        Xtr, ytr, Xte, yte, _ = _data(seed)
        results: dict[str, list[float | None]] = {}
        nets = []
        for h in widths:
            rng = _model_rng(seed)
            net = two_layer(rng, h)
            f = _train(net, Xtr, ytr, rng, epochs=best[0], lr=LR, n_batches=best[1])
            tr, te = accuracies(net, f, Xtr, ytr, Xte, yte)
            results[str(h)] = [tr, te]
            nets.append((h, net, te))
            p.value(f"two_layer_train_accuracy_h{h}", tr, unit="accuracy", dataset=DATA, seed=seed,
                    label=f"train accuracy, 2-layer network, {h} hidden units")
            p.value(f"two_layer_test_accuracy_h{h}", te, unit="accuracy", dataset=DATA, seed=seed,
                    label=f"test accuracy, 2-layer network, {h} hidden units")
        tests = [te for _, te in results.values() if te is not None]
        p.value("two_layer_best_test_accuracy", max(tests) if tests else None, unit="accuracy", dataset=DATA,
                seed=seed, label="best test accuracy of the 2-layer networks (over widths)")
        p.data = {"results": results}
        if seed == first:
            grid = study.data_of(f"grid-seed{seed}")
            four = _grid_best(grid, seed)
            h, net, te = nets[-1]
            p.figure(boundary_figure([(f"2-layer, h={h}: test acc {fmt3(te)}", net, Xte, yte),
                                      (f"4-layer: test acc {fmt3(accuracy(four, Xte, yte))}", four, Xte, yte)]),
                     f"boundary-two-layer-seed{seed}",
                     f"The widest 2-layer network against the 4-layer one, same data, learning rate, batches and "
                     f"iterations ({best[0]} iterations, {best[1]} batches, lr {LR:g}; seed {seed}).")
    seed_parts(study, ("two-layer", two_layer_part, "§3.3.3: a 2-layer network"), seeds=seeds)

    def two_layer_summary(p: Part) -> None:
        per_seed = [study.data_of(f"two-layer-seed{s}")["results"] for s in seeds]
        grids = [study.data_of(f"grid-seed{s}")["cells"][_cell(*best)] for s in seeds]
        rows = [[f"Linear(2,{h})-TanH-Linear({h},1)-Sigmoid", _mean_cell([d[str(h)][0] for d in per_seed]),
                 _mean_cell([d[str(h)][1] for d in per_seed])] for h in widths]
        rows.append([f"4-layer, {HIDDEN} units per hidden layer", _mean_cell([g[0] for g in grids]),
                     _mean_cell([g[1] for g in grids])])
        p.table("2-layer networks against the 4-layer one", ["network", "train accuracy", "test accuracy"], rows,
                f"Mean over {_seeds_text(seeds)}; {best[0]} iterations, {best[1]} batches, "
                f"lr {LR:g}, same data and summed gradients. The report: the 2-layer network never passes 60 %, "
                f"whatever its hidden width.")
    study.part("two-layer", two_layer_summary, title="§3.3.3: 2 layers against 4 (mean over seeds)")


def _references() -> tuple[Reference, ...]:
    refs = []
    for (it, nb), (tr, te) in TABLE_31.items():
        refs.append(Reference(f"acc_train_{_cell(it, nb)}", tr, "accuracy", SRC_31, REF_DATA,
                              f"{it} iterations, {nb} batches, lr 1e-2, train"))
        refs.append(Reference(f"acc_test_{_cell(it, nb)}", te, "accuracy", SRC_31, REF_DATA,
                              f"{it} iterations, {nb} batches, lr 1e-2, test"))
    for lr, (tr, te) in TABLE_32.items():
        refs.append(Reference(f"acc_train_lr{lr:g}", tr, "accuracy", SRC_32, REF_DATA,
                              f"lr {lr:g}, 1500 iterations, 10 batches, train"))
        refs.append(Reference(f"acc_test_lr{lr:g}", te, "accuracy", SRC_32, REF_DATA,
                              f"lr {lr:g}, 1500 iterations, 10 batches, test"))
    refs.append(Reference("two_layer_best_test_accuracy", 0.6, "accuracy", "DIY report §3.3.3", REF_DATA,
                          "an upper bound: a 2-layer network 'never above 60 %' whatever its hidden width"))
    return tuple(refs)


STUDY = Study(
    name="diy-checkerboard",
    title="DIY report §3.3.2-§3.3.3: iterations, batches and learning rate of a 4-layer network on a checkerboard",
    description="4-layer TanH/Sigmoid network on the checkerboard: iterations x number of batches and learning-rate "
                "sweeps as heat maps, divergence at lr 0.1, a 2-layer network for comparison.",
    document=DOC,
    section="§3.3.2 Variation des hyper-paramètres sur le dataset Échiquier (Tables 3.1-3.3, Figures 3.2-3.5) and "
            "§3.3.3 Expérimentations supplémentaires",
    references=_references(),
    run=_run,
    seconds=83.0,
    seconds_quick=5.0,
    seeds=(0, 1, 2),
    seeds_quick=(0,),
    differences=(
        f"Network: the report's Figure 3.3 (its '4-layer' architecture) is not in the text; ours is "
        f"Linear(2,{HIDDEN})-TanH-Linear({HIDDEN},{HIDDEN})-TanH-Linear({HIDDEN},{HIDDEN})-TanH-Linear({HIDDEN},1)-"
        f"Sigmoid with Xavier initialisation, float64, trained with MSE on 0/1 labels (the report does not name its "
        f"loss). The 2-layer networks of §3.3.3 are Linear(2,h)-TanH-Linear(h,1)-Sigmoid with h in "
        f"{', '.join(map(str, WIDTHS))}.",
        f"Data: the report does not give the size of its checkerboard; ours is the course's gen_arti default, "
        f"{N_POINTS} training and {N_POINTS} test points, noise 0.02, standardised with the training mean and "
        f"standard deviation (the report says it normalises its data).",
        "Gradient scale: the batch gradient is summed over the batch, not averaged as in this engine's Optim; with "
        "the average, lr 1e-2 learns nothing in 1,500 iterations (the 'batch-mean' row of the learning-rate table), "
        "while the summed version reproduces the report's ordering of the three "
        "learning rates. We infer this from the numbers; the report does not say.",
        "Protocol: one iteration = one pass over the training set cut into the given number of batches, reshuffled "
        "every iteration. Each number of batches is one run as long as the longest iteration count, read at the "
        "shorter counts (identical to separate runs from the same start). Every run of a seed starts from the same "
        "initial weights. The report shows one run per cell; we average seeds 0, 1 and 2 by default (--seeds).",
        "Quick mode (the tests): the first seed only, iterations 200 and 1000, 1 and 10 batches, learning rates 1e-2 "
        "and 1e-1 at 1000 iterations and 10 batches, one 2-layer width (16); a smoke test, not the report's protocol.",
    ),
)
