"""The classifier contract every torch model of the zoo follows, with the parts that are the same everywhere."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Classifier"]


class Classifier(nn.Module):
    """Base of every torch classifier of the zoo (CNN, MLP, ResNet, RegNet, ViT, AlexNet/VGG).

    The contract, timm's: ``forward(x) = forward_head(forward_features(x))``; ``forward_head(x, pre_logits=True)``
    returns the (B, D) vector the head reads; ``get_classifier()`` is the head (the module a fine-tuning run trains
    at full learning rate); ``reset_classifier(num_classes)`` replaces it and updates ``num_classes``.

    Subclasses set ``num_classes`` and implement ``forward_features``, ``forward_head`` and ``reset_classifier``.
    The head lives in ``self.head`` unless the subclass overrides ``get_classifier`` (ResNet's ``fc`` and
    torchvision's ``classifier[-1]`` keep their upstream names, so that their state dicts load key for key).
    """

    num_classes: int
    head: nn.Module

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> the features the head reads (a map, tokens or a vector, by family)."""
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Features -> logits (B, num_classes), or the (B, D) vector before the last Linear if ``pre_logits``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head by a fresh one with ``num_classes`` outputs."""
        raise NotImplementedError
