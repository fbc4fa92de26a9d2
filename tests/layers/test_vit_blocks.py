"""ViT building blocks: sinusoidal embeddings, patch embedding, drop path, MLP."""

from __future__ import annotations

import math

import pytest
import torch

from visionbench.layers.drop import DropPath, drop_path
from visionbench.layers.mlp import Mlp
from visionbench.layers.patch_embed import PatchEmbed
from visionbench.layers.pos_embed import sincos_1d, sincos_2d


@pytest.mark.parametrize("n,d", [(50, 8), (5, 7), (3, 1)])
def test_sincos_1d_matches_formula(n: int, d: int) -> None:
    table = sincos_1d(n, d)
    assert table.shape == (n, d)
    for i in range(n):
        for j in range(d):
            if j % 2 == 0:
                expected = math.sin(i / 10000 ** (j / d))
            else:
                expected = math.cos(i / 10000 ** ((j - 1) / d))
            assert table[i, j].item() == pytest.approx(expected, abs=1e-6)


def test_sincos_2d_halves_encode_row_and_column() -> None:
    g, d = 3, 8
    table = sincos_2d(g, d).reshape(g, g, d)  # (row, col, D)
    torch.testing.assert_close(table[1, 0, :4], sincos_1d(g, 4)[1])
    torch.testing.assert_close(table[0, 2, 4:], sincos_1d(g, 4)[2])
    torch.testing.assert_close(table[2, 0, :4], table[2, 1, :4])


def test_patch_embed_is_a_linear_map_of_each_patch() -> None:
    torch.manual_seed(0)
    pe = PatchEmbed(img_size=8, patch_size=4, in_chans=2, embed_dim=5)
    x = torch.randn(1, 2, 8, 8)
    tokens = pe(x)
    assert tokens.shape == (1, 4, 5)
    # Token 1 is the top-right patch (row-major order).
    patch = x[0, :, 0:4, 4:8].reshape(-1)
    expected = pe.proj.weight.reshape(5, -1) @ patch + pe.proj.bias
    torch.testing.assert_close(tokens[0, 1], expected)


def test_patch_embed_pads_odd_sizes_and_strict_refuses() -> None:
    pe = PatchEmbed(img_size=30, patch_size=4, in_chans=1, embed_dim=6)
    assert pe.grid_size == (8, 8)
    assert pe(torch.randn(2, 1, 30, 30)).shape == (2, 64, 6)
    with pytest.raises(ValueError, match="multiple"):
        PatchEmbed(img_size=30, patch_size=4, padding="strict")
    with pytest.raises(ValueError, match="img_size=28"):
        pe(torch.randn(1, 1, 28, 28))


def test_drop_path_identity_in_eval_and_per_sample_in_training() -> None:
    x = torch.randn(64, 5, 3)
    dp = DropPath(0.5).eval()
    assert torch.equal(dp(x), x)
    assert torch.equal(drop_path(x, 0.0, training=True), x)
    torch.manual_seed(0)
    y = DropPath(0.5).train()(x)
    kept = (y != 0).flatten(1).all(1)
    dropped = (y == 0).flatten(1).all(1)
    assert bool((kept | dropped).all())  # whole samples are dropped, never single values
    assert 0 < int(dropped.sum()) < 64
    torch.testing.assert_close(y[kept], x[kept] * 2)


def test_mlp_shapes_and_gelu() -> None:
    mlp = Mlp(8, 16, drop=0.1).eval()
    x = torch.randn(2, 3, 8)
    assert mlp(x).shape == (2, 3, 8)
    expected = mlp.fc2(torch.nn.functional.gelu(mlp.fc1(x)))
    torch.testing.assert_close(mlp(x), expected)
