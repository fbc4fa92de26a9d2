"""AlexNet for transfer learning: torchvision's architecture behind an input adapter.

Krizhevsky, Sutskever and Hinton, "ImageNet Classification with Deep Convolutional Neural Networks", NeurIPS 2012
(torchvision follows the single-GPU variant of Krizhevsky, "One weird trick...", arXiv 1404.5997).

What this version changes: grayscale inputs are repeated to 3 channels and every input is resized to
``input_size`` (AlexNet needs at least 63 px; 64 by default for speed on a CPU), the last Linear is the head for our
number of classes, and ``head_width`` can shrink the two 4096-wide hidden layers for small data. Weights: ImageNet,
a torchvision-format state dict file, or an earlier run (see ``_weights.py``).
"""

from __future__ import annotations

from typing import Literal

import torchvision

from visionbench.errors import ConfigError
from visionbench.models._registry import register_model
from visionbench.models._torchvision import TorchvisionClassifier, build_torchvision_net
from visionbench.models._weights import init_pretrained
from visionbench.recipe import Recipe

__all__ = ["create_alexnet", "MIN_INPUT_SIZE"]

MIN_INPUT_SIZE = 63  # the features stack of 3 stride-2 max-pools after a stride-4 conv needs 63 px for one output


def create_alexnet(
    *,
    num_classes: int,
    in_chans: int,
    img_size: int,
    input_size: int = 64,
    head_width: int = 4096,
    drop_rate: float = 0.5,
    channel_adapter: Literal["repeat", "conv"] = "repeat",
    weights: str | None = None,
    init_from: str | None = None,
    freeze: str = "none",
) -> TorchvisionClassifier:
    """Build the ``alexnet`` variant.

    Args:
        num_classes: output classes.
        in_chans: input channels (1 is repeated to 3).
        img_size: the dataset's side (any: the adapter resizes to ``input_size``).
        input_size: side fed to the network, at least 63.
        head_width: width of the two hidden classifier layers (4096 = torchvision's).
        drop_rate: classifier dropout.
        channel_adapter: ``"repeat"`` or a learnable ``"conv"`` 1x1 for grayscale inputs.
        weights: None, ``"imagenet"`` or a torchvision-format state dict file.
        init_from: a visionbench run directory of ``alexnet``.
        freeze: ``"none"``, ``"features"`` or ``"all-but-last-K"``.
    """
    if input_size < MIN_INPUT_SIZE:
        raise ConfigError(f"input_size={input_size}: AlexNet needs at least {MIN_INPUT_SIZE} px; use 64 or more")
    # torchvision's AlexNet keeps PyTorch's default initialisation, which is what reset_all gives.
    net = build_torchvision_net(
        torchvision.models.alexnet, num_classes=num_classes, head_width=head_width, dropout=drop_rate
    )
    model = TorchvisionClassifier(net, in_chans=in_chans, input_size=input_size, channel_adapter=channel_adapter)
    return init_pretrained(model, "alexnet", weights=weights, init_from=init_from, freeze=freeze)  # type: ignore[return-value]


# Adam at 1e-4: with SGD at lr 0.01 (torchvision's ImageNet recipe) AlexNet, which has no BatchNorm, sat at
# chance for a whole epoch on Fashion-MNIST and for 10 epochs on digits; Adam leaves the plateau at once
# (measured: digits 10.2 % -> 77.8 % in 10 epochs; Fashion-MNIST, 20k images x 3 epochs, 56.4 % -> see docs).
_ALEXNET_RECIPE = Recipe(
    steps=1500,
    min_epochs=10,
    batch_size=128,
    optimizer="adam",
    lr=1e-4,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="cosine",
    warmup_steps=100,
    label_smoothing=0.1,
)

# name -> (recipe, description, builder kwargs).
_VARIANTS: dict[str, tuple[Recipe, str, dict[str, object]]] = {
    "alexnet": (
        _ALEXNET_RECIPE,
        "torchvision AlexNet (61 M params at 1000 classes), grayscale->RGB, resized to 64 px; transfer-ready",
        {},
    ),
}
for _name, (_recipe, _description, _kwargs) in _VARIANTS.items():
    register_model(
        _name,
        create_alexnet,
        family="alexnet",
        recipe=_recipe,
        # The adapter resizes to input_size itself, so the pipeline does not need to resize.
        min_img_size=1,
        description=_description,
        **_kwargs,
    )
