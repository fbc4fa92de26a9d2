"""Multi-layer perceptron on flattened pixels: the baseline every image classifier should beat.

Not from a paper; the classic fully connected net (Linear -> BatchNorm -> ReLU -> Dropout blocks). BatchNorm is an
option because it makes the net far less sensitive to the learning rate on small data.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from visionbench.models._base import Classifier
from visionbench.models._registry import register_model
from visionbench.recipe import Recipe

__all__ = ["MLP"]


class MLP(Classifier):
    """A fully connected classifier on flattened images.

    Args:
        num_classes: output classes.
        in_chans: input channels.
        img_size: input side in pixels.
        widths: hidden layer widths.
        dropout: dropout after each hidden layer.
        batch_norm: BatchNorm1d after each hidden Linear.
    """

    def __init__(
        self,
        num_classes: int,
        in_chans: int,
        img_size: int,
        widths: Sequence[int] = (512, 256),
        dropout: float = 0.2,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        layers: list[nn.Module] = [nn.Flatten()]
        prev = in_chans * img_size * img_size
        for width in widths:
            layers.append(nn.Linear(prev, width, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers += [nn.ReLU(inplace=True), nn.Dropout(dropout)]
            prev = width
        self.features = nn.Sequential(*layers)
        self.num_features = prev
        self.head = nn.Linear(prev, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.head(x)

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes)


def _create_mlp(*, num_classes: int, in_chans: int, img_size: int, **kwargs: object) -> MLP:
    return MLP(num_classes, in_chans, img_size, **kwargs)  # type: ignore[arg-type]


_RECIPE = Recipe(
    steps=2000,
    min_epochs=15,
    batch_size=128,
    optimizer="adamw",
    lr=2e-3,
    weight_decay=1e-2,
    schedule="onecycle",
    label_smoothing=0.1,
    augment="none",
    per_dataset={"digits": {"steps": 1140, "batch_size": 64, "augment": "shift"}},
)

# name -> (recipe, description, builder kwargs).
_VARIANTS: dict[str, tuple[Recipe, str, dict[str, object]]] = {
    "mlp": (_RECIPE, "MLP 512-256 with BatchNorm and dropout on flattened pixels", {}),
    "mlp_small": (_RECIPE, "MLP with one hidden layer of 128", dict(widths=(128,), dropout=0.1)),
}
for _name, (_recipe, _description, _kwargs) in _VARIANTS.items():
    register_model(_name, _create_mlp, family="mlp", recipe=_recipe, description=_description, **_kwargs)
