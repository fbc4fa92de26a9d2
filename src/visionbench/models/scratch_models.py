"""Models of the NumPy engine (``visionbench.scratch``), registered with ``engine="scratch"``.

From the Sorbonne "DIY neural network" course report (seed 003): a linear model, an MLP, the course's reference
Conv1D net (Conv1D(3, 1, 32) -> MaxPool1D(2, 2) -> Flatten -> Linear(4064, 100) -> ReLU -> Linear(100, 10) on a
256-long signal, generalised here to any signal length), a LeNet-like 2-D conv net (channels-last) and an autoencoder
classifier. Each builder returns a :class:`ScratchClassifier`: a ``scratch.Sequential`` that also says how the
pipeline must lay out an NCHW float batch (``input_layout``), its ``num_classes`` and ``flops_per_example()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from visionbench import scratch
from visionbench.models._registry import register_model
from visionbench.recipe import Recipe
from visionbench.scratch import Module, Sequential

__all__ = ["ScratchClassifier", "ScratchAutoEncoderClassifier"]

Layout = Literal["flat", "seq", "nhwc"]
DType = Literal["float32", "float64"]


class ScratchClassifier(Sequential):
    """A ``Sequential`` classifier with what the training pipeline needs to feed and profile it.

    Args:
        layers: the layers, in order.
        num_classes: output classes.
        input_layout: "flat" -> (B, C*H*W) in NCHW C-order, "seq" -> (B, C*H*W, 1), "nhwc" -> (B, H, W, C).
        example_shape: shape of one example in that layout (without the batch axis).
        dtype: "float32" or "float64".
    """

    def __init__(
        self,
        layers: Sequence[Module],
        *,
        num_classes: int,
        input_layout: Layout,
        example_shape: tuple[int, ...],
        dtype: DType = "float32",
    ) -> None:
        super().__init__(*layers)
        self.num_classes, self.input_layout = num_classes, input_layout
        self.example_shape, self.dtype = tuple(example_shape), dtype

    def flops_per_example(self) -> int:
        """Multiply-adds x 2 of one forward pass on one example."""
        return 2 * self.macs((1, *self.example_shape))


class ScratchAutoEncoderClassifier(ScratchClassifier):
    """Encoder + linear head trained end-to-end as a classifier; ``autoencoder`` shares the encoder's layers.

    The decoder is not part of the classifier's parameters or state dict; :meth:`pretrain` fits the autoencoder on
    reconstruction (unsupervised) before supervised training, as in the course's latent-space experiments.
    """

    autoencoder: scratch.AutoEncoder

    def pretrain(
        self, X: np.ndarray, epochs: int = 5, lr: float = 1e-3, batch_size: int = 128, seed: int = 0
    ) -> list[float]:
        """Fit encoder + decoder to reconstruct ``X`` (B, features) with MSE and Adam; returns per-epoch losses."""
        opt = scratch.AdamOptimizer(self.autoencoder, lr)
        x = np.asarray(X, dtype=self.dtype).reshape(len(X), -1)  # (B, C*H*W)
        rng = np.random.default_rng(seed)
        return scratch.SGD(self.autoencoder, scratch.MSELoss(), x, x, batch_size, epochs, rng=rng, optimizer=opt)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _build_linear(
    *, num_classes: int, in_chans: int, img_size: int, seed: int = 0, dtype: DType = "float32"
) -> ScratchClassifier:
    d = in_chans * img_size * img_size
    layers = [scratch.Linear(d, num_classes, init="xavier", rng=_rng(seed), dtype=dtype)]
    return ScratchClassifier(layers, num_classes=num_classes, input_layout="flat", example_shape=(d,), dtype=dtype)


def _build_mlp(
    *,
    num_classes: int,
    in_chans: int,
    img_size: int,
    seed: int = 0,
    dtype: DType = "float32",
    widths: Sequence[int] = (256, 128),
    dropout: float = 0.0,
    batch_norm: bool = False,
) -> ScratchClassifier:
    rng = _rng(seed)
    prev = d = in_chans * img_size * img_size
    layers: list[Module] = []
    for w in widths:
        layers.append(scratch.Linear(prev, w, bias=not batch_norm, init="he", rng=rng, dtype=dtype))
        if batch_norm:
            layers.append(scratch.BatchNorm1D(w, dtype=dtype))
        layers.append(scratch.ReLU())
        if dropout:
            layers.append(scratch.Dropout(dropout))
        prev = w
    layers.append(scratch.Linear(prev, num_classes, init="xavier", rng=rng, dtype=dtype))
    return ScratchClassifier(layers, num_classes=num_classes, input_layout="flat", example_shape=(d,), dtype=dtype)


def _build_cnn1d(
    *,
    num_classes: int,
    in_chans: int,
    img_size: int,
    seed: int = 0,
    dtype: DType = "float32",
    channels: int = 32,
    k_size: int = 3,
    hidden: int = 100,
) -> ScratchClassifier:
    rng = _rng(seed)
    length = in_chans * img_size * img_size
    pooled = (length - k_size + 1 - 2) // 2 + 1
    layers = [
        scratch.Conv1D(k_size, 1, channels, init="he", rng=rng, dtype=dtype),
        scratch.MaxPool1D(2, 2),
        scratch.Flatten(),
        scratch.Linear(pooled * channels, hidden, init="he", rng=rng, dtype=dtype),
        scratch.ReLU(),
        scratch.Linear(hidden, num_classes, init="xavier", rng=rng, dtype=dtype),
    ]
    return ScratchClassifier(
        layers, num_classes=num_classes, input_layout="seq", example_shape=(length, 1), dtype=dtype
    )


def _build_cnn2d(
    *,
    num_classes: int,
    in_chans: int,
    img_size: int,
    seed: int = 0,
    dtype: DType = "float32",
    channels: Sequence[int] = (32, 64),
    hidden: int = 128,
    dropout: float = 0.0,
    batch_norm: bool = False,
) -> ScratchClassifier:
    rng = _rng(seed)
    layers: list[Module] = []
    prev, side = in_chans, img_size
    for c in channels:
        layers.append(scratch.Conv2D(3, prev, c, padding=1, bias=not batch_norm, init="he", rng=rng, dtype=dtype))
        if batch_norm:
            layers.append(scratch.BatchNorm2D(c, dtype=dtype))
        layers += [scratch.ReLU(), scratch.MaxPool2D(2)]
        prev, side = c, side // 2
    layers += [scratch.Flatten(), scratch.Linear(side * side * prev, hidden, init="he", rng=rng, dtype=dtype)]
    layers.append(scratch.ReLU())
    if dropout:
        layers.append(scratch.Dropout(dropout))
    layers.append(scratch.Linear(hidden, num_classes, init="xavier", rng=rng, dtype=dtype))
    return ScratchClassifier(
        layers, num_classes=num_classes, input_layout="nhwc", example_shape=(img_size, img_size, in_chans), dtype=dtype
    )


def _build_autoencoder(
    *,
    num_classes: int,
    in_chans: int,
    img_size: int,
    seed: int = 0,
    dtype: DType = "float32",
    widths: Sequence[int] = (256, 64),
    activation: Literal["tanh", "relu", "sigmoid"] = "tanh",
    tied: bool = True,
) -> ScratchAutoEncoderClassifier:
    d = in_chans * img_size * img_size
    ae = scratch.AutoEncoder.from_widths(
        [d, *widths], activation=activation, out_activation="none", tied=tied, rng=_rng(seed), dtype=dtype
    )
    head = scratch.Linear(widths[-1], num_classes, init="xavier", rng=_rng(seed + 1), dtype=dtype)
    model = ScratchAutoEncoderClassifier(
        [ae.encoder, head], num_classes=num_classes, input_layout="flat", example_shape=(d,), dtype=dtype
    )
    model.autoencoder = ae
    return model


# Tiny 8x8 sets (digits): 760 steps of 64, i.e. 40 passes over digits' 1.2k training images.
_SMALL = {"steps": 760, "batch_size": 64}
_COMMON: dict[str, Any] = {"optimizer": "adamw", "schedule": "cosine", "augment": "none"}

# name -> (builder, recipe, description, builder kwargs). Unlike a torch family, each variant has its own builder:
# they are different networks assembled from the engine's layers, not one class with options.
_VARIANTS: dict[str, tuple[Callable[..., ScratchClassifier], Recipe, str, dict[str, Any]]] = {
    "scratch_linear": (
        _build_linear,
        Recipe(steps=1500, min_epochs=10, batch_size=128, lr=3e-3, weight_decay=1e-4, per_dataset={"small": _SMALL},
               **_COMMON),
        "NumPy engine: one Linear layer on flattened pixels (multinomial logistic regression)",
        {},
    ),
    "scratch_mlp": (
        _build_mlp,
        Recipe(steps=1500, min_epochs=10, batch_size=128, lr=1e-3, weight_decay=1e-4, label_smoothing=0.1,
               per_dataset={"small": _SMALL}, **_COMMON),
        "NumPy engine: MLP 256-128 with ReLU and dropout 0.2 on flattened pixels",
        dict(dropout=0.2),
    ),
    "scratch_cnn1d": (
        _build_cnn1d,
        Recipe(steps=1000, min_epochs=5, batch_size=128, lr=1e-3, weight_decay=1e-4, per_dataset={"small": _SMALL},
               **_COMMON),
        "NumPy engine: the course's Conv1D(3,1,32)-MaxPool1D-Linear(100) net on the flattened image signal",
        {},
    ),
    "scratch_cnn2d": (
        _build_cnn2d,
        Recipe(steps=1200, min_epochs=5, batch_size=128, lr=2e-3, weight_decay=1e-4,
               per_dataset={"small": _SMALL}, **_COMMON),
        "NumPy engine: LeNet-like channels-last CNN, conv3x3(32)-pool-conv3x3(64)-pool-fc128",
        {},
    ),
    "scratch_autoencoder": (
        _build_autoencoder,
        Recipe(steps=1500, min_epochs=10, batch_size=128, lr=1e-3, weight_decay=1e-4, per_dataset={"small": _SMALL},
               **_COMMON),
        "NumPy engine: tied-weight autoencoder's encoder (256-64, tanh) + linear head, trained end-to-end",
        {},
    ),
}  # fmt: skip
# Two 2x2 max-pools need a side of 4 at least; the flat and 1-D nets take any size.
_MIN_IMG_SIZE = {"scratch_cnn2d": 4}
for _name, (_builder, _recipe, _description, _kwargs) in _VARIANTS.items():
    register_model(
        _name,
        _builder,
        family="scratch",
        engine="scratch",
        recipe=_recipe,
        min_img_size=_MIN_IMG_SIZE.get(_name, 1),
        description=_description,
        **_kwargs,
    )
