"""Multi-head self-attention, written out (Vaswani et al., "Attention Is All You Need", arXiv 1706.03762).

For tokens x (B, N, D) and h heads of width d = D / h:

    q, k, v = x W_q, x W_k, x W_v                   one (D, 3D) linear map, split into h heads of width d
    A = softmax(q k^T / sqrt(d))                    (B, h, N, N), each row sums to 1
    out = concat_heads(A v) W_o                     (B, N, D)

``fused=True`` computes the same thing with ``torch.nn.functional.scaled_dot_product_attention`` (faster, less
memory); the attention matrix is then not materialised, so :meth:`Attention.forward` with ``return_attention=True``
always takes the written-out path.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Attention"]


class Attention(nn.Module):
    """Multi-head self-attention over a token sequence.

    Args:
        dim: token width D.
        num_heads: number of heads h; ``dim`` must be a multiple of it.
        qkv_bias: whether the q, k, v projections have a bias.
        attn_drop: dropout on the attention weights (training only).
        proj_drop: dropout after the output projection.
        fused: use PyTorch's fused ``scaled_dot_product_attention`` instead of the written-out softmax.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        fused: bool = False,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not a multiple of num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.fused = fused
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _split_heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim)  # (B, N, 3, h, d)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, B, h, N, d)
        return qkv[0], qkv[1], qkv[2]

    def forward(self, x: Tensor, return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Attend ``x`` (B, N, D) to itself.

        Args:
            x: tokens (B, N, D).
            return_attention: also return the attention weights (B, h, N, N), computed on the written-out path.

        Returns:
            The output tokens (B, N, D), and the attention weights when asked.
        """
        b, n, c = x.shape
        q, k, v = self._split_heads(x)
        attn = None
        if self.fused and not return_attention:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop.p if self.training else 0.0)
        else:
            # Scaling q before the product keeps the logits' magnitude small in low precision.
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, h, N, N)
            out = self.attn_drop(attn) @ v  # (B, h, N, d)
        out = out.transpose(1, 2).reshape(b, n, c)  # (B, N, D)
        out = self.proj_drop(self.proj(out))
        if return_attention:
            return out, attn
        return out
