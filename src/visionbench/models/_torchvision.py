"""torchvision's ``features`` / ``avgpool`` / ``classifier`` networks (AlexNet, VGG) as classifiers of the zoo.

The network is torchvision's own, built with ``weights=None`` and submodule names kept, so torchvision state dicts
load key for key; an :class:`InputAdapter` in front makes any image batch fit it (3 channels, the network's input
side), and :class:`TorchvisionClassifier` gives it the zoo's classifier contract. Weights: ``_weights.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from visionbench.errors import ConfigError
from visionbench.models._base import Classifier

__all__ = ["InputAdapter", "TorchvisionClassifier", "build_torchvision_net", "reset_all"]


class InputAdapter(nn.Module):
    """Make any image batch fit a torchvision ImageNet architecture: 3 channels, ``input_size`` pixels a side.

    Grayscale is repeated to 3 channels (what ImageNet weights expect: R = G = B), 3 channels pass unchanged,
    any other count goes through a learnable 1x1 convolution (``channels="conv"`` forces it for 1 channel too).
    The side is resized bilinearly to ``input_size`` when it differs. Intensities are left as the pipeline
    normalised them (per-dataset mean/std): a standardised input has the same first and second moments the
    ImageNet-normalised inputs had, which is what the pretrained first layer is calibrated for.
    """

    def __init__(self, in_chans: int, input_size: int, channels: str = "repeat") -> None:
        super().__init__()
        if channels not in ("repeat", "conv"):
            raise ConfigError(f"channel_adapter={channels!r}: use 'repeat' or 'conv'")
        self.in_chans = in_chans
        self.input_size = input_size
        use_conv = in_chans not in (1, 3) or (channels == "conv" and in_chans != 3)
        self.proj = nn.Conv2d(in_chans, 3, kernel_size=1) if use_conv else None
        if self.proj is not None:
            # Start as the channel mean copied to R, G, B: the repeat adapter generalised.
            nn.init.constant_(self.proj.weight, 1.0 / in_chans)
            nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.proj is not None:
            x = self.proj(x)
        elif x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # (B, 3, H, W)
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = nn.functional.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False
            )
        return x


def _rebuild_classifier(classifier: nn.Sequential, width: int) -> nn.Sequential:
    # Same layer layout (so indices and names stay torchvision's), hidden Linear widths set to `width`.
    linears = [i for i, m in enumerate(classifier) if isinstance(m, nn.Linear)]
    layers = list(classifier)
    for i in linears:
        m = layers[i]
        in_f = m.in_features if i == linears[0] else width
        out_f = m.out_features if i == linears[-1] else width
        layers[i] = nn.Linear(in_f, out_f)
    return nn.Sequential(*layers)


def reset_all(net: nn.Module) -> None:
    """PyTorch's default initialisation of every layer (weights and BatchNorm running statistics)."""
    for m in net.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()


def build_torchvision_net(
    factory: Callable[..., nn.Module],
    *,
    num_classes: int,
    head_width: int,
    dropout: float,
    init: Callable[[nn.Module], None] = reset_all,
) -> nn.Module:
    """A torchvision network with ``weights=None``, its classifier's hidden width set to ``head_width``.

    The network is built on the meta device, resized, then materialised on the current default device and
    initialised by ``init``: the 4096-wide layers a smaller head replaces are never allocated (VGG16's first one
    alone holds 102 M parameters), which keeps small models and tests fast.
    """
    device = torch.empty(0).device
    with torch.device("meta"):
        net = factory(weights=None, num_classes=num_classes, dropout=dropout)
        if head_width != net.classifier[-1].in_features:
            net.classifier = _rebuild_classifier(net.classifier, head_width)
    net = net.to_empty(device=device)
    with torch.no_grad():
        init(net)
    return net


class TorchvisionClassifier(Classifier):
    """A torchvision ``features`` / ``avgpool`` / ``classifier`` network (AlexNet, VGG) behind an input adapter.

    The submodules keep torchvision's names, so torchvision state dicts load key for key.
    ``forward_features`` = adapter + features + avgpool + flatten; ``forward_head`` = the classifier, whose last
    Linear is ``get_classifier()`` (the new head when fine-tuning).

    Args:
        net: a torchvision AlexNet or VGG (see :func:`build_torchvision_net`).
        in_chans: input channels.
        input_size: side the adapter resizes to.
        channel_adapter: ``"repeat"`` or ``"conv"`` (see :class:`InputAdapter`).
    """

    def __init__(self, net: nn.Module, *, in_chans: int, input_size: int, channel_adapter: str = "repeat") -> None:
        super().__init__()
        self.adapter = InputAdapter(in_chans, input_size, channel_adapter)
        self.features = net.features
        self.avgpool = net.avgpool
        self.classifier = net.classifier
        self.head_in = self.classifier[-1].in_features
        self.num_classes = self.classifier[-1].out_features

    def get_classifier(self) -> nn.Module:
        # The head is the classifier's last Linear, not a `head` attribute: torchvision's names must stay.
        return self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier[-1] = nn.Linear(self.head_in, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: Tensor) -> Tensor:
        """Images (B, C, H, W) -> flattened pooled features (B, 256*6*6 for AlexNet, 512*7*7 for VGG)."""
        x = self.avgpool(self.features(self.adapter(x)))
        return torch.flatten(x, 1)  # (B, C*h*w)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Features -> logits, or the last hidden activations if ``pre_logits``."""
        x = self.classifier[:-1](x)
        return x if pre_logits else self.classifier[-1](x)
