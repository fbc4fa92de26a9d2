"""Settings and numeric helpers of study ``diy-autoencoder``: auto-encoder and classifier training, corruption,
reconstruction errors, cluster purity.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from visionbench.scratch import (
    AutoEncoder,
    BCELoss,
    CELogSoftmax,
    Linear,
    Module,
    ReLU,
    Sequential,
    Softmax,
    TanH,
)
from visionbench.studies._diy import DigitData, fit, state_from_json

# Auto-encoder training (the report gives no schedule): the course's plain SGD step on BCE summed over pixels.
AE_LR, AE_BATCH, AE_EPOCHS, AE_EPOCHS_QUICK = 0.03, 32, 200, 30
K = 10  # k-means clusters, one per digit
N_INIT = 10  # k-means restarts
# The latent classifier: Table 5.2's network at the multi-class chapter's settings (Table 4.1: 150 iterations,
# lr 1e-2, 20 batches, no shuffling), the report giving none for §5.2.3.
CLF_HIDDEN, CLF_LR, CLF_EPOCHS, CLF_BATCHES = 32, 1e-2, 150, 20
# Quick mode keeps the 150 iterations for Table 5.2's two networks (they learn slowly) and gives the other
# classifiers (on logits, the learning-rate sweep, the epochs part) 50.
CLF_EPOCHS_QUICK_OTHER = 50
# Denoising: Gaussian noise (clipped to [0, 1]) and masking noise (pixels set to 0).
NOISE_SIGMA, MASK_P = 0.3, 0.3
NOISES = {"gaussian": f"Gaussian noise, sigma {NOISE_SIGMA}, clipped to [0, 1]",
          "masking": f"masking noise, each pixel set to 0 with probability {MASK_P}"}
TSNE_QUICK_POINTS = 200
SWEEP_LRS, SWEEP_LRS_QUICK = (1e-2, 1e-1, 1.0), (1e-2, 1.0)  # the latent classifiers' learning-rate sweep
EPOCH_CHECKPOINTS, EPOCH_CHECKPOINTS_QUICK = (10, 30, 100, AE_EPOCHS, 500), (10, AE_EPOCHS_QUICK)
SHOWN = 8  # images per row in the reconstruction figures

#: The report's Figure 5.5: (majority label, purity) of every cluster, as numbered there.
REPORT_PURITY_RAW = ((2, 0.964059), (3, 0.477407), (7, 0.537313), (6, 0.592244), (0, 0.827737), (8, 0.398668),
                     (1, 0.909338), (9, 0.450000), (0, 0.917453), (4, 0.620270))
REPORT_PURITY_LATENT = ((5, 0.250000), (0, 0.654762), (1, 0.705882), (0, 0.431579), (2, 0.953846), (4, 0.195122),
                        (3, 0.391304), (7, 0.368000), (9, 0.311688), (2, 0.836364))


def _ae_epochs(quick: bool) -> int:
    """The auto-encoders' training epochs."""
    return AE_EPOCHS_QUICK if quick else AE_EPOCHS


def _other_clf_epochs(quick: bool) -> int:
    """Iterations of the classifiers other than Table 5.2's two (on logits, the learning-rate sweep, epochs part)."""
    return CLF_EPOCHS_QUICK_OTHER if quick else CLF_EPOCHS


def _where(data: DigitData, what: str = "") -> str:
    """Our data for the report's "Our data" column: ``what`` is "", "train", "codes" or "noisy"."""
    n_tr, n_te = f"{len(data.X_train):,}", f"{len(data.X_test):,}"
    return {"": f"{data.name}, {n_tr} train / {n_te} test", "train": f"{data.name}, {n_tr} training images",
            "codes": f"{data.name}, codes of {n_tr} train / {n_te} test images",
            "noisy": f"{data.name}, {n_te} noisy test images"}[what]


def _widths(side: int) -> tuple[int, int, int]:
    """The encoder's widths: the report's 256-100-10 on 16x16 USPS, 64-32-10 on 8x8 digits (same code size)."""
    if side == 16:
        return (256, 100, 10)
    d = side * side
    return (d, max(16, d // 2), 10)


def _arch(widths: Sequence[int]) -> str:
    return "-".join(str(w) for w in (*widths, *reversed(widths[:-1])))


def _rngs(seed: int, what: str) -> np.random.Generator:
    """A generator for one use (``what``) of one seed, independent of the others and of the order parts run in."""
    tag = int.from_bytes(what.encode(), "little") % (2 ** 32)
    return np.random.default_rng([seed, tag])


def _new_ae(widths: Sequence[int], rng: np.random.Generator) -> AutoEncoder:
    return AutoEncoder.from_widths(list(widths), activation="tanh", out_activation="sigmoid", rng=rng,
                                   dtype=np.float64)


def _ae_from_json(widths: Sequence[int], state: dict[str, Any]) -> AutoEncoder:
    return state_from_json(_new_ae(widths, np.random.default_rng(0)), state)


def _train_ae(widths: Sequence[int], X: np.ndarray, rng: np.random.Generator, epochs: int,
              noise: str | None = None) -> tuple[AutoEncoder, list[float], bool]:
    """Train an auto-encoder on ``X`` (targets the clean ``X``); with ``noise``, inputs get fresh noise every epoch.

    Returns the network, the mean BCE per pixel of every epoch and whether the training diverged.
    """
    ae = _new_ae(widths, rng)
    if noise is None:
        f = fit(ae, BCELoss(), X, X, epochs=epochs, lr=AE_LR, batch_size=AE_BATCH, rng=rng)
        return ae, [v / X.shape[1] for v in f.losses], f.diverged
    losses: list[float] = []
    for _ in range(epochs):
        # One epoch at a time so that every epoch sees new noise; plain SGD keeps no state between calls.
        f = fit(ae, BCELoss(), _corrupt(X, noise, rng), X, epochs=1, lr=AE_LR, batch_size=AE_BATCH, rng=rng)
        losses += [v / X.shape[1] for v in f.losses]
        if f.diverged:
            return ae, losses, True
    return ae, losses, False


def _ae_checkpoints(widths: Sequence[int], X: np.ndarray, rng: np.random.Generator,
                    checkpoints: Sequence[int]) -> Iterator[tuple[int, AutoEncoder, bool]]:
    """Train one auto-encoder as :func:`_train_ae` does and yield ``(epoch, network, diverged)`` at each checkpoint.

    Plain SGD keeps no state and ``fit`` draws one permutation per epoch from ``rng``, so the network at checkpoint
    ``e`` is the one ``_train_ae(..., epochs=e)`` returns with the same generator.
    """
    ae = _new_ae(widths, rng)
    done = 0
    for epoch in sorted(checkpoints):
        f = fit(ae, BCELoss(), X, X, epochs=epoch - done, lr=AE_LR, batch_size=AE_BATCH, rng=rng)
        done = epoch
        yield epoch, ae, f.diverged
        if f.diverged:
            return


def _train_classifier(kind: str, softmax: bool, Z: np.ndarray, y: np.ndarray, seed: int, *, lr: float = CLF_LR,
                      epochs: int = CLF_EPOCHS) -> tuple[Sequential, list[float], bool]:
    """Table 5.2's network on codes ``Z``: the multi-class chapter's schedule (20 batches, no shuffling).

    The initial weights depend on the seed and the activation only, so both formulations of one activation start
    from the same weights.
    """
    net = _classifier(kind, softmax, Z.shape[1], _rngs(seed, f"clf-{kind}"))
    f = fit(net, CELogSoftmax(), Z, y, epochs=epochs, lr=lr, n_batches=CLF_BATCHES, shuffle=False,
            rng=_rngs(seed, "clf-order"))
    return net, f.losses, f.diverged


def _corrupt(X: np.ndarray, noise: str, rng: np.random.Generator) -> np.ndarray:
    if noise == "gaussian":
        return np.clip(X + rng.normal(0.0, NOISE_SIGMA, X.shape), 0.0, 1.0)
    if noise == "masking":
        return X * (rng.random(X.shape) >= MASK_P)
    raise ValueError(f"unknown noise {noise!r}")


def _reconstruct(ae: Module, X: np.ndarray) -> np.ndarray | None:
    """The reconstruction of ``X``, or None if it is not finite (a diverged network)."""
    with np.errstate(over="ignore", invalid="ignore"):
        R = ae.forward(X)
    return R if np.isfinite(R).all() else None


def _bce_per_pixel(X: np.ndarray, R: np.ndarray | None) -> float | None:
    return None if R is None else float(BCELoss().elementwise(X, R).mean())


def _mse_per_pixel(X: np.ndarray, R: np.ndarray | None) -> float | None:
    return None if R is None else float(((X - R) ** 2).mean())


def _purity(labels: np.ndarray, y: np.ndarray) -> list[tuple[int, int, int, float]]:
    """(cluster, size, majority label, purity) of every cluster; purity is the majority label's share."""
    rows = []
    for c in range(K):
        members = y[labels == c]
        if len(members) == 0:
            rows.append((c, 0, -1, 0.0))
            continue
        counts = np.bincount(members, minlength=10)
        rows.append((c, len(members), int(counts.argmax()), float(counts.max() / len(members))))
    return rows


def _knn_agreement(E: np.ndarray, y: np.ndarray, k: int = 5) -> float:
    """Share of points whose k nearest other points (in ``E``) have the point's label as their majority label."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1).fit(E)
    _, ind = nn.kneighbors(E)
    votes = y[ind[:, 1:]]
    pred = np.array([np.bincount(v, minlength=10).argmax() for v in votes])
    return float((pred == y).mean())


def _classifier(kind: str, softmax: bool, d_in: int, rng: np.random.Generator) -> Sequential:
    act = TanH() if kind == "tanh" else ReLU()
    layers: list[Module] = [Linear(d_in, CLF_HIDDEN, rng=rng, dtype=np.float64), act,
                            Linear(CLF_HIDDEN, 10, rng=rng, dtype=np.float64)]
    if softmax:
        layers.append(Softmax())
    return Sequential(*layers)



