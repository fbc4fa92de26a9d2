"""Parts of study ``diy-autoencoder`` that train the auto-encoder and look at its codes: ``autoencoder-seed<k>``,
``clustering-seed<k>`` and ``tsne``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from visionbench.studies._diy import digit_data, loss_figure, state_to_json
from visionbench.studies._study import Part, StudyRun
from visionbench.studies.diy_autoencoder._figures import _mosaic_figure, _recon_figure, _tsne_figure
from visionbench.studies.diy_autoencoder._model import (
    AE_BATCH,
    AE_LR,
    N_INIT,
    REPORT_PURITY_LATENT,
    REPORT_PURITY_RAW,
    SHOWN,
    TSNE_QUICK_POINTS,
    K,
    _ae_epochs,
    _ae_from_json,
    _arch,
    _bce_per_pixel,
    _knn_agreement,
    _mse_per_pixel,
    _purity,
    _reconstruct,
    _rngs,
    _train_ae,
    _where,
    _widths,
)

__all__ = ["autoencoder_part", "clustering_part", "tsne_part"]


def autoencoder_part(study: StudyRun, seed: int, p: Part) -> None:
    """Train the auto-encoder of ``seed``; its reconstruction errors, loss curve, best and worst reconstructions."""
    epochs = _ae_epochs(study.quick)
    first = study.seeds[0]
    data = digit_data(study, p)
    widths = _widths(data.side)
    if data.side != 16:
        p.note(f"Auto-encoder: the report's is 256-100-10-100-256 on 16x16 USPS; on {data.side}x{data.side} "
               f"images ours is {_arch(widths)} (same 10-d code, the hidden width half the input), TanH "
               f"between layers, a Sigmoid on the reconstruction, BCE summed over pixels.")
    p.note(f"Auto-encoder training (not given in the report): plain mini-batch SGD (the course's Optim step), "
           f"lr {AE_LR}, batch {AE_BATCH}, {epochs} epochs, float64, Xavier initialisation; pixels in [0, 1].")
    ae, losses, diverged = _train_ae(widths, data.X_train, _rngs(seed, "ae"), epochs)
    Rtr, Rte = _reconstruct(ae, data.X_train), _reconstruct(ae, data.X_test)
    if diverged or Rtr is None or Rte is None:
        p.note(f"Seed {seed}: the auto-encoder diverged; every number built on it is n/a.")
        Rtr = Rte = None
    ds = _where(data)
    for split, X, R in (("train", data.X_train, Rtr), ("test", data.X_test, Rte)):
        p.value(f"recon_bce_{split}", _bce_per_pixel(X, R), unit="BCE per pixel", dataset=ds, seed=seed,
                label=f"reconstruction BCE per pixel, {split}")
        p.value(f"recon_mse_{split}", _mse_per_pixel(X, R), unit="MSE per pixel", dataset=ds, seed=seed,
                label=f"reconstruction MSE per pixel, {split}")
    p.data.update(seed=seed, widths=list(widths), diverged=Rte is None, losses=losses,
                  state=None if Rte is None else state_to_json(ae))
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


def clustering_part(study: StudyRun, seed: int, p: Part) -> None:
    """k-means on the training images' pixels and on their codes (seed ``seed``): Table 5.1, Figures 5.4, 5.5."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    first = study.seeds[0]
    data = digit_data(study)
    saved = study.data_of(f"autoencoder-seed{seed}")
    ds = _where(data, "train")
    spaces: dict[str, np.ndarray] = {"raw": data.X_train}
    ae = None
    if saved["state"] is not None:
        ae = _ae_from_json(saved["widths"], saved["state"])
        spaces["latent"] = ae.encode(data.X_train)
    results: dict[str, dict[str, Any]] = {}
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


def tsne_part(study: StudyRun, p: Part) -> None:
    """t-SNE maps of the pixels and of the codes of the first seed's auto-encoder (Figures 5.6, 5.7)."""
    from sklearn.manifold import TSNE

    first = study.seeds[0]
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
