"""Classification metrics from logits: accuracy, macro-F1, cross-entropy, top-k, per-class scores, confusion.

Everything here takes NumPy arrays (no torch) and returns plain Python values (``float``, ``int``, ``list``,
``None``) so the result goes straight into ``results.json``. Predictions are ``argmax`` of the logits with ties
broken towards the lower class index, the same rule NumPy and PyTorch use, so ``topk_accuracy(..., k=1)`` equals
``accuracy``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix as _sk_confusion_matrix
from sklearn.metrics import precision_recall_fscore_support

__all__ = ["classification_metrics", "label_metrics", "topk_accuracy", "cross_entropy", "predictions"]


def _check(logits: np.ndarray, labels: np.ndarray, num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, K), got {logits.shape}")
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},) for logits {logits.shape}, not {labels.shape}")
    if logits.shape[0] == 0:
        raise ValueError("cannot compute metrics on an empty set (N = 0)")
    if num_classes is not None and logits.shape[1] != num_classes:
        raise ValueError(f"logits have {logits.shape[1]} columns but num_classes={num_classes}")
    labels = labels.astype(np.int64, copy=False)
    k = logits.shape[1]
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"labels must lie in [0, {k - 1}], got range [{labels.min()}, {labels.max()}]")
    return logits, labels


def predictions(logits: np.ndarray) -> np.ndarray:
    """Predicted class per row: the argmax, ties to the lower index.

    Args:
        logits: scores of shape (N, K).

    Returns:
        int64 array of shape (N,).
    """
    return np.asarray(logits).argmax(axis=1).astype(np.int64)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of softmax(logits) against integer labels, computed stably with log-sum-exp.

    Args:
        logits: unnormalised scores of shape (N, K).
        labels: integer class indices of shape (N,).

    Returns:
        The mean negative log-likelihood in nats (``inf`` or ``nan`` when the logits are not finite).
    """
    logits, labels = _check(logits, labels)
    z = logits.astype(np.float64)
    m = z.max(axis=1, keepdims=True)  # (N, 1)
    # Subtracting the row max keeps exp() from overflowing; m is added back so the value is exact.
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    nll = lse - z[np.arange(z.shape[0]), labels]
    return float(nll.mean())


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose true label is among the ``k`` highest logits.

    Ties are broken towards the lower class index (a stable sort), so ``k=1`` gives the same value as
    :func:`classification_metrics`' ``accuracy``.

    Args:
        logits: scores of shape (N, K).
        labels: integer class indices of shape (N,).
        k: how many top classes count as a hit; must be >= 1 (values above K count every row).

    Returns:
        A fraction in [0, 1].
    """
    logits, labels = _check(logits, labels)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = min(k, logits.shape[1])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]  # (N, k)
    return float((top == labels[:, None]).any(axis=1).mean())


def classification_metrics(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Every metric ``results.json`` reports for one evaluation, as plain JSON values.

    Args:
        logits: unnormalised scores of shape (N, K) with K == ``num_classes``.
        labels: integer class indices of shape (N,).
        num_classes: K; the per-class lists and the confusion matrix always have K entries, even for classes
            absent from ``labels``.

    Returns:
        A dict with ``accuracy`` and ``macro_f1`` (fractions in [0, 1]), ``loss`` (mean cross-entropy in nats,
        ``None`` if not finite), ``top5_accuracy`` (``None`` when ``num_classes <= 5``, where it is always 1),
        ``per_class`` = {"precision", "recall", "f1", "support"} (lists of K values, 0 where undefined) and
        ``confusion_matrix`` (K x K list of ints, rows = true class, columns = predicted class).
        ``macro_f1`` averages F1 over the classes that occur in the labels or the predictions, as scikit-learn
        does, so a class absent from a small test set does not count as a zero.
    """
    logits, labels = _check(logits, labels, num_classes)
    loss = cross_entropy(logits, labels)
    return {
        **label_metrics(predictions(logits), labels, num_classes),
        "loss": loss if np.isfinite(loss) else None,
        "top5_accuracy": topk_accuracy(logits, labels, 5) if num_classes > 5 else None,
    }


def label_metrics(preds: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, Any]:
    """``accuracy``, ``macro_f1``, ``per_class`` and ``confusion_matrix`` (K x K) of predicted labels.

    A prediction outside ``0..K-1`` (-1: a detector that found no box) is wrong: it lowers its true class's recall,
    counts against no class's precision, and has no column in the matrix. ``macro_f1`` averages over the classes
    present in the labels or the (valid) predictions, as :func:`classification_metrics` says.
    """
    preds, labels = np.asarray(preds).reshape(-1), np.asarray(labels).reshape(-1)
    classes = np.arange(num_classes)
    precision, recall, f1, support = precision_recall_fscore_support(labels, preds, labels=classes, zero_division=0)
    seen = np.union1d(np.unique(labels), np.unique(preds[(preds >= 0) & (preds < num_classes)]))
    cm = _sk_confusion_matrix(labels, preds, labels=classes)
    return {
        "accuracy": float((preds == labels).mean()),
        "macro_f1": float(np.mean(f1[seen])),
        "per_class": {
            "precision": [float(v) for v in precision],
            "recall": [float(v) for v in recall],
            "f1": [float(v) for v in f1],
            "support": [int(v) for v in support],
        },
        "confusion_matrix": [[int(v) for v in row] for row in cm],
    }
