"""Stochastic depth ("drop path"): drop a whole residual branch per sample during training.

Huang et al., "Deep Networks with Stochastic Depth" (arXiv 1603.09382). The surviving branches are scaled by
1 / keep_prob so that the expected output equals the eval-mode output, which is the identity.
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["drop_path", "DropPath"]


def drop_path(x: Tensor, drop_prob: float = 0.0, training: bool = False) -> Tensor:
    """Zero the residual branch ``x`` for a random subset of the samples of the batch.

    Args:
        x: a residual branch output, batch first.
        drop_prob: probability of dropping the branch of one sample.
        training: only drops in training mode; otherwise returns ``x`` unchanged.

    Returns:
        ``x`` with some samples zeroed and the others scaled by ``1 / (1 - drop_prob)``.
    """
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    # One Bernoulli draw per sample, broadcast over every other dimension.
    mask_shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # (B, 1, ..., 1)
    mask = x.new_empty(mask_shape).bernoulli_(keep_prob)
    return x * mask / keep_prob


class DropPath(nn.Module):
    """Module form of :func:`drop_path`; the identity in eval mode."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:g}"
