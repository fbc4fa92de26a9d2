"""VGG16 (with or without batch norm) for transfer learning: torchvision's architecture behind an input adapter.

Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", arXiv 1409.1556
(configuration D; ``vgg16_bn`` adds BatchNorm after every convolution, as in torchvision).

What this version changes: grayscale inputs are repeated to 3 channels and resized to ``input_size`` (VGG16 needs at
least 32 px: five 2x2 max-pools; 32 by default), the adaptive average pool then replicates the 1x1 map to torchvision's
7x7 so that ImageNet classifier weights still fit, the last Linear is our head, and ``head_width`` can shrink the
4096-wide hidden layers (at 32 px the first one still reads 512*7*7 = 25088 values). Weights: see ``_weights.py``.
"""

from __future__ import annotations

from typing import Literal

import torchvision
from torch import nn

from visionbench.errors import ConfigError
from visionbench.models._registry import register_model
from visionbench.models._torchvision import TorchvisionClassifier, build_torchvision_net, reset_all
from visionbench.models._weights import init_pretrained
from visionbench.recipe import Recipe

__all__ = ["create_vgg", "MIN_INPUT_SIZE"]

MIN_INPUT_SIZE = 32


def _init(net: nn.Module) -> None:
    # torchvision's VGG initialisation: He-normal (fan-out) convolutions, N(0, 0.01) linear layers, zero biases.
    reset_all(net)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def create_vgg(
    *,
    num_classes: int,
    in_chans: int,
    img_size: int,
    arch: Literal["vgg16", "vgg16_bn"] = "vgg16",
    input_size: int = 32,
    head_width: int = 4096,
    drop_rate: float = 0.5,
    channel_adapter: Literal["repeat", "conv"] = "repeat",
    weights: str | None = None,
    init_from: str | None = None,
    freeze: str = "none",
) -> TorchvisionClassifier:
    """Build a VGG16 variant.

    Args:
        num_classes: output classes.
        in_chans: input channels (1 is repeated to 3).
        img_size: the dataset's side (any: the adapter resizes to ``input_size``).
        arch: ``"vgg16"`` or ``"vgg16_bn"``.
        input_size: side fed to the network, at least 32.
        head_width: width of the two hidden classifier layers (4096 = torchvision's).
        drop_rate: classifier dropout.
        channel_adapter: ``"repeat"`` or a learnable ``"conv"`` 1x1 for grayscale inputs.
        weights: None, ``"imagenet"`` or a torchvision-format state dict file.
        init_from: a visionbench run directory of the same ``arch``.
        freeze: ``"none"``, ``"features"`` or ``"all-but-last-K"``.
    """
    if arch not in ("vgg16", "vgg16_bn"):
        raise ConfigError(f"arch={arch!r}: use 'vgg16' or 'vgg16_bn'")
    if input_size < MIN_INPUT_SIZE:
        raise ConfigError(f"input_size={input_size}: VGG16 needs at least {MIN_INPUT_SIZE} px; use 32 or more")
    net = build_torchvision_net(
        getattr(torchvision.models, arch), num_classes=num_classes, head_width=head_width, dropout=drop_rate, init=_init
    )
    model = TorchvisionClassifier(net, in_chans=in_chans, input_size=input_size, channel_adapter=channel_adapter)
    return init_pretrained(model, arch, weights=weights, init_from=init_from, freeze=freeze)  # type: ignore[return-value]


# SGD + momentum as in the paper, with a short warm-up (plain VGG16 stalls without one); not tuned here.
_VGG_RECIPE = Recipe(
    steps=1500,
    min_epochs=10,
    batch_size=128,
    optimizer="sgd",
    lr=0.01,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="cosine",
    warmup_steps=100,
    label_smoothing=0.1,
)

# name -> (recipe, description, builder kwargs).
_VARIANTS: dict[str, tuple[Recipe, str, dict[str, object]]] = {
    "vgg16": (
        _VGG_RECIPE,
        "torchvision VGG16 (138 M params at 1000 classes), grayscale->RGB, resized to 32 px; transfer-ready",
        dict(arch="vgg16"),
    ),
    "vgg16_bn": (
        _VGG_RECIPE,
        "torchvision VGG16 with BatchNorm, grayscale->RGB, resized to 32 px; transfer-ready",
        dict(arch="vgg16_bn"),
    ),
}
for _name, (_recipe, _description, _kwargs) in _VARIANTS.items():
    register_model(
        _name,
        create_vgg,
        family="vgg",
        recipe=_recipe,
        min_img_size=1,  # the adapter resizes to input_size itself
        description=_description,
        **_kwargs,
    )
