"""Squeeze-and-excitation (Hu et al., "Squeeze-and-Excitation Networks", arXiv 1709.01507).

The block re-weights channels: ``s = sigmoid(W2 relu(W1 avgpool(x)))``, ``out = x * s``. The bottleneck width is
``max(min_channels, channels // reduction)``: with the paper's reduction of 16, the 16-channel first stage of a
CIFAR ResNet would squeeze to a single unit, so a floor (4 by default) keeps the excitation expressive.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SqueezeExcite"]


class SqueezeExcite(nn.Module):
    """Channel attention by squeeze (global average pool) and excitation (two 1x1 convs, sigmoid gate).

    Args:
        channels: channels of the input (and output).
        reduction: ratio between ``channels`` and the hidden width (16 in the paper).
        min_channels: lower bound on the hidden width, for narrow networks.
    """

    def __init__(self, channels: int, reduction: int = 16, min_channels: int = 4) -> None:
        super().__init__()
        if channels < 1 or reduction < 1 or min_channels < 1:
            raise ValueError(f"SqueezeExcite needs positive sizes, got {channels=}, {reduction=}, {min_channels=}")
        hidden = max(min_channels, channels // reduction)
        self.channels = channels
        self.hidden = hidden
        # 1x1 convs on the pooled (B, C, 1, 1) map are the paper's two fully connected layers.
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel of ``x`` (B, C, H, W) by its learned gate in (0, 1)."""
        s = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        s = self.gate(self.fc2(self.act(self.fc1(s))))
        return x * s
