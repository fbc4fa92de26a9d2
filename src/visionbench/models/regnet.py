"""RegNet: the ConvRNN-regulated ResNet of Xu et al., "RegNet: Self-Regulated Network for Image Classification"
(arXiv 2101.00590). Not torchvision's ``regnet_x``/``regnet_y`` (Radosavovic et al., a different paper).

Each regulated stage owns one ConvRNN cell (ConvRNN, ConvLSTM or ConvGRU) whose weights are shared by the stage's
blocks: the blocks are the RNN's time steps. In a regulated basic block (the paper's Fig. 3a) the first conv's
output ``x2`` is read by the cell; its hidden map ``H`` (after BN + ReLU) is fused with ``x2`` by a 1x1 conv, and the
second 3x3 conv and the shortcut follow as in ResNet. The regulated bottleneck (Fig. 3b) reads the 1x1-reduced map,
and fuses ``H`` with the 3x3 conv's output before the 1x1 expansion.

Choices the paper leaves open, made here (see docs/models.md):

* State across a stage boundary: zero at each stage (``state_transfer="zero"``, default: the widths and resolutions
  change, so nothing carries over unaltered); ``"conv"`` carries it with a strided 3x3 conv + BN per state tensor.
* The recurrence carries the cell's raw ``h`` (and ``c``); BN + ReLU apply only to the copy fed to the fusion conv,
  one BN per block, since the statistics differ from one time step to the next.
* The first block of a stage changes resolution: the cell reads ``x2`` at the block's output resolution. In the
  bottleneck that means the stride sits on the first 1x1 conv (as in the original ResNet-50 of He et al.).
* Unregulated stages (``regulated_stages`` leaves them out) use the plain ResNet blocks; SE sits on the residual
  branch before the addition, as in SE-ResNet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from visionbench.errors import ConfigError, suggest
from visionbench.layers.convrnn import ConvGRUCell, ConvLSTMCell, ConvRNNCell, State
from visionbench.layers.se import SqueezeExcite
from visionbench.models._registry import register_model
from visionbench.models.resnet import (
    BasicBlock,
    Bottleneck,
    ResNetBase,
    Shortcut,
    Stem,
    cifar_recipe,
    conv_bn,
    imagenet_recipe,
    make_shortcut,
    make_stage,
)
from visionbench.recipe import Recipe

__all__ = ["RegulatedBasicBlock", "RegulatedBottleneck", "StateTransfer", "RegNet", "make_cell"]

RNN = Literal["convrnn", "convlstm", "convgru"]
_CELLS = {"convrnn": ConvRNNCell, "convlstm": ConvLSTMCell, "convgru": ConvGRUCell}


def make_cell(rnn: RNN, channels: int, cheap: bool = False, groups: int | None = None) -> nn.Module:
    """The stage's shared cell: input and hidden width both ``channels``."""
    if rnn not in _CELLS:
        raise ConfigError(f"model option rnn={rnn!r} is unknown{suggest(rnn, _CELLS)}; use one of {', '.join(_CELLS)}")
    return _CELLS[rnn](channels, channels, 3, cheap=cheap, groups=groups)


class RegulatedBasicBlock(nn.Module):
    """Fig. 3a: ``x2 = relu(bn(conv3x3(x1)))``; ``H, state = cell(x2, state)``; ``x3 = relu(bn(conv1x1([x2,
    relu(bn(H))])))``; ``x4 = bn(conv3x3(x3))``; ``out = relu(shortcut(x1) + se(x4))``."""

    expansion = 1

    def __init__(
        self, in_channels: int, planes: int, stride: int = 1, shortcut: Shortcut = "A", se: bool = False,
        se_reduction: int = 16,
    ) -> None:
        super().__init__()
        self.hidden_channels = planes
        self.conv1 = conv_bn(in_channels, planes, 3, stride)
        self.rnn_bn = nn.BatchNorm2d(planes)
        self.fuse = conv_bn(2 * planes, planes, 1)
        self.conv2 = conv_bn(planes, planes, 3)
        self.se = SqueezeExcite(planes, se_reduction) if se else nn.Identity()
        self.shortcut = make_shortcut(in_channels, planes, stride, shortcut)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv2[1]

    def forward(self, x: torch.Tensor, cell: nn.Module, state: State | None) -> tuple[torch.Tensor, State]:
        x2 = F.relu(self.conv1(x))
        h, state = cell(x2, state)
        x3 = F.relu(self.fuse(torch.cat([x2, F.relu(self.rnn_bn(h))], dim=1)))  # (B, 2 planes, H, W) fused
        x4 = self.se(self.conv2(x3))
        return F.relu(self.shortcut(x) + x4), state


class RegulatedBottleneck(nn.Module):
    """Fig. 3b: ``x2 = relu(bn(conv1x1(x1)))`` (strided); ``H, state = cell(x2, state)``;
    ``x3 = relu(bn(conv3x3(x2)))``; ``x4 = relu(bn(conv1x1([x3, relu(bn(H))])))``; ``x5 = bn(conv1x1(x4))``
    (expansion 4); ``out = relu(shortcut(x1) + se(x5))``."""

    expansion = 4

    def __init__(
        self, in_channels: int, planes: int, stride: int = 1, shortcut: Shortcut = "B", se: bool = False,
        se_reduction: int = 16,
    ) -> None:
        super().__init__()
        out = planes * self.expansion
        self.hidden_channels = planes
        self.conv1 = conv_bn(in_channels, planes, 1, stride)
        self.rnn_bn = nn.BatchNorm2d(planes)
        self.conv2 = conv_bn(planes, planes, 3)
        self.fuse = conv_bn(2 * planes, planes, 1)
        self.conv3 = conv_bn(planes, out, 1)
        self.se = SqueezeExcite(out, se_reduction) if se else nn.Identity()
        self.shortcut = make_shortcut(in_channels, out, stride, shortcut)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv3[1]

    def forward(self, x: torch.Tensor, cell: nn.Module, state: State | None) -> tuple[torch.Tensor, State]:
        x2 = F.relu(self.conv1(x))
        h, state = cell(x2, state)
        x3 = F.relu(self.conv2(x2))
        x4 = F.relu(self.fuse(torch.cat([x3, F.relu(self.rnn_bn(h))], dim=1)))  # (B, 2 planes, H, W) fused
        x5 = self.se(self.conv3(x4))
        return F.relu(self.shortcut(x) + x5), state


class StateTransfer(nn.Module):
    """Carry a stage's final state into the next stage: a strided 3x3 conv + BN per state tensor."""

    def __init__(self, in_channels: int, out_channels: int, num_states: int, stride: int = 2) -> None:
        super().__init__()
        self.convs = nn.ModuleList(conv_bn(in_channels, out_channels, 3, stride) for _ in range(num_states))

    def forward(self, state: State) -> State:
        return tuple(conv(s) for conv, s in zip(self.convs, state))


class RegNet(ResNetBase):
    """A ResNet whose ``regulated_stages`` each carry a ConvRNN across their blocks.

    After each forward pass with ``record_states=True``, ``stage_states`` holds, per stage, ``None`` (unregulated) or
    a dict ``{"initial": state or None (zero state), "final": state}`` — the hook the tests use to check that the
    state is reset or carried.

    Args:
        num_classes: outputs of the head.
        in_chans: input channels.
        img_size: input side (chooses the stem when ``stem="auto"``).
        block: ``basic`` (Fig. 3a) or ``bottleneck`` (Fig. 3b).
        layers: blocks per stage.
        widths: ``planes`` per stage; the cell's hidden width (the reduced width for bottlenecks).
        rnn: the cell type.
        regulated_stages: indices of the stages with a regulator (``None``: all; an int: that stage only).
        state_transfer: ``zero`` (fresh zero state per stage) or ``conv`` (strided conv of the previous state).
        cheap_rnn: grouped 1x1 + grouped 3x3 gate convolutions instead of a full 3x3.
        rnn_groups: groups of the cheap convolution (``None``: one per hidden channel).
        stem: ``imagenet``, ``cifar`` or ``auto``.
        stem_width: channels of the stem.
        shortcut: ``A`` (zero-pad) or ``B`` (projection).
        se: squeeze-and-excitation in every block.
        se_reduction: SE reduction ratio.
        drop_rate: dropout before the head.
        zero_init_residual: start each residual branch at zero.
        record_states: keep the states of the last forward pass in ``stage_states``.
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
        rnn: RNN = "convlstm",
        regulated_stages: Sequence[int] | int | None = None,
        state_transfer: Literal["zero", "conv"] = "zero",
        cheap_rnn: bool = False,
        rnn_groups: int | None = None,
        stem: Stem = "cifar",
        stem_width: int = 16,
        shortcut: Shortcut = "A",
        se: bool = False,
        se_reduction: int = 16,
        drop_rate: float = 0.0,
        zero_init_residual: bool = False,
        record_states: bool = False,
    ) -> None:
        super().__init__(
            in_chans=in_chans, img_size=img_size, block=block, layers=layers, widths=widths, stem=stem,
            stem_width=stem_width, shortcut=shortcut,
        )
        n_stages = len(layers)
        if isinstance(regulated_stages, int):  # `--model-arg regulated_stages=0` arrives as an int
            regulated_stages = (regulated_stages,)
        regulated = tuple(range(n_stages)) if regulated_stages is None else tuple(sorted(set(regulated_stages)))
        if any(not 0 <= s < n_stages for s in regulated):
            raise ConfigError(f"model option regulated_stages={list(regulated)} must index stages 0..{n_stages - 1}")
        if state_transfer not in ("zero", "conv"):
            raise ConfigError(f"model option state_transfer={state_transfer!r} is unknown; use 'zero' or 'conv'")
        plain, reg = (BasicBlock, RegulatedBasicBlock) if block == "basic" else (Bottleneck, RegulatedBottleneck)
        self.regulated_stages = regulated
        self.state_transfer = state_transfer
        self.rnn = rnn
        self.record_states = record_states
        self.stage_states: list[dict[str, Any] | None] = []
        self.stages = nn.ModuleList()
        self.cells = nn.ModuleDict()
        self.transfers = nn.ModuleDict()
        cin = stem_width
        for i, (n, planes) in enumerate(zip(layers, widths)):
            cls = reg if i in regulated else plain
            blocks, cin = make_stage(cls, cin, planes, n, 2 if i > 0 else 1, shortcut, se, se_reduction)
            self.stages.append(nn.ModuleList(blocks))
            if i in regulated:
                cell = make_cell(rnn, planes, cheap_rnn, rnn_groups)
                self.cells[str(i)] = cell
                if state_transfer == "conv" and i - 1 in regulated:
                    self.transfers[str(i)] = StateTransfer(widths[i - 1], planes, cell.num_states)
        self._init_classifier(cin, num_classes, drop_rate, zero_init_residual)
        # Kaiming fan-out suits ReLU convs, not sigmoid/tanh gates: the cells keep PyTorch's default init.
        for m in self.cells.modules():
            if isinstance(m, nn.Conv2d):
                m.reset_parameters()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        log: list[dict[str, Any] | None] = []
        prev: State | None = None
        for i, blocks in enumerate(self.stages):
            key = str(i)
            if key not in self.cells:
                for blk in blocks:
                    x = blk(x)
                prev = None
                log.append(None)
                continue
            state = self.transfers[key](prev) if (key in self.transfers and prev is not None) else None
            initial = state
            for blk in blocks:
                x, state = blk(x, self.cells[key], state)
            prev = state
            log.append({"initial": initial, "final": state})
        if self.record_states:
            self.stage_states = log
        return x


def _create_regnet(*, num_classes: int, in_chans: int, img_size: int, **kwargs: Any) -> RegNet:
    return RegNet(num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kwargs)


def _name(depth: int, rnn: RNN, se: bool) -> str:
    return f"{'se' if se else ''}regnet{depth}_{rnn}"


def _cifar_variant(depth: int, rnn: RNN, se: bool = False) -> tuple[Recipe, str, dict[str, Any]]:
    n = (depth - 2) // 6
    return (
        # The full ConvLSTM regulator costs about 5x ResNet-20's FLOPs: fewer epochs on the 28 px sets.
        cifar_recipe(short_epochs=3),
        f"CIFAR-style {'SE-' if se else ''}RegNet-{depth}: ResNet-{depth} regulated by a {rnn} per stage",
        dict(
            block="basic", layers=(n, n, n), widths=(16, 32, 64), rnn=rnn, stem="cifar", stem_width=16, shortcut="A",
            se=se,
        ),
    )


def _imagenet_variant(se: bool) -> tuple[Recipe, str, dict[str, Any]]:
    return (
        imagenet_recipe(),
        f"ImageNet-style {'SE-' if se else ''}RegNet-50: bottleneck ResNet-50 regulated by a cheap (grouped) ConvLSTM",
        dict(
            block="bottleneck",
            layers=(3, 4, 6, 3),
            widths=(64, 128, 256, 512),
            rnn="convlstm",
            # A full 3x3 ConvLSTM at widths 64-512 would double ResNet-50 (53 M parameters): the paper's cheaper
            # grouped ConvRNN keeps the regulator's cost small at this width.
            cheap_rnn=True,
            stem="auto",
            stem_width=64,
            shortcut="B",
            se=se,
        ),
    )


_RNNS: tuple[RNN, ...] = ("convlstm", "convgru", "convrnn")

# name -> (recipe, description, builder kwargs): RegNet-20 with each cell, with and without SE; the deeper CIFAR
# nets with a ConvLSTM; RegNet-50 with and without SE.
_VARIANTS: dict[str, tuple[Recipe, str, dict[str, Any]]] = {
    **{_name(20, rnn, se): _cifar_variant(20, rnn, se) for rnn in _RNNS for se in (False, True)},
    **{_name(depth, "convlstm", False): _cifar_variant(depth, "convlstm") for depth in (32, 44, 56, 110)},
    **{_name(50, "convlstm", se): _imagenet_variant(se) for se in (False, True)},
}
for _variant, (_recipe, _description, _kwargs) in _VARIANTS.items():
    register_model(
        _variant,
        _create_regnet,
        family="regnet",
        recipe=_recipe,
        min_img_size=8,
        description=_description,
        **_kwargs,
    )
