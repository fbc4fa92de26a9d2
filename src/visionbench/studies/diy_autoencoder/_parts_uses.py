"""Parts of study ``diy-autoencoder`` that put the codes and the network to use: ``classifier-seed<k>``,
``classifier-lr``, ``epochs``, ``denoising-seed<k>`` and ``overview``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from visionbench.studies._diy import accuracy, digit_data, loss_figure, mean_of
from visionbench.studies._study import Part, StudyRun
from visionbench.studies.diy_autoencoder._figures import _epochs_figure, _mosaic_figure
from visionbench.studies.diy_autoencoder._model import (
    CLF_BATCHES,
    CLF_EPOCHS,
    CLF_HIDDEN,
    CLF_LR,
    EPOCH_CHECKPOINTS,
    EPOCH_CHECKPOINTS_QUICK,
    N_INIT,
    NOISES,
    SHOWN,
    SWEEP_LRS,
    SWEEP_LRS_QUICK,
    K,
    _ae_checkpoints,
    _ae_epochs,
    _ae_from_json,
    _corrupt,
    _mse_per_pixel,
    _other_clf_epochs,
    _purity,
    _reconstruct,
    _rngs,
    _train_ae,
    _train_classifier,
    _where,
    _widths,
)

__all__ = ["classifier_part", "classifier_lr_part", "epochs_part", "denoising_part", "overview_part"]

#: The four classifiers on the codes: (activation, its name, whether a Softmax precedes CELogSoftmax).
CLF_ROWS: tuple[tuple[str, str, bool], ...] = (("tanh", "TanH", True), ("relu", "ReLU", True), ("tanh", "TanH", False),
                                               ("relu", "ReLU", False))


def classifier_part(study: StudyRun, seed: int, p: Part) -> None:
    """Table 5.2's classifiers on the codes of seed ``seed``'s auto-encoder, and the same networks on logits."""
    first = study.seeds[0]
    other_epochs = _other_clf_epochs(study.quick)
    data = digit_data(study)
    saved = study.data_of(f"autoencoder-seed{seed}")
    config = f"{CLF_EPOCHS} iterations, lr {CLF_LR:g}, {CLF_BATCHES} batches, no shuffling"
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
    ds = _where(data, "codes")
    out: dict[str, Any] = {}
    for kind, name, softmax in CLF_ROWS:
        tr = te = None
        losses: list[float] = []
        if codes is not None:
            net, losses, diverged = _train_classifier(kind, softmax, codes[0], data.y_train, seed,
                                                      epochs=CLF_EPOCHS if softmax else other_epochs)
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
                              for kind, name, softmax in CLF_ROWS},
                             title="latent classifiers: training loss", ylabel="CELogSoftmax (mean)"),
                 f"clf-loss-seed{seed}",
                 f"Training loss of the four classifiers on the codes (seed {seed}). With a Softmax before "
                 f"CELogSoftmax the loss cannot go below about log(1 + 9/e) = 1.46, whatever the accuracy.")


def classifier_lr_part(study: StudyRun, p: Part) -> None:
    """The first seed's latent classifiers at larger learning rates."""
    first = study.seeds[0]
    other_epochs = _other_clf_epochs(study.quick)
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
                            dataset=_where(data, "codes"), seed=first,
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


def epochs_part(study: StudyRun, p: Part) -> None:
    """The first seed's auto-encoder measured after 10 to 500 epochs."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    first = study.seeds[0]
    epochs = _ae_epochs(study.quick)
    other_epochs = _other_clf_epochs(study.quick)
    data = digit_data(study)
    widths = _widths(data.side)
    checkpoints = EPOCH_CHECKPOINTS_QUICK if study.quick else EPOCH_CHECKPOINTS
    raw = study.data_of(f"clustering-seed{first}").get("raw", {})
    rows = []
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
            net, _, div = _train_classifier("tanh", softmax, Ztr, data.y_train, first, epochs=other_epochs)
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


def denoising_part(study: StudyRun, seed: int, p: Part) -> None:
    """Denoising auto-encoders (Gaussian and masking noise) of seed ``seed`` against the plain one."""
    first = study.seeds[0]
    epochs = _ae_epochs(study.quick)
    data = digit_data(study)
    saved = study.data_of(f"autoencoder-seed{seed}")
    widths = saved["widths"]
    plain = _ae_from_json(widths, saved["state"]) if saved["state"] is not None else None
    ds = _where(data, "noisy")
    rows, shown = [], {}
    for noise, what in NOISES.items():
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
        p.value(f"dae_{noise}_clean_mse", clean_dae, unit="MSE per pixel", dataset=_where(data), seed=seed,
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


def overview_part(study: StudyRun, p: Part) -> None:
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
        rows.append([label, mean_of([c.get(space, {}).get(key) for c in cl]), ref])
    for label, key, split, ref in (("TanH + Softmax, train", "latent_clf_tanh", "train", 0.647),
                                   ("TanH + Softmax, test", "latent_clf_tanh", "test", 0.634),
                                   ("ReLU + Softmax, train", "latent_clf_relu", "train", 0.489),
                                   ("ReLU + Softmax, test", "latent_clf_relu", "test", 0.515),
                                   ("TanH on logits, test", "latent_clf_tanh_logits", "test", None),
                                   ("ReLU on logits, test", "latent_clf_relu_logits", "test", None)):
        rows.append([f"classifier on codes, {label}", mean_of([c.get(key, {}).get(split) for c in cf]), ref])
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
