"""Multi-head self-attention: written-out vs fused kernel, attention maps, shapes."""

from __future__ import annotations

import pytest
import torch

from visionbench.layers.attention import Attention


@pytest.mark.parametrize("dim,heads,n", [(8, 2, 50), (24, 3, 17), (16, 1, 5)])
def test_fused_matches_written_out(dim: int, heads: int, n: int) -> None:
    torch.manual_seed(0)
    written = Attention(dim, heads, fused=False).eval()
    fused = Attention(dim, heads, fused=True).eval()
    fused.load_state_dict(written.state_dict())
    x = torch.randn(3, n, dim)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), written(x), atol=1e-6, rtol=1e-5)


def test_written_out_matches_hand_computation() -> None:
    torch.manual_seed(1)
    attn = Attention(6, num_heads=2, qkv_bias=True).eval()
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    attn = attn.double()
    wq, wk, wv = attn.qkv.weight.split(6)
    bq, bk, bv = attn.qkv.bias.split(6)
    outs = []
    for h in range(2):
        sl = slice(3 * h, 3 * h + 3)
        q, k, v = x @ wq[sl].T + bq[sl], x @ wk[sl].T + bk[sl], x @ wv[sl].T + bv[sl]
        a = torch.softmax(q @ k.transpose(1, 2) / 3**0.5, dim=-1)
        outs.append(a @ v)
    expected = torch.cat(outs, dim=-1) @ attn.proj.weight.T + attn.proj.bias
    with torch.no_grad():
        torch.testing.assert_close(attn(x), expected)


def test_attention_maps_rows_sum_to_one() -> None:
    attn = Attention(16, 4).eval()
    out, maps = attn(torch.randn(2, 10, 16), return_attention=True)
    assert out.shape == (2, 10, 16)
    assert maps.shape == (2, 4, 10, 10)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 4, 10))
    assert (maps >= 0).all()


def test_fused_module_still_returns_maps() -> None:
    attn = Attention(16, 4, fused=True).eval()
    _, maps = attn(torch.randn(1, 7, 16), return_attention=True)
    assert maps.shape == (1, 4, 7, 7)


def test_dim_not_multiple_of_heads() -> None:
    with pytest.raises(ValueError, match="multiple"):
        Attention(10, 3)
