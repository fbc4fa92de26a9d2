"""ResNet and SE-ResNet: He et al., "Deep Residual Learning for Image Recognition" (arXiv 1512.03385), with the
squeeze-and-excitation block of Hu et al. (arXiv 1709.01507) as a block option.

Two layouts:

* CIFAR-style ``resnet20/32/44/56/110`` (the paper's Sec. 4.2): a 3x3 stem of 16 channels, three stages of
  16/32/64 channels with ``n`` basic blocks each (6n + 2 layers), global average pooling, a linear head. Shortcuts are
  option A by default (identity; on a change of shape, stride-2 subsampling and zero-padded channels), the paper's
  CIFAR choice, which gives its parameter counts (0.27 M for ResNet-20, 0.85 M for ResNet-56).
* ImageNet-style ``resnet18/34`` (basic blocks) and ``resnet50`` (bottlenecks, stride on the 3x3 conv as in
  torchvision's "v1.5"), option B shortcuts (1x1 conv projection + BN). The stem is the 7x7/2 conv + 3x3/2 max-pool
  for large inputs; ``stem="auto"`` switches to a 3x3/1 conv without max-pool for inputs of at most 64 px, where the
  ImageNet stem would throw away most of a 28-32 px image.

What this version changes: any ``in_chans`` and any input side >= 8; SE (reduction 16, at least 4 hidden units) sits
on the residual branch before the addition; ``zero_init_residual`` optionally zeroes the last BN of every branch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from visionbench.errors import ConfigError
from visionbench.layers.se import SqueezeExcite
from visionbench.models._base import Classifier
from visionbench.models._registry import register_model
from visionbench.recipe import Recipe

__all__ = [
    "ShortcutA",
    "BasicBlock",
    "Bottleneck",
    "ResNetBase",
    "ResNet",
    "make_shortcut",
    "make_stage",
    "make_stem",
    "cifar_recipe",
    "imagenet_recipe",
]

Shortcut = Literal["A", "B"]
Stem = Literal["imagenet", "cifar", "auto"]


class ShortcutA(nn.Module):
    """Parameter-free shortcut (option A): subsample by ``stride`` and zero-pad the new channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"option A shortcut cannot reduce channels ({in_channels} -> {out_channels})")
        self.stride = stride
        self.extra = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        # F.pad pads the last dims first: (W_left, W_right, H_top, H_bottom, C_front, C_back).
        return F.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x


def make_shortcut(in_channels: int, out_channels: int, stride: int, kind: Shortcut) -> nn.Module:
    """Identity when the shape is kept, else option A (zero-pad) or B (1x1 conv projection + BN)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if kind == "A":
        return ShortcutA(in_channels, out_channels, stride)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
    )


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias, "same" padding) followed by BN."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout))


def make_stem(kind: Stem, in_chans: int, width: int, img_size: int) -> nn.Sequential:
    """The input stem; ``auto`` picks the ImageNet stem above 64 px and the CIFAR stem otherwise."""
    if kind == "auto":
        kind = "imagenet" if img_size > 64 else "cifar"
    if kind == "imagenet":
        return nn.Sequential(
            nn.Conv2d(in_chans, width, 7, 2, 3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
    if kind == "cifar":
        return nn.Sequential(nn.Conv2d(in_chans, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True))
    raise ConfigError(f"model option stem={kind!r} is unknown; use 'imagenet', 'cifar' or 'auto'")


class BasicBlock(nn.Module):
    """Two 3x3 convs (the first strided), optional SE, then ``relu(shortcut(x) + branch)``."""

    expansion = 1

    def __init__(
        self, in_channels: int, planes: int, stride: int = 1, shortcut: Shortcut = "B", se: bool = False,
        se_reduction: int = 16,
    ) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = conv_bn(in_channels, planes, 3, stride)
        self.conv2 = conv_bn(planes, out, 3)
        self.se = SqueezeExcite(out, se_reduction) if se else nn.Identity()
        self.shortcut = make_shortcut(in_channels, out, stride, shortcut)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv2[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv1(x), inplace=True)
        y = self.se(self.conv2(y))
        return F.relu(self.shortcut(x) + y, inplace=True)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4), optional SE, then ``relu(shortcut(x) + branch)``."""

    expansion = 4

    def __init__(
        self, in_channels: int, planes: int, stride: int = 1, shortcut: Shortcut = "B", se: bool = False,
        se_reduction: int = 16,
    ) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = conv_bn(in_channels, planes, 1)
        self.conv2 = conv_bn(planes, planes, 3, stride)
        self.conv3 = conv_bn(planes, out, 1)
        self.se = SqueezeExcite(out, se_reduction) if se else nn.Identity()
        self.shortcut = make_shortcut(in_channels, out, stride, shortcut)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv3[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv1(x), inplace=True)
        y = F.relu(self.conv2(y), inplace=True)
        y = self.se(self.conv3(y))
        return F.relu(self.shortcut(x) + y, inplace=True)


def make_stage(
    block_cls: type[nn.Module], in_channels: int, planes: int, n: int, stride: int, shortcut: Shortcut, se: bool,
    se_reduction: int,
) -> tuple[list[nn.Module], int]:
    """The ``n`` blocks of one stage (only the first strided) and the stage's output channels."""
    blocks = []
    for j in range(n):
        blocks.append(block_cls(in_channels, planes, stride if j == 0 else 1, shortcut, se, se_reduction))
        in_channels = planes * block_cls.expansion  # type: ignore[attr-defined]
    return blocks, in_channels


class ResNetBase(Classifier):
    """What ResNet and RegNet share: the argument checks and the stem, then global average pool, dropout, linear head.

    The constructor checks the stage options and builds ``self.stem``; the subclass builds its stages and
    ``forward_features`` (returning a (B, C, H, W) map), then calls ``_init_classifier``. The head keeps
    torchvision's name ``fc``.
    """

    num_features: int

    def __init__(
        self, *, in_chans: int, img_size: int, block: Literal["basic", "bottleneck"], layers: Sequence[int],
        widths: Sequence[int], stem: Stem, stem_width: int, shortcut: Shortcut,
    ) -> None:
        super().__init__()
        check_args(block, layers, widths, shortcut, img_size)
        self.stem = make_stem(stem, in_chans, stem_width, img_size)

    def _init_classifier(
        self, num_features: int, num_classes: int, drop_rate: float, zero_init_residual: bool
    ) -> None:
        self.num_features = num_features
        self.drop = nn.Dropout(drop_rate)
        self.reset_classifier(num_classes)
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if hasattr(m, "last_bn"):
                    nn.init.zeros_(m.last_bn().weight)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool the (B, C, H, W) features; return the (B, C) pooled vector or the (B, num_classes) logits."""
        x = self.drop(x.mean(dim=(2, 3)))  # (B, C)
        return x if pre_logits else self.fc(x)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head by a fresh one with ``num_classes`` outputs (0: identity, features out)."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()


class ResNet(ResNetBase):
    """A ResNet of basic or bottleneck blocks.

    Args:
        num_classes: outputs of the head.
        in_chans: input channels.
        img_size: input side (chooses the stem when ``stem="auto"``).
        block: ``basic`` or ``bottleneck``.
        layers: blocks per stage.
        widths: ``planes`` per stage (a bottleneck outputs 4x this).
        stem: ``imagenet`` (7x7/2 + max-pool), ``cifar`` (3x3/1) or ``auto`` (by ``img_size``).
        stem_width: channels of the stem.
        shortcut: ``A`` (zero-pad) or ``B`` (projection) when a block changes shape.
        se: squeeze-and-excitation in every block.
        se_reduction: SE reduction ratio.
        drop_rate: dropout before the head.
        zero_init_residual: start each residual branch at zero (its last BN's gamma = 0).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_chans: int,
        img_size: int,
        block: Literal["basic", "bottleneck"] = "basic",
        layers: Sequence[int] = (3, 3, 3),
        widths: Sequence[int] = (16, 32, 64),
        stem: Stem = "cifar",
        stem_width: int = 16,
        shortcut: Shortcut = "A",
        se: bool = False,
        se_reduction: int = 16,
        drop_rate: float = 0.0,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__(
            in_chans=in_chans, img_size=img_size, block=block, layers=layers, widths=widths, stem=stem,
            stem_width=stem_width, shortcut=shortcut,
        )
        block_cls = BasicBlock if block == "basic" else Bottleneck
        stages, cin = [], stem_width
        for i, (n, planes) in enumerate(zip(layers, widths)):
            blocks, cin = make_stage(block_cls, cin, planes, n, 2 if i > 0 else 1, shortcut, se, se_reduction)
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self._init_classifier(cin, num_classes, drop_rate, zero_init_residual)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


def check_args(block: str, layers: Sequence[int], widths: Sequence[int], shortcut: str, img_size: int) -> None:
    """Raise :class:`ConfigError` for options the ResNet builders cannot honour."""
    if block not in ("basic", "bottleneck"):
        raise ConfigError(f"model option block={block!r} is unknown; use 'basic' or 'bottleneck'")
    if shortcut not in ("A", "B"):
        raise ConfigError(f"model option shortcut={shortcut!r} is unknown; use 'A' (zero-pad) or 'B' (projection)")
    if len(layers) != len(widths) or not layers or min(layers) < 1:
        raise ConfigError(
            f"model options layers={list(layers)} and widths={list(widths)} must be non-empty and of the same length"
        )
    if img_size < 8:
        raise ConfigError(f"ResNet needs img_size >= 8, got {img_size}; resize the inputs up")


def cifar_recipe(min_epochs: int = 30, short_epochs: int = 8, steps: int = 2000) -> Recipe:
    """SGD + Nesterov, lr 0.1 with a 200-step warm-up and cosine decay, wd 5e-4, batch 128, augmentation by dataset.

    He et al. used lr 0.1 divided by 10 at 32k and 48k of 64k iterations with wd 1e-4 (Xu et al. the same schedule
    at 50 % and 75 % of training); cosine and 5e-4 reach the same accuracy in fewer steps, which short CPU budgets
    need. A run takes ``steps`` steps or ``min_epochs`` passes, whichever is more: 30 passes over CIFAR's 50k
    images; ``short_epochs`` passes over the 60 000-image 28 px sets (Fashion-MNIST, MNIST), sized for about 20
    minutes of a ResNet-20 on a 2-core CPU; 35 passes over an 8k-image subset. Fashion-MNIST gets flips only: in 8
    passes the padded crops cost more fitting than they bring (docs/models.md). MNIST keeps ``auto`` (shifts; a
    mirrored digit is another symbol).
    """
    return Recipe(
        steps=steps,
        min_epochs=min_epochs,
        batch_size=128,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        nesterov=True,
        weight_decay=5e-4,
        schedule="cosine",
        warmup_steps=200,
        augment="auto",
        per_dataset={
            "small": {"steps": 760, "batch_size": 64, "lr": 0.05, "warmup_steps": 20},
            "fashion-mnist": {"min_epochs": short_epochs, "augment": "flip"},
            "mnist": {"min_epochs": short_epochs},
        },
    )


def imagenet_recipe(min_epochs: int = 30) -> Recipe:
    """The CIFAR recipe for the wider ImageNet-style nets (about 10x the compute of ResNet-20 at 32 px: fewer
    passes over the 28 px sets)."""
    return cifar_recipe(min_epochs, short_epochs=3)


def _create_resnet(*, num_classes: int, in_chans: int, img_size: int, **kwargs: Any) -> ResNet:
    return ResNet(num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kwargs)


def _name(depth: int, se: bool) -> str:
    return f"{'se' if se else ''}resnet{depth}"


_CIFAR_DEPTHS = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}  # depth 6n + 2 -> n basic blocks per stage
_IMAGENET = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3))}


def _cifar_variant(depth: int, se: bool) -> tuple[Recipe, str, dict[str, Any]]:
    n = _CIFAR_DEPTHS[depth]
    return (
        cifar_recipe(),
        f"CIFAR-style {'SE-' if se else ''}ResNet-{depth} (16/32/64, {n} basic blocks/stage, shortcut A)",
        dict(block="basic", layers=(n, n, n), widths=(16, 32, 64), stem="cifar", stem_width=16, shortcut="A", se=se),
    )


def _imagenet_variant(depth: int, se: bool) -> tuple[Recipe, str, dict[str, Any]]:
    block, layers = _IMAGENET[depth]
    return (
        imagenet_recipe(),
        f"ImageNet-style {'SE-' if se else ''}ResNet-{depth} ({block}, 64-512, shortcut B, 3x3 stem at <= 64 px)",
        dict(
            block=block, layers=layers, widths=(64, 128, 256, 512), stem="auto", stem_width=64, shortcut="B", se=se
        ),
    )


# name -> (recipe, description, builder kwargs); every depth with and without SE.
_VARIANTS: dict[str, tuple[Recipe, str, dict[str, Any]]] = {
    **{_name(depth, se): _cifar_variant(depth, se) for depth in _CIFAR_DEPTHS for se in (False, True)},
    **{_name(depth, se): _imagenet_variant(depth, se) for depth in _IMAGENET for se in (False, True)},
}
for _variant, (_recipe, _description, _kwargs) in _VARIANTS.items():
    register_model(
        _variant,
        _create_resnet,
        family="resnet",
        recipe=_recipe,
        min_img_size=8,
        description=_description,
        **_kwargs,
    )
