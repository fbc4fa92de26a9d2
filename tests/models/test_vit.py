"""Vision Transformer: variants, shapes, gradients, attention maps, fused path, pooling, freeze/init."""

from __future__ import annotations

import pytest
import torch

from visionbench.models import create_model, list_models
from visionbench.models.vit import VisionTransformer

TINY = dict(embed_dim=16, depth=2, num_heads=2, mlp_ratio=2.0)


def test_variants_registered() -> None:
    assert {"vit_tutorial", "vit_tiny_patch4", "vit_tiny_convstem", "vit_small_patch4"} <= set(list_models("vit*"))


def test_vit_tutorial_configuration_and_logits() -> None:
    m = create_model("vit_tutorial", num_classes=10, in_chans=1, img_size=28).eval()
    assert m.patch_embed.num_patches == 49 and m.embed_dim == 8 and len(m.blocks) == 2
    assert m.blocks[0].attn.num_heads == 2 and m.cls_token is not None
    assert "pos_embed" not in dict(m.named_parameters())  # fixed sinusoids
    out = m(torch.randn(4, 1, 28, 28))
    # Logits, not probabilities: the rows do not sum to one (no softmax in the model).
    assert not torch.allclose(out.sum(1), torch.ones(4))


@pytest.mark.parametrize("img_size,in_chans", [(28, 1), (32, 1), (28, 3), (32, 3)])
def test_vit_tiny_forward_backward(img_size: int, in_chans: int) -> None:
    torch.manual_seed(0)
    m = create_model("vit_tiny_patch4", num_classes=7, in_chans=in_chans, img_size=img_size, drop_path_rate=0.1)
    out = m(torch.randn(2, in_chans, img_size, img_size))
    assert out.shape == (2, 7) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters() if p.requires_grad)


@pytest.mark.parametrize("global_pool", ["token", "avg"])
@pytest.mark.parametrize("pos_embed", ["learned", "sincos"])
def test_fused_and_written_out_models_agree(global_pool: str, pos_embed: str) -> None:
    torch.manual_seed(0)
    kw = dict(img_size=28, in_chans=1, num_classes=5, global_pool=global_pool, pos_embed=pos_embed, **TINY)
    a = VisionTransformer(fused_attn=False, **kw).eval()
    b = VisionTransformer(fused_attn=True, **kw).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(b(x), a(x), atol=1e-6, rtol=1e-5)


def test_forward_attention_maps() -> None:
    m = VisionTransformer(img_size=32, in_chans=3, num_classes=4, **TINY).eval()
    maps = m.forward_attention(torch.randn(2, 3, 32, 32))
    assert len(maps) == 2
    for a in maps:
        assert a.shape == (2, 2, 65, 65)  # 8x8 patches + class token
        torch.testing.assert_close(a.sum(-1), torch.ones(2, 2, 65))


def test_avg_pool_has_no_class_token_and_pre_logits() -> None:
    m = VisionTransformer(img_size=28, in_chans=1, num_classes=3, global_pool="avg", **TINY).eval()
    assert m.cls_token is None
    feats = m.forward_features(torch.randn(2, 1, 28, 28))
    assert feats.shape == (2, 49, 16)
    assert m.forward_head(feats, pre_logits=True).shape == (2, 16)


def test_contract_reset_classifier_and_drop_path_schedule() -> None:
    m = VisionTransformer(img_size=28, in_chans=1, num_classes=3, drop_path_rate=0.2, **{**TINY, "depth": 3})
    rates = [getattr(b.drop_path1, "drop_prob", 0.0) for b in m.blocks]
    assert rates == pytest.approx([0.0, 0.1, 0.2])
    m.reset_classifier(11)
    assert m.num_classes == 11 and m.get_classifier().out_features == 11
    assert m(torch.randn(1, 1, 28, 28)).shape == (1, 11)


def test_seeded_determinism() -> None:
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        m = create_model("vit_tiny_patch4", num_classes=10, in_chans=1, img_size=28).eval()
        torch.manual_seed(4)
        outs.append(m(torch.randn(2, 1, 28, 28)))
    assert torch.equal(outs[0], outs[1])


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="global_pool"):
        VisionTransformer(global_pool="max", **TINY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pos_embed"):
        VisionTransformer(pos_embed="rope", **TINY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="power of two"):
        VisionTransformer(stem="conv", patch_size=6, **TINY)
    with pytest.raises(ValueError, match="stem"):
        VisionTransformer(stem="resnet", **TINY)  # type: ignore[arg-type]


@pytest.mark.parametrize(("img_size", "patch_size"), [(28, 4), (32, 4), (30, 4), (16, 2), (32, 8)])
def test_conv_stem_gives_the_patch_grid(img_size: int, patch_size: int) -> None:
    """The convolutional stem yields the same token grid as patchify, with log2(p) stride-2 3x3 convs + a 1x1."""
    conv = VisionTransformer(img_size=img_size, patch_size=patch_size, stem="conv", **TINY)
    plain = VisionTransformer(img_size=img_size, patch_size=patch_size, **TINY)
    x = torch.randn(2, 1, img_size, img_size)
    assert conv.forward_features(x).shape == plain.forward_features(x).shape
    convs = [m for m in conv.patch_embed.proj.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride for c in convs[:-1]] == [(2, 2)] * (patch_size.bit_length() - 1)
    assert convs[-1].kernel_size == (1, 1) and convs[-1].out_channels == TINY["embed_dim"]
