"""``diy-multiclass``: the DIY report's §4, digit classification with a 2-linear-layer network and cross-entropy.

The report classifies USPS digits (16x16) with two linear layers, a SoftMax output and the cross-entropy of the
predicted probabilities (§4.1), trained for 150 iterations at learning rate 1e-2 with the training set cut into 20
batches, without shuffling (Table 4.1): 0.919 train / 0.892 test accuracy, its loss curve (Figure 4.3) and a few test
predictions beside their labels (Figure 4.4).

Ours, per seed, on :func:`~visionbench.studies._diy.digit_data` (USPS when present, else scikit-learn's 8x8
digits), ``Linear(d, h)-TanH-Linear(h, 10)`` with h = d / 2, at the report's configuration:

- part ``seed<k>``: two variants from the same initial weights on the same batches (no shuffling): Softmax +
  ``CELoss`` (cross-entropy on probabilities, the report's) and ``CELogSoftmax`` on the logits (the numerically safe
  form); and the first variant with the engine's batch-mean gradient instead of the summed one (see
  :class:`~visionbench.studies._diy.SummedGradient`); figures for the first seed: loss curves, the
  confusion matrix, a grid of test predictions with the mistakes in red;
- part ``variants``: both variants over seeds;
- part ``large-step``: both variants at ten times the learning rate, where they part ways (CE on probabilities
  clips its logarithm and freezes; CE on logits keeps its gradient and its loss grows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from visionbench.scratch import CELogSoftmax, CELoss, Linear, Loss, Sequential, Softmax, TanH
from visionbench.studies._diy import (
    DOC,
    DigitData,
    Fit,
    SummedGradient,
    accuracies,
    digit_data,
    fit,
    fmt3,
    image_grid_figure,
    loss_figure,
    one_thread,
    predict_labels,
    seed_parts,
)
from visionbench.studies._study import Part, Reference, Study, StudyRun

__all__ = ["STUDY", "build_net"]

EPOCHS, QUICK_EPOCHS = 150, 50
LR = 1e-2
LARGE_LR = 1e-1
N_BATCHES = 20
CLASSES = 10
CE_FLOOR = 1e-12  # CELoss's default clipping of the probabilities
SRC = "DIY report §4.2 (Table 4.1)"
REF_DATA = "USPS (16x16), 7,291 train / 2,007 test"
VARIANTS = {"softmax": "Softmax + CELoss (CE on probabilities)", "logsoftmax": "CELogSoftmax (CE on logits)"}


def build_net(d: int, seed: int, *, softmax: bool) -> Sequential:
    """``Linear(d, d/2)-TanH-Linear(d/2, 10)`` (+ ``Softmax``), weights drawn from ``seed`` (same for both variants)."""
    rng = np.random.default_rng(seed)
    hidden = d // 2
    layers = [Linear(d, hidden, rng=rng, dtype=np.float64), TanH(), Linear(hidden, CLASSES, rng=rng, dtype=np.float64)]
    return Sequential(*layers, Softmax()) if softmax else Sequential(*layers)


def _train(data: DigitData, seed: int, variant: str, *, epochs: int, lr: float, summed: bool = True
           ) -> tuple[Sequential, Fit]:
    net = build_net(data.X_train.shape[1], seed, softmax=variant == "softmax")
    loss: Loss = CELoss(CE_FLOOR) if variant == "softmax" else CELogSoftmax()
    if summed:
        loss = SummedGradient(loss)
    f = fit(net, loss, data.X_train, data.y_train, epochs=epochs, lr=lr, n_batches=N_BATCHES, shuffle=False,
            rng=np.random.default_rng(seed))
    return net, f


def _accuracies(net: Sequential, f: Fit, data: DigitData) -> tuple[float | None, float | None]:
    return accuracies(net, f, data.X_train, data.y_train, data.X_test, data.y_test)


def _confusion(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    cm = np.zeros((CLASSES, CLASSES), dtype=np.int64)
    np.add.at(cm, (np.asarray(y, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return cm


def _confusion_figure(cm: np.ndarray, title: str) -> Figure:
    fig = Figure(figsize=(5.2, 4.6), layout="constrained")
    ax = fig.add_subplot()
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(CLASSES):
        for j in range(CLASSES):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(CLASSES))
    ax.set_yticks(range(CLASSES))
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    return fig


def _prediction_grid(data: DigitData, pred: np.ndarray, seed: int, title: str) -> tuple[Figure, int]:
    """24 random test images and up to 8 mistakes, each captioned with its prediction and true label."""
    rng = np.random.default_rng(seed)
    wrong = np.flatnonzero(pred != data.y_test)
    shown_wrong = rng.permutation(wrong)[:8]
    rest = np.setdiff1d(np.arange(len(pred)), shown_wrong)
    idx = np.sort(np.r_[rng.choice(rest, size=min(24, len(rest)), replace=False), shown_wrong].astype(np.int64))
    captions = [f"pred {pred[i]} / true {data.y_test[i]}" for i in idx]
    colors = ["#d62728" if pred[i] != data.y_test[i] else "black" for i in idx]
    return image_grid_figure(data.X_test[idx], data.side, captions, cols=8, title=title, caption_colors=colors), \
        len(shown_wrong)


def _mean(values: Sequence[float | None]) -> float | str | None:
    nums = [v for v in values if v is not None]
    if not nums:
        return "diverged" if values else None
    return float(np.mean(nums))


@one_thread
def _run(study: StudyRun) -> None:
    epochs = QUICK_EPOCHS if study.quick else EPOCHS
    first = study.seeds[0]
    config = f"{epochs} iterations, lr {LR:g}, {N_BATCHES} batches, no shuffling"

    def seed_part(p: Part, seed: int) -> None:
        data = digit_data(study, p)
        where = f"{data.name}, {len(data.X_train)} train / {len(data.X_test)} test"
        hidden = data.X_train.shape[1] // 2
        if data.side != 16:
            p.note(f"Network: the report's Figure 4.2 is not in the text; ours is Linear({data.side ** 2}, "
                   f"{hidden})-TanH-Linear({hidden}, 10) on {data.side}x{data.side} images ({data.side ** 2} "
                   f"inputs instead of USPS's 256), the hidden width being half the input size.")
        out: dict[str, Any] = {}
        nets = {}
        for variant, prefix in (("softmax", ""), ("logsoftmax", "logsoftmax_")):
            net, f = _train(data, seed, variant, epochs=epochs, lr=LR)
            tr, te = _accuracies(net, f, data)
            nets[variant] = net
            out[variant] = {"train": tr, "test": te, "losses": f.losses, "diverged": f.diverged}
            p.value(f"{prefix}train_accuracy", tr, unit="accuracy", dataset=where, seed=seed,
                    label=f"train accuracy, {VARIANTS[variant]}")
            p.value(f"{prefix}test_accuracy", te, unit="accuracy", dataset=where, seed=seed,
                    label=f"test accuracy, {VARIANTS[variant]}")
        a, b = np.asarray(out["softmax"]["losses"]), np.asarray(out["logsoftmax"]["losses"])
        gap = float(np.max(np.abs(a - b))) if a.shape == b.shape else None
        preds = {v: predict_labels(nets[v], data.X_test) for v in nets}
        agree = float((preds["softmax"] == preds["logsoftmax"]).mean())
        p.value("variants_max_loss_gap", gap, unit="CE", dataset=where, seed=seed,
                label="largest gap between the two variants' training losses (any iteration)")
        p.value("variants_test_agreement", agree, unit="fraction", dataset=where, seed=seed,
                label="share of test images both variants classify the same way")
        net_mean, f_mean = _train(data, seed, "softmax", epochs=epochs, lr=LR, summed=False)
        tr_m, te_m = _accuracies(net_mean, f_mean, data)
        out["meangrad"] = {"train": tr_m, "test": te_m, "losses": f_mean.losses, "diverged": f_mean.diverged}
        p.value("meangrad_train_accuracy", tr_m, unit="accuracy", dataset=where, seed=seed,
                label="train accuracy, Softmax + CELoss, batch-mean gradient (the engine's Optim)")
        p.value("meangrad_test_accuracy", te_m, unit="accuracy", dataset=where, seed=seed,
                label="test accuracy, Softmax + CELoss, batch-mean gradient (the engine's Optim)")
        p.data = {k: {kk: vv for kk, vv in v.items() if kk != "losses"} for k, v in out.items()} | {
            "gap": gap, "agreement": agree, "data": where}
        if seed == first:
            better = "logsoftmax" if (out["logsoftmax"]["test"] or 0) > (out["softmax"]["test"] or 0) \
                else "softmax"
            p.figure(loss_figure({VARIANTS["softmax"]: out["softmax"]["losses"],
                                  VARIANTS["logsoftmax"]: out["logsoftmax"]["losses"],
                                  "Softmax + CELoss, batch-mean gradient": f_mean.losses},
                                 title="training cross-entropy", xlabel="iteration (epoch)", log=True),
                     f"loss-seed{seed}",
                     f"Mean training cross-entropy per iteration (seed {seed}, {config}). The two variants' "
                     f"curves lie on each other (largest gap {gap:.1e}); the batch-mean gradient takes steps "
                     f"{len(data.X_train) // N_BATCHES} times smaller and lags behind (report Figure 4.3).")
            cm = _confusion(data.y_test, preds[better])
            p.figure(_confusion_figure(cm, f"{VARIANTS[better].split(' (')[0]}, test set"),
                     f"confusion-seed{seed}",
                     f"Confusion matrix on the test set (seed {seed}) of {VARIANTS[better]}, the variant with "
                     f"the better test accuracy ({fmt3(out[better]['test'])}; the Softmax variant wins ties). "
                     f"Rows: true digit; colour: share of that digit; numbers: counts.")
            fig, n_wrong = _prediction_grid(data, preds[better], seed, "test predictions")
            p.figure(fig, f"predictions-seed{seed}",
                     f"Test images with the prediction of {VARIANTS[better]} and the true label (seed {seed}): "
                     f"{32 - n_wrong} drawn at random among the others and {n_wrong} of the mistakes, in red "
                     f"(report Figure 4.4).")
    seed_parts(study, ("", seed_part, "Softmax + CE against LogSoftmax CE"))

    def variants(p: Part) -> None:
        per_seed = [study.data_of(f"seed{s}") for s in study.seeds]
        rows = []
        for key, name in (("softmax", VARIANTS["softmax"] + ", summed gradient"),
                          ("logsoftmax", VARIANTS["logsoftmax"] + ", summed gradient"),
                          ("meangrad", VARIANTS["softmax"] + ", batch-mean gradient")):
            rows.append([name, _mean([d[key]["train"] for d in per_seed]), _mean([d[key]["test"] for d in per_seed]),
                         0.919 if key == "softmax" else None, 0.892 if key == "softmax" else None])
        seeds = ", ".join(map(str, study.seeds))
        p.table("The two cross-entropies at the report's configuration",
                ["variant", "train accuracy", "test accuracy", "train (report)", "test (report)"], rows,
                f"Mean over seeds {seeds}; {config}; data: {per_seed[0]['data']}. Same initial weights and same "
                f"batches for every row of a seed. The report used the first row's formulation, on USPS.")
        gaps = [d["gap"] for d in per_seed if d["gap"] is not None]
        if gaps:
            p.note(f"Softmax + CELoss and CELogSoftmax compute the same gradient (softmax minus one-hot) unless a "
                   f"probability falls under CELoss's clipping floor (1e-12): at the report's configuration their "
                   f"training losses never differ by more than {max(gaps):.1e} and they agree on "
                   f"{min(d['agreement'] for d in per_seed):.1%} of the test images (the lowest over seeds). They part "
                   f"at larger steps (part 'large-step').")
    study.part("variants", variants, title="The two cross-entropies over seeds")

    def large_step(p: Part) -> None:
        data = digit_data(study)
        where = f"{data.name}, {len(data.X_train)} train / {len(data.X_test)} test"
        rows, curves = [], {}
        for variant, prefix in (("softmax", "large_lr_"), ("logsoftmax", "large_lr_logsoftmax_")):
            net, f = _train(data, first, variant, epochs=epochs, lr=LARGE_LR)
            tr, te = _accuracies(net, f, data)
            with np.errstate(over="ignore", invalid="ignore"):
                out = net.forward(data.X_train)
                probs = out if variant == "softmax" else np.exp(out - out.max(axis=1, keepdims=True))
                probs = probs / probs.sum(axis=1, keepdims=True)
            floored = float((probs[np.arange(len(probs)), data.y_train] < CE_FLOOR).mean())
            p.value(f"{prefix}test_accuracy", te, unit="accuracy", dataset=where, seed=first,
                    label=f"test accuracy, {VARIANTS[variant]}, lr {LARGE_LR:g}")
            p.value(f"{prefix}floored_share", floored, unit="fraction", dataset=where, seed=first,
                    label=f"training images with p(true class) < {CE_FLOOR:g} at the end, {VARIANTS[variant]}, "
                          f"lr {LARGE_LR:g}")
            last = f.losses[-1] if f.losses else None
            rows.append([VARIANTS[variant], tr, te, last, floored, "diverged" if f.diverged else "finite"])
            curves[VARIANTS[variant]] = f.losses
        p.table(f"Ten times the learning rate (lr {LARGE_LR:g})",
                ["variant", "train accuracy", "test accuracy", "last training loss",
                 f"share of training images with p(true) < {CE_FLOOR:g}", "loss"], rows,
                f"Seed {first}, otherwise the report's configuration. Both networks saturate at once: most images get "
                f"a true-class probability below CELoss's floor ({CE_FLOOR:g}). On probabilities, such an image costs "
                f"the constant -log({CE_FLOOR:g}) = {-np.log(CE_FLOOR):.1f} and sends back almost no gradient, so "
                f"the loss sits flat; on logits it costs its true (larger) value and keeps a full gradient, so the "
                f"weights keep jumping and the loss oscillates high. Neither learns.")
        p.figure(loss_figure(curves, title=f"training cross-entropy at lr {LARGE_LR:g}"),
                 f"loss-large-lr-seed{first}",
                 f"Training cross-entropy per iteration at lr {LARGE_LR:g} (seed {first}): flat near the clipped "
                 f"value for CE on probabilities, oscillating far above it for CE on logits.")
    study.part("large-step", large_step, title="Ten times the learning rate: where the two cross-entropies differ")


STUDY = Study(
    name="diy-multiclass",
    title="DIY report §4: digit classification with two linear layers, Softmax + cross-entropy",
    description="Linear-TanH-Linear on digits at the report's configuration (150 iterations, lr 1e-2, 20 batches, "
                "no shuffling): Softmax + CE on probabilities against CE on logits, confusion matrix, predictions.",
    document=DOC,
    section="§4 Multi-classes (Table 4.1, Figures 4.3, 4.4)",
    references=(
        Reference("train_accuracy", 0.919, "accuracy", SRC, REF_DATA,
                  "2 linear layers, SoftMax + cross-entropy, 150 iterations, lr 1e-2, 20 batches, no shuffling"),
        Reference("test_accuracy", 0.892, "accuracy", SRC, REF_DATA, "same network, test"),
    ),
    run=_run,
    seconds=4.5,
    seconds_quick=2.8,
    seeds=(0, 1, 2),
    datasets=("digits", "usps"),
    differences=(
        "The report gives neither the hidden width nor the activation between its two linear layers (Figure 4.2 is "
        "not in the text); ours is TanH (the report's preferred activation, §3.3.3) with half as many hidden units "
        "as inputs, Xavier initialisation, float64.",
        "Gradient scale: the batch gradient is summed over the batch (the report's checkerboard numbers suggest "
        "its code did so, see diy-checkerboard), not averaged as in this engine's Optim; the batch-mean row of the "
        "table shows the other reading, which trains with steps batch-size times smaller.",
        "The report compares no loss formulations; we add CELogSoftmax on logits beside its Softmax + CE on "
        "probabilities, from the same initial weights on the same batches, and a ten-times larger step.",
        f"Quick mode (the tests): {QUICK_EPOCHS} iterations instead of {EPOCHS}; a smoke test, not the report's "
        "protocol.",
    ),
)
