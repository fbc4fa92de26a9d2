"""Squeeze-and-excitation: the gate by hand, the hidden width rule."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from visionbench.layers.se import SqueezeExcite


def test_se_matches_hand_computation() -> None:
    torch.manual_seed(0)
    se = SqueezeExcite(32).double()
    x = torch.randn(3, 32, 5, 5, dtype=torch.float64)
    s = x.mean(dim=(2, 3))  # (B, C)
    s = F.relu(s @ se.fc1.weight.flatten(1).T + se.fc1.bias)
    s = torch.sigmoid(s @ se.fc2.weight.flatten(1).T + se.fc2.bias)
    torch.testing.assert_close(se(x), x * s[:, :, None, None])


@pytest.mark.parametrize(("channels", "reduction", "hidden"), [(16, 16, 4), (64, 16, 4), (256, 16, 16), (32, 4, 8)])
def test_hidden_width(channels: int, reduction: int, hidden: int) -> None:
    assert SqueezeExcite(channels, reduction).hidden == hidden


def test_gate_is_bounded() -> None:
    x = torch.ones(2, 8, 3, 3)
    y = SqueezeExcite(8)(x)
    assert ((y > 0) & (y < 1)).all()
