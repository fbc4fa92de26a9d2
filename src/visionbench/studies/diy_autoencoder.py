"""``diy-autoencoder``: the DIY report's §5, an auto-encoder on digit images and what its latent codes are good for.

The report trains a 256-100-10-100-256 auto-encoder (TanH, a Sigmoid on the reconstruction, binary cross-entropy) on
USPS and shows good and bad reconstructions (Figures 5.2, 5.3); clusters raw pixels and the 10-d latent codes with
k-means (Figure 5.4; silhouette 0.094 raw against 0.398 latent, inertia 172,488.64 against 2,653 in Table 5.1; the
purity of every cluster in Figure 5.5, 0.669 against 0.510 on average); maps both with t-SNE (Figures 5.6, 5.7); and
classifies the codes with one hidden layer of 32 units, a Softmax and ``CELogSoftmax`` (Table 5.2: TanH 0.647 / 0.634
train / test accuracy, ReLU 0.489 / 0.515).

Ours, per seed, on the digits ``digit_data`` finds (USPS if present, else scikit-learn's 8x8 ``digits``, where the
widths become 64-32-10-32-64):

- ``autoencoder-seed<k>``: the auto-encoder (``AutoEncoder.from_widths``, float64, the course's plain mini-batch
  SGD), its loss curve, reconstruction errors on both splits, the best and worst reconstructed test images;
- ``clustering-seed<k>``: ``KMeans(10)`` on the training images' pixels and on their codes: silhouette, inertia,
  majority label and purity of every cluster, adjusted Rand index; the cluster centres as images;
- ``tsne`` (first seed): ``TSNE`` maps of pixels and codes coloured by label, and how often a point's five nearest
  neighbours in the map share its label;
- ``classifier-seed<k>``: Table 5.2's networks on the codes with the report's formulation (a Softmax *followed by*
  ``CELogSoftmax``, so the log-softmax is taken of probabilities) at the multi-class chapter's training settings,
  and the same networks on logits (the usual formulation) for comparison;
- ``classifier-lr`` (first seed): the same classifiers at larger learning rates, which shows whether their low
  accuracy comes from the codes or from the training budget;
- ``epochs`` (first seed): the auto-encoder measured after 10 to 500 epochs (reconstruction, clustering scores of
  its codes, classifiers on them), since the report says its auto-encoder was limited in epochs;
- ``denoising-seed<k>``: an auto-encoder trained to map noisy images (Gaussian noise, or masked pixels; fresh noise
  every epoch) to clean ones, against the plain auto-encoder, on the same noisy test images;
- ``overview``: the report's comparisons averaged over seeds in one table.

scikit-learn calls and the trainings run with one BLAS/OpenMP thread (``threadpoolctl``): on a shared 2-core machine the
default threading made k-means and t-SNE 6 to 45 times slower.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits

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
from visionbench.studies._diy import DOC, DigitData, accuracy, digit_data, fit, loss_figure
from visionbench.studies._study import Part, Reference, Study, StudyRun

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

_S51 = "Table 5.1"
_S55 = "Figure 5.5"
_S52 = "Table 5.2"
REFERENCES = (
    Reference("silhouette_raw", 0.094, "silhouette", _S51, "USPS", "k-means (k=10) on the original pixels"),
    Reference("silhouette_latent", 0.398, "silhouette", _S51, "USPS", "k-means (k=10) on the 10-d latent codes"),
    Reference("inertia_raw", 172488.64, "inertia", _S51, "USPS",
              "pixels in the course's [0, 2] scale; depends on scale and image count, not comparable"),
    Reference("inertia_latent", 2653, "inertia", _S51, "USPS",
              "depends on the code's scale and image count, not comparable"),
    Reference("purity_mean_raw", 0.669, "purity", _S55, "USPS",
              "unweighted mean of the 10 clusters' purities (std 0.204)"),
    Reference("purity_mean_latent", 0.510, "purity", _S55, "USPS",
              "unweighted mean of the 10 clusters' purities (std 0.247)"),
    Reference("latent_clf_tanh_train_accuracy", 0.647, "accuracy", _S52, "USPS",
              "Linear(10,32)-TanH-Linear(32,10)-Softmax + CELogSoftmax"),
    Reference("latent_clf_tanh_test_accuracy", 0.634, "accuracy", _S52, "USPS",
              "Linear(10,32)-TanH-Linear(32,10)-Softmax + CELogSoftmax"),
    Reference("latent_clf_relu_train_accuracy", 0.489, "accuracy", _S52, "USPS",
              "Linear(10,32)-ReLU-Linear(32,10)-Softmax + CELogSoftmax"),
    Reference("latent_clf_relu_test_accuracy", 0.515, "accuracy", _S52, "USPS",
              "Linear(10,32)-ReLU-Linear(32,10)-Softmax + CELogSoftmax"),
)


# ---------------------------------------------------------------------------------------------------------- helpers


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


def _state_to_json(net: Module) -> dict[str, list[Any]]:
    return {k: v.tolist() for k, v in net.state_dict().items()}


def _ae_from_json(widths: Sequence[int], state: dict[str, Any]) -> AutoEncoder:
    ae = _new_ae(widths, np.random.default_rng(0))
    ae.load_state_dict({k: np.asarray(v, dtype=np.float64) for k, v in state.items()})
    return ae


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
    with threadpool_limits(1):
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


def _mean(values: Sequence[float | None]) -> float | None:
    nums = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(nums)) if nums else None


# ---------------------------------------------------------------------------------------------------------- study


def _run(study: StudyRun) -> None:
    epochs = AE_EPOCHS_QUICK if study.quick else AE_EPOCHS
    clf_epochs = CLF_EPOCHS
    other_epochs = CLF_EPOCHS_QUICK_OTHER if study.quick else CLF_EPOCHS
    first = study.seeds[0]

    def where(data: DigitData, what: str = "") -> str:
        """Our data for the report's "Our data" column: ``what`` is "", "train", "codes" or "noisy"."""
        n_tr, n_te = f"{len(data.X_train):,}", f"{len(data.X_test):,}"
        return {"": f"{data.name}, {n_tr} train / {n_te} test", "train": f"{data.name}, {n_tr} training images",
                "codes": f"{data.name}, codes of {n_tr} train / {n_te} test images",
                "noisy": f"{data.name}, {n_te} noisy test images"}[what]

    for seed in study.seeds:
        def autoencoder(p: Part, seed: int = seed) -> None:
            data = digit_data(study, p)
            widths = _widths(data.side)
            if data.side != 16:
                p.note(f"Auto-encoder: the report's is 256-100-10-100-256 on 16x16 USPS; on {data.side}x{data.side} "
                       f"images ours is {_arch(widths)} (same 10-d code, the hidden width half the input), TanH "
                       f"between layers, a Sigmoid on the reconstruction, BCE summed over pixels.")
            p.note(f"Auto-encoder training (not given in the report): plain mini-batch SGD (the course's Optim step), "
                   f"lr {AE_LR}, batch {AE_BATCH}, {epochs} epochs, float64, Xavier initialisation; pixels in [0, 1].")
            with threadpool_limits(1):
                ae, losses, diverged = _train_ae(widths, data.X_train, _rngs(seed, "ae"), epochs)
            Rtr, Rte = _reconstruct(ae, data.X_train), _reconstruct(ae, data.X_test)
            if diverged or Rtr is None or Rte is None:
                p.note(f"Seed {seed}: the auto-encoder diverged; every number built on it is n/a.")
                Rtr = Rte = None
            ds = where(data)
            for split, X, R in (("train", data.X_train, Rtr), ("test", data.X_test, Rte)):
                p.value(f"recon_bce_{split}", _bce_per_pixel(X, R), unit="BCE per pixel", dataset=ds, seed=seed,
                        label=f"reconstruction BCE per pixel, {split}")
                p.value(f"recon_mse_{split}", _mse_per_pixel(X, R), unit="MSE per pixel", dataset=ds, seed=seed,
                        label=f"reconstruction MSE per pixel, {split}")
            p.data.update(seed=seed, widths=list(widths), diverged=Rte is None, losses=losses,
                          state=None if Rte is None else _state_to_json(ae))
            if seed != first:
                return
            p.figure(loss_figure({f"auto-encoder {_arch(widths)}": losses}, title="auto-encoder training loss",
                                 ylabel="BCE per pixel (training mean)"), f"ae-loss-seed{seed}",
                     f"Mean training BCE per pixel of every epoch (seed {seed}; {epochs} epochs of plain SGD, "
                     f"lr {AE_LR}, batch {AE_BATCH}).")
            if Rte is None:
                return
            err = ((data.X_test - Rte) ** 2).mean(axis=1)
            order = np.argsort(err, kind="stable")
            p.figure(_recon_figure(data.X_test, Rte, data.y_test, order[:SHOWN], data.side, err,
                                   "best reconstructed test images"), f"ae-best-seed{seed}",
                     f"The report's Figure 5.2: the {SHOWN} test images with the smallest reconstruction error "
                     f"(top: original, bottom: reconstruction; per-pixel MSE under each; seed {seed}).")
            p.figure(_recon_figure(data.X_test, Rte, data.y_test, order[::-1][:SHOWN], data.side, err,
                                   "worst reconstructed test images"), f"ae-worst-seed{seed}",
                     f"The report's Figure 5.3: the {SHOWN} test images with the largest reconstruction error "
                     f"(top: original, bottom: reconstruction; seed {seed}). The median test image's error is "
                     f"{np.median(err):.4f}.")
        study.part(f"autoencoder-seed{seed}", autoencoder, title=f"Auto-encoder and reconstructions, seed {seed}")

    for seed in study.seeds:
        def clustering(p: Part, seed: int = seed) -> None:
            from sklearn.cluster import KMeans
            from sklearn.metrics import adjusted_rand_score, silhouette_score

            data = digit_data(study)
            saved = study.data_of(f"autoencoder-seed{seed}")
            ds = where(data, "train")
            spaces: dict[str, np.ndarray] = {"raw": data.X_train}
            ae = None
            if saved["state"] is not None:
                ae = _ae_from_json(saved["widths"], saved["state"])
                spaces["latent"] = ae.encode(data.X_train)
            results: dict[str, dict[str, Any]] = {}
            with threadpool_limits(1):
                for space, Z in spaces.items():
                    km = KMeans(K, n_init=N_INIT, random_state=seed).fit(Z)
                    rows = _purity(km.labels_, data.y_train)
                    results[space] = {
                        "silhouette": float(silhouette_score(Z, km.labels_)), "inertia": float(km.inertia_),
                        "rows": rows, "purity_mean": float(np.mean([r[3] for r in rows])),
                        "purity_std": float(np.std([r[3] for r in rows])),
                        "purity_overall": float(sum(r[1] * r[3] for r in rows) / len(Z)),
                        "ari": float(adjusted_rand_score(data.y_train, km.labels_)),
                        "majorities": len({r[2] for r in rows if r[1]}), "centers": km.cluster_centers_,
                        "labels": km.labels_}
            dims = {"raw": f"{data.X_train.shape[1]} pixels", "latent": f"{saved['widths'][-1]}-d codes"}
            for space in ("raw", "latent"):
                r = results.get(space, {})
                label = f"k-means on {dims[space]}"
                p.value(f"silhouette_{space}", r.get("silhouette"), unit="silhouette", dataset=ds, seed=seed,
                        label=f"silhouette, {label}")
                p.value(f"inertia_{space}", r.get("inertia"), unit="inertia", dataset=ds, seed=seed,
                        label=f"inertia, {label}")
                p.value(f"purity_mean_{space}", r.get("purity_mean"), unit="purity", dataset=ds, seed=seed,
                        label=f"mean cluster purity, {label}")
                p.value(f"purity_overall_{space}", r.get("purity_overall"), unit="purity", dataset=ds, seed=seed,
                        label=f"purity weighted by cluster size, {label}")
                p.value(f"ari_{space}", r.get("ari"), unit="ARI", dataset=ds, seed=seed,
                        label=f"adjusted Rand index with the labels, {label}")
            p.data.update({space: {k: v for k, v in r.items() if k not in ("centers", "labels")}
                           for space, r in results.items()})
            for space, r in results.items():
                p.table(f"k-means clusters on {dims[space]} (seed {seed})",
                        ["cluster", "images", "majority label", "purity"], [list(row) for row in r["rows"]],
                        f"Training images ({len(data.X_train):,}); k={K}, {N_INIT} restarts, random_state={seed}. "
                        f"Mean purity {r['purity_mean']:.3f} (std {r['purity_std']:.3f}); {r['majorities']} "
                        f"distinct majority labels out of 10.")
            if seed != first:
                return
            p.note(f"Clustering: k-means (scikit-learn, k={K}, n_init={N_INIT}, random_state=seed) on the "
                   f"{len(data.X_train):,} training images, pixels against the auto-encoder's codes of the same "
                   f"images. The report does not say which set. Each purity in its Figure 5.5 is a count over a "
                   f"cluster's size: the pixel purities need clusters of at least 473, 509, 851, 1,051, 1,103... "
                   f"images (0.964059 = 456/473), at least 5,923 in all, more than the 2,007 USPS test images, so "
                   f"those were likely the 7,291 training images; the code purities are all simple fractions (1/4, "
                   f"55/84, 12/17, 41/95...), unlikely for clusters of hundreds of images, and their smallest "
                   f"consistent sizes add up to 586: the report's two columns may not describe the same images (an "
                   f"inference from the printed numbers).")
            p.note("Inertia (the sum of squared distances to the cluster centres) grows with the number of images and "
                   "with the square of the space's scale: the report's 172,488.64 (256 pixels in [0, 2]) and 2,653 "
                   "(10 TanH codes) cannot be compared with each other, nor with ours (fewer, smaller images in "
                   "[0, 1]). The silhouette and purity are scale-free and are the comparable numbers.")
            rr, rl = REPORT_PURITY_RAW, REPORT_PURITY_LATENT
            p.table("The report's Figure 5.5: cluster purities (USPS)",
                    ["cluster", "pixels: majority label", "pixels: purity", "codes: majority label", "codes: purity"],
                    [[i, rr[i][0], rr[i][1], rl[i][0], rl[i][1]] for i in range(K)]
                    + [["mean", "", float(np.mean([v for _, v in rr])), "", float(np.mean([v for _, v in rl]))]],
                    "As printed in the report (cluster numbers are arbitrary; the report's clusters and ours cannot "
                    "be matched one to one). Its pixel clusters have 9 distinct majority labels (no 5), its code "
                    "clusters 8 (no 6, no 8).")
            table_rows = [["silhouette", "0.094", "0.398"], ["inertia", "172488.64", "2653"],
                          ["mean purity", "0.669", "0.510"]]
            ours = [[f"{results[s][k]:.3f}" if s in results else "n/a" for s in ("raw", "latent")]
                    for k in ("silhouette", "inertia", "purity_mean")]
            p.table("Table 5.1 and the mean purities: the report's beside ours (this seed)",
                    ["metric", "report: pixels", "report: codes", "ours: pixels", "ours: codes"],
                    [row + o for row, o in zip(table_rows, ours, strict=True)],
                    f"Ours: seed {seed}, {ds}. Inertia is not comparable across spaces or data sets.")
            # The clusters as images: pixel-space centres are images; latent centres are decoded to images.
            grid, captions, row_labels = [], [], []
            for space in ("raw", "latent"):
                if space not in results:
                    continue
                r = results[space]
                centers = r["centers"] if space == "raw" else ae.decoder.forward(r["centers"])
                grid.append(list(centers))
                captions.append([f"{maj} ({pur:.2f})" for _, _, maj, pur in r["rows"]])
                row_labels.append("pixels" if space == "raw" else "codes (decoded)")
            p.figure(_mosaic_figure(grid, data.side, row_labels=row_labels, captions=captions,
                                    title="k-means centres"), f"cluster-centres-seed{seed}",
                     f"The clusters (seed {seed}): every k-means centre as an image, the top row clustering the "
                     f"pixels, the bottom row clustering the codes (the centre code put through the decoder); under "
                     f"each: the cluster's majority label and its purity.")
            if "latent" in results:
                lab = results["latent"]["labels"]
                pick = _rngs(seed, "members")
                grid, captions, colors = [], [], []
                for c, (_, size, maj, _) in enumerate(results["latent"]["rows"]):
                    members = np.flatnonzero(lab == c)
                    chosen = pick.choice(members, size=min(SHOWN, size), replace=False) if size else []
                    grid.append([data.X_train[i] for i in chosen])
                    captions.append([str(data.y_train[i]) for i in chosen])
                    colors.append(["black" if data.y_train[i] == maj else "red" for i in chosen])
                row_labels = [f"cluster {c}: {maj} ({pur:.2f})"
                              for c, (_, _, maj, pur) in enumerate(results["latent"]["rows"])]
                p.figure(_mosaic_figure(grid, data.side, row_labels=row_labels, captions=captions,
                                        caption_colors=colors, title="clusters of the latent codes: random members"),
                         f"latent-clusters-seed{seed}",
                         f"The report's Figure 5.4: the clustering the latent space induces (seed {seed}); one row "
                         f"per cluster of the codes (majority label and purity on the left), {SHOWN} random "
                         f"training images of it with their true digit, in red when it is not the majority label.")
        study.part(f"clustering-seed{seed}", clustering, title=f"k-means on pixels and on codes, seed {seed}")

    def tsne(p: Part) -> None:
        from sklearn.manifold import TSNE

        data = digit_data(study)
        saved = study.data_of(f"autoencoder-seed{first}")
        rng = _rngs(first, "tsne")
        n = len(data.X_train)
        idx = np.sort(rng.choice(n, TSNE_QUICK_POINTS, replace=False)) if study.quick and n > TSNE_QUICK_POINTS \
            else np.arange(n)
        X, y = data.X_train[idx], data.y_train[idx]
        spaces = {"raw": ("pixels", X)}
        if saved["state"] is not None:
            spaces["latent"] = (f"{saved['widths'][-1]}-d codes", _ae_from_json(saved["widths"],
                                                                                saved["state"]).encode(X))
        ds = f"{data.name}, {len(idx):,} training images"
        panels = []
        with threadpool_limits(1):
            for space, (name, Z) in spaces.items():
                E = TSNE(2, perplexity=30.0, init="pca", random_state=first,
                         max_iter=500 if study.quick else 1000).fit_transform(Z)
                panels.append((f"t-SNE of the {name}", E))
                p.value(f"tsne_5nn_{space}", _knn_agreement(E, y), unit="accuracy", dataset=ds, seed=first,
                        label=f"5-NN label agreement in the t-SNE map of the {name}")
        p.figure(_tsne_figure(panels, y), f"tsne-seed{first}",
                 f"The report's Figures 5.6 (pixels, left) and 5.7 (latent codes, right): t-SNE maps (scikit-learn, "
                 f"perplexity 30, PCA initialisation, random_state={first}) of {len(idx)} training images, coloured "
                 f"by digit; each digit is written at its points' median.")
        if study.quick:
            p.note(f"Quick mode: t-SNE on {TSNE_QUICK_POINTS} training images and 500 iterations.")
    study.part("tsne", tsne, title="t-SNE of pixels and codes")

    clf_rows: list[tuple[str, str, bool]] = [("tanh", "TanH", True), ("relu", "ReLU", True), ("tanh", "TanH", False),
                                             ("relu", "ReLU", False)]
    for seed in study.seeds:
        def classifier(p: Part, seed: int = seed) -> None:
            data = digit_data(study)
            saved = study.data_of(f"autoencoder-seed{seed}")
            config = f"{clf_epochs} iterations, lr {CLF_LR:g}, {CLF_BATCHES} batches, no shuffling"
            if seed == first:
                p.note(f"Latent classifier: the report gives the network (Table 5.2) but no training settings; ours "
                       f"are its multi-class chapter's (Table 4.1: {config}), trained on the training images' codes "
                       f"and tested on the test images' codes.")
                p.note("Table 5.2 lists a Softmax among the activations and CELogSoftmax as the loss; together they "
                       "take a log-softmax of probabilities: the loss then barely varies (its inputs stay in [0, 1]) "
                       "and its gradient is small, so training is slow. We keep that formulation for the keys "
                       "compared with the report, and add the same networks on logits (no Softmax), the loss's "
                       "intended use.")
            rows = []
            state = saved["state"]
            codes = None
            if state is not None:
                ae = _ae_from_json(saved["widths"], state)
                codes = ae.encode(data.X_train), ae.encode(data.X_test)
            ds = where(data, "codes")
            out: dict[str, Any] = {}
            for kind, name, softmax in clf_rows:
                tr = te = None
                losses: list[float] = []
                if codes is not None:
                    net, losses, diverged = _train_classifier(kind, softmax, codes[0], data.y_train, seed,
                                                              epochs=clf_epochs if softmax else other_epochs)
                    if not diverged:
                        tr, te = accuracy(net, codes[0], data.y_train), accuracy(net, codes[1], data.y_test)
                    else:
                        p.note(f"Seed {seed}: the {name} classifier {'with' if softmax else 'without'} Softmax "
                               f"diverged; its accuracies are n/a.")
                key = f"latent_clf_{kind}" + ("" if softmax else "_logits")
                what = f"Linear({saved['widths'][-1]},{CLF_HIDDEN})-{name}-Linear({CLF_HIDDEN},10)" + \
                    ("-Softmax" if softmax else "")
                for split, v in (("train", tr), ("test", te)):
                    p.value(f"{key}_{split}_accuracy", v, unit="accuracy", dataset=ds, seed=seed,
                            label=f"{split} accuracy, {what} + CELogSoftmax" + ("" if softmax else " on logits"))
                ref = {("tanh", True): (0.647, 0.634), ("relu", True): (0.489, 0.515)}.get((kind, softmax))
                rows.append([what, "CELogSoftmax on " + ("probabilities" if softmax else "logits"), tr, te,
                             ref[0] if ref else None, ref[1] if ref else None])
                out[key] = {"train": tr, "test": te, "losses": losses}
            p.data.update(out)
            p.table(f"Classifiers on the latent codes (seed {seed})",
                    ["network", "loss", "train accuracy", "test accuracy", "report train", "report test"], rows,
                    f"{config}; same batches for every row. The report's rows (USPS) are Table 5.2; n/a in our "
                    f"columns marks a diverged training; the last two rows have no counterpart in the report.")
            if seed == first and codes is not None:
                p.figure(loss_figure({f"{name}{' + Softmax' if softmax else ' (logits)'}":
                                      out[f"latent_clf_{kind}" + ("" if softmax else "_logits")]["losses"]
                                      for kind, name, softmax in clf_rows},
                                     title="latent classifiers: training loss", ylabel="CELogSoftmax (mean)"),
                         f"clf-loss-seed{seed}",
                         f"Training loss of the four classifiers on the codes (seed {seed}). With a Softmax before "
                         f"CELogSoftmax the loss cannot go below about log(1 + 9/e) = 1.46, whatever the accuracy.")
        study.part(f"classifier-seed{seed}", classifier, title=f"Classifiers on the latent codes, seed {seed}")

    def classifier_lr(p: Part) -> None:
        data = digit_data(study)
        saved = study.data_of(f"autoencoder-seed{first}")
        if saved["state"] is None:
            p.note("The learning-rate sweep of the latent classifiers was skipped: the auto-encoder diverged.")
            return
        ae = _ae_from_json(saved["widths"], saved["state"])
        Ztr, Zte = ae.encode(data.X_train), ae.encode(data.X_test)
        lrs, kinds = (SWEEP_LRS_QUICK, ("tanh",)) if study.quick else (SWEEP_LRS, ("tanh", "relu"))
        if study.quick:
            p.note(f"Quick mode: the classifiers other than Table 5.2's two train for {other_epochs} iterations.")
        rows = []
        for kind in kinds:
            for softmax in (True, False):
                for lr in lrs:
                    net, _, diverged = _train_classifier(kind, softmax, Ztr, data.y_train, first, lr=lr,
                                                         epochs=other_epochs)
                    tr = None if diverged else accuracy(net, Ztr, data.y_train)
                    te = None if diverged else accuracy(net, Zte, data.y_test)
                    rows.append(["TanH" if kind == "tanh" else "ReLU",
                                 "Softmax + CELogSoftmax" if softmax else "CELogSoftmax on logits", lr, tr, te])
                    if softmax:
                        p.value(f"latent_clf_{kind}_lr{lr:g}_test_accuracy".replace(".", "_"), te, unit="accuracy",
                                dataset=where(data, "codes"), seed=first,
                                label=f"test accuracy, {rows[-1][0]}-Softmax + CELogSoftmax, lr {lr:g} "
                                      f"({other_epochs} iterations)")
        p.table(f"Latent classifiers against the learning rate (seed {first})",
                ["activation", "loss", "learning rate", "train accuracy", "test accuracy"], rows,
                f"{other_epochs} iterations, {CLF_BATCHES} batches, no shuffling, on the codes of the seed-{first} "
                f"auto-encoder; lr {CLF_LR:g} is the setting of the keys compared with Table 5.2. n/a: diverged.")
        soft = {(r[0], r[2]): r[4] for r in rows if r[1].startswith("Softmax")}
        best = max((v for v in soft.values() if v is not None), default=None)
        at_ref = soft.get(("TanH", CLF_LR))
        if best is not None and at_ref is not None:
            p.note(f"With the report's Softmax + CELogSoftmax, the accuracy on the codes is limited by the training "
                   f"budget, not by the codes: at lr {CLF_LR:g} TanH reaches {at_ref:.3f} on the test images "
                   f"(seed {first}), the best of the learning rates tried gives {best:.3f} "
                   f"(part classifier-lr). The report's low Table 5.2 numbers may have the same cause.")
    study.part("classifier-lr", classifier_lr, title="Latent classifiers against the learning rate")

    def epochs_part(p: Part) -> None:
        from sklearn.cluster import KMeans
        from sklearn.metrics import adjusted_rand_score, silhouette_score

        data = digit_data(study)
        widths = _widths(data.side)
        checkpoints = EPOCH_CHECKPOINTS_QUICK if study.quick else EPOCH_CHECKPOINTS
        raw = study.data_of(f"clustering-seed{first}").get("raw", {})
        rows = []
        with threadpool_limits(1):
            for epoch, ae, diverged in _ae_checkpoints(widths, data.X_train, _rngs(first, "ae"), checkpoints):
                R = None if diverged else _reconstruct(ae, data.X_test)
                if R is None:
                    rows.append([epoch, None, None, None, None, None, None])
                    continue
                Ztr, Zte = ae.encode(data.X_train), ae.encode(data.X_test)
                km = KMeans(K, n_init=N_INIT, random_state=first).fit(Ztr)
                pur = float(np.mean([r[3] for r in _purity(km.labels_, data.y_train)]))
                accs = []
                for softmax in (True, False):
                    net, _, div = _train_classifier("tanh", softmax, Ztr, data.y_train, first,
                                                         epochs=other_epochs)
                    accs.append(None if div else accuracy(net, Zte, data.y_test))
                rows.append([epoch, _mse_per_pixel(data.X_test, R), float(silhouette_score(Ztr, km.labels_)), pur,
                             float(adjusted_rand_score(data.y_train, km.labels_)), *accs])
        p.data["rows"] = rows
        done = [r for r in rows if r[1] is not None]
        if len(done) >= 2:
            a, b = done[0], done[-1]
            p.note(f"Auto-encoder training length (seed {first}, part epochs): from {a[0]} to {b[0]} epochs the codes' "
                   f"silhouette goes from {a[2]:.3f} to {b[2]:.3f} and their mean purity from {a[3]:.3f} to "
                   f"{b[3]:.3f} (pixels: {raw.get('silhouette', float('nan')):.3f} and "
                   f"{raw.get('purity_mean', float('nan')):.3f}); silhouette and purity need not move together, so "
                   f"the report's ranking of the two spaces may depend on how long its auto-encoder trained.")
        p.table(f"What longer auto-encoder training changes (seed {first})",
                ["epochs", "test reconstruction MSE", "silhouette (codes)", "mean purity (codes)", "ARI (codes)",
                 "TanH + Softmax, test", "TanH on logits, test"], rows,
                f"One auto-encoder trained as in part autoencoder-seed{first}, measured after each number of epochs "
                f"(the row at {epochs} epochs is that part's network). On the pixels: silhouette "
                f"{raw.get('silhouette', float('nan')):.3f}, mean purity {raw.get('purity_mean', float('nan')):.3f}, "
                f"ARI {raw.get('ari', float('nan')):.3f}. Classifiers as in Table 5.2, lr {CLF_LR:g}.")
        p.figure(_epochs_figure(rows, raw), f"ae-epochs-seed{first}",
                 f"Test reconstruction error, clustering scores of the codes (k-means on the training images; dashed: "
                 f"the same score on the pixels) and test accuracy of the TanH classifiers on the codes, after each "
                 f"number of auto-encoder epochs (seed {first}). The report says its auto-encoder was limited in "
                 f"epochs by its hardware.")
    study.part("epochs", epochs_part, title="Auto-encoder training length")

    for seed in study.seeds:
        def denoising(p: Part, seed: int = seed) -> None:
            data = digit_data(study)
            saved = study.data_of(f"autoencoder-seed{seed}")
            widths = saved["widths"]
            plain = _ae_from_json(widths, saved["state"]) if saved["state"] is not None else None
            ds = where(data, "noisy")
            rows, shown = [], {}
            for noise, what in NOISES.items():
                with threadpool_limits(1):
                    dae, losses, diverged = _train_ae(widths, data.X_train, _rngs(seed, f"dae-{noise}"), epochs,
                                                      noise=noise)
                Xn = _corrupt(data.X_test, noise, _rngs(seed, f"test-{noise}"))
                R_dae = None if diverged else _reconstruct(dae, Xn)
                R_plain = None if plain is None else _reconstruct(plain, Xn)
                clean_dae = None if diverged else _mse_per_pixel(data.X_test, _reconstruct(dae, data.X_test))
                errs = {"dae": _mse_per_pixel(data.X_test, R_dae), "plain": _mse_per_pixel(data.X_test, R_plain),
                        "noisy_input": _mse_per_pixel(data.X_test, Xn)}
                labels = {"dae": "denoising auto-encoder", "plain": "plain auto-encoder",
                          "noisy_input": "the noisy input itself"}
                for k, v in errs.items():
                    p.value(f"denoise_mse_{noise}_{k}", v, unit="MSE per pixel", dataset=ds, seed=seed,
                            label=f"MSE to the clean test images, {labels[k]} ({noise} noise)")
                p.value(f"dae_{noise}_clean_mse", clean_dae, unit="MSE per pixel", dataset=where(data), seed=seed,
                        label=f"denoising auto-encoder ({noise}) on clean test images, MSE")
                rows.append([what, errs["noisy_input"], errs["plain"], errs["dae"], clean_dae])
                if diverged:
                    p.note(f"Seed {seed}: the denoising auto-encoder ({noise}) diverged; its errors are n/a.")
                shown[noise] = (Xn, R_plain, R_dae, losses)
            p.table(f"Denoising: per-pixel MSE to the clean test images (seed {seed})",
                    ["noise", "noisy input", "plain auto-encoder", "denoising auto-encoder",
                     "denoising AE on clean inputs"], rows,
                    f"{len(data.X_test)} test images, the same noisy copies for both networks; the denoising "
                    f"auto-encoder has the plain one's architecture and schedule ({epochs} epochs, new noise every "
                    f"epoch). The plain auto-encoder's error on clean inputs is part autoencoder-seed{seed}'s "
                    f"recon_mse_test.")
            if seed != first:
                return
            p.note(f"Denoising (not in the report): the auto-encoder retrained from scratch on corrupted inputs with "
                   f"clean targets, for {NOISES['gaussian']} and for {NOISES['masking']}.")
            p.figure(loss_figure({f"denoising ({noise})": v[3] for noise, v in shown.items()},
                                 title="denoising auto-encoders: training loss",
                                 ylabel="BCE per pixel (training mean)"), f"dae-loss-seed{seed}",
                     f"Mean training BCE per pixel of the denoising auto-encoders (seed {seed}), measured against "
                     f"the clean images.")
            pick = np.arange(SHOWN)
            for noise, (Xn, R_plain, R_dae, _) in shown.items():
                names = ("noisy input", "plain AE", "denoising AE", "clean")
                mats = (Xn, R_plain, R_dae, data.X_test)
                grid = [[None if M is None else M[i] for i in pick] for M in mats]
                captions = [[f"{((M[i] - data.X_test[i]) ** 2).mean():.3f}" if M is not None else "n/a"
                             for i in pick] if k < 3 else [f"digit {data.y_test[i]}" for i in pick]
                            for k, M in enumerate(mats)]
                p.figure(_mosaic_figure(grid, data.side, row_labels=names, captions=captions,
                                        title=f"denoising, {noise} noise"), f"denoise-{noise}-seed{seed}",
                         f"{NOISES[noise].capitalize()}: the first {SHOWN} test images, from top to bottom noisy, "
                         f"put through the plain auto-encoder, through the denoising one, and clean (seed {seed}); "
                         f"under each: its per-pixel MSE to the clean image.")
        study.part(f"denoising-seed{seed}", denoising, title=f"Denoising auto-encoder, seed {seed}")

    def overview(p: Part) -> None:
        """Means over seeds of the numbers the report discusses, with its own, in one table."""
        seeds = study.seeds
        cl = [study.data_of(f"clustering-seed{s}") for s in seeds]
        cf = [study.data_of(f"classifier-seed{s}") for s in seeds]
        rows = []
        for label, space, key, ref in (("silhouette, pixels", "raw", "silhouette", 0.094),
                                       ("silhouette, codes", "latent", "silhouette", 0.398),
                                       ("mean purity, pixels", "raw", "purity_mean", 0.669),
                                       ("mean purity, codes", "latent", "purity_mean", 0.510),
                                       ("adjusted Rand index, pixels", "raw", "ari", None),
                                       ("adjusted Rand index, codes", "latent", "ari", None)):
            rows.append([label, _mean([c.get(space, {}).get(key) for c in cl]), ref])
        for label, key, split, ref in (("TanH + Softmax, train", "latent_clf_tanh", "train", 0.647),
                                       ("TanH + Softmax, test", "latent_clf_tanh", "test", 0.634),
                                       ("ReLU + Softmax, train", "latent_clf_relu", "train", 0.489),
                                       ("ReLU + Softmax, test", "latent_clf_relu", "test", 0.515),
                                       ("TanH on logits, test", "latent_clf_tanh_logits", "test", None),
                                       ("ReLU on logits, test", "latent_clf_relu_logits", "test", None)):
            rows.append([f"classifier on codes, {label}", _mean([c.get(key, {}).get(split) for c in cf]), ref])
        p.table("The report's comparisons, ours averaged over seeds", ["quantity", "ours (mean)", "report"], rows,
                f"Seeds {', '.join(map(str, seeds))}. The report's conclusions: pixels cluster better than codes by "
                f"purity, codes better by silhouette; TanH beats ReLU on the codes.")
        sil = [(c.get("raw", {}).get("silhouette"), c.get("latent", {}).get("silhouette")) for c in cl]
        pur = [(c.get("raw", {}).get("purity_mean"), c.get("latent", {}).get("purity_mean")) for c in cl]
        n_sil = sum(1 for a, b in sil if a is not None and b is not None and b > a)
        n_pur = sum(1 for a, b in pur if a is not None and b is not None and b > a)
        p.note(f"Direction of the report's comparisons in our runs: the codes have the higher silhouette in {n_sil} "
               f"of {len(seeds)} seeds (the report: codes higher), the higher mean purity in {n_pur} of {len(seeds)} "
               f"(the report: pixels higher).")
    study.part("overview", overview, title="Overview over seeds")


STUDY = Study(
    name="diy-autoencoder",
    title="DIY report §5: an auto-encoder on digits; clustering, t-SNE and classification of its codes; denoising",
    description="TanH auto-encoder (BCE, SGD) on digit images: reconstructions, k-means and t-SNE on pixels vs codes, "
                "classifiers on the codes, and a denoising variant.",
    document=DOC,
    section="§5.2 Auto-Encodeur: Expérimentations (Tables 5.1-5.2, Figures 5.2-5.7)",
    references=REFERENCES,
    run=_run,
    seconds=38.0,
    seconds_quick=11.0,
    seeds=(0, 1, 2),
    datasets=("digits", "usps"),
    differences=(
        "The report runs on USPS (16x16); ours on the digits found (see the data note), with the widths adapted.",
        "Purity is the share of a cluster's majority label; its mean is unweighted over the 10 clusters, as in the "
        "report's Figure 5.5 (we also give the size-weighted purity and the adjusted Rand index).",
    ),
)
