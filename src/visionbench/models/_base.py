"""The classifier contract every torch model of the zoo follows, with the parts that are the same everywhere."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Classifier"]


class Classifier(nn.Module):
    """Base of a torch classifier: ``forward = forward_head(forward_features(x))`` and the head lives in ``self.head``.

    Subclasses set ``num_classes`` and ``head`` and implement ``forward_features``, ``forward_head`` and
    ``reset_classifier``.
    """

    num_classes: int
    head: nn.Module

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        raise NotImplementedError
