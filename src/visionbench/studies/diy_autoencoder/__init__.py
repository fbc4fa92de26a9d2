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

Files: ``_model.py`` (settings, training of the auto-encoders and classifiers, corruption, errors, purity),
``_figures.py`` (image mosaics, t-SNE maps, the epochs figure), ``_parts_codes.py`` (the autoencoder, clustering and
tsne parts), ``_parts_uses.py`` (the classifier, classifier-lr, epochs, denoising and overview parts); this file holds
the report's numbers and registers the parts in order.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from visionbench.studies._diy import DOC, one_thread, seed_parts
from visionbench.studies._study import Part, Reference, Study, StudyRun
from visionbench.studies.diy_autoencoder._parts_codes import autoencoder_part, clustering_part, tsne_part
from visionbench.studies.diy_autoencoder._parts_uses import (
    classifier_lr_part,
    classifier_part,
    denoising_part,
    epochs_part,
    overview_part,
)

__all__ = ["STUDY"]

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


@one_thread
def _run(study: StudyRun) -> None:
    """Register the parts in order: later parts read what earlier ones stored."""
    def per_seed(name: str, fn: Callable[[StudyRun, int, Part], None], title: str) -> None:
        seed_parts(study, (name, lambda p, seed: fn(study, seed, p), title))

    per_seed("autoencoder", autoencoder_part, "Auto-encoder and reconstructions")
    per_seed("clustering", clustering_part, "k-means on pixels and on codes")
    study.part("tsne", partial(tsne_part, study), title="t-SNE of pixels and codes")
    per_seed("classifier", classifier_part, "Classifiers on the latent codes")
    study.part("classifier-lr", partial(classifier_lr_part, study),
               title="Latent classifiers against the learning rate")
    study.part("epochs", partial(epochs_part, study), title="Auto-encoder training length")
    per_seed("denoising", denoising_part, "Denoising auto-encoder")
    study.part("overview", partial(overview_part, study), title="Overview over seeds")


STUDY = Study(
    name="diy-autoencoder",
    title="DIY report §5: an auto-encoder on digits; clustering, t-SNE and classification of its codes; denoising",
    description="TanH auto-encoder (BCE, SGD) on digit images: reconstructions, k-means and t-SNE on pixels vs codes, "
                "classifiers on the codes, and a denoising variant.",
    document=DOC,
    section="§5.2 Auto-Encodeur: Expérimentations (Tables 5.1-5.2, Figures 5.2-5.7)",
    references=REFERENCES,
    run=_run,
    seconds=31.0,
    seconds_quick=7.8,
    seeds=(0, 1, 2),
    datasets=("digits", "usps"),
    differences=(
        "The report runs on USPS (16x16); ours on the digits found (see the data note), with the widths adapted.",
        "Purity is the share of a cluster's majority label; its mean is unweighted over the 10 clusters, as in the "
        "report's Figure 5.5 (we also give the size-weighted purity and the adjusted Rand index).",
    ),
)
