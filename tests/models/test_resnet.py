"""ResNet / SE-ResNet: parameter counts against the papers, shortcuts, stems, SE placement, options."""

from __future__ import annotations

import pytest
import torch

from visionbench.errors import ConfigError
from visionbench.layers.se import SqueezeExcite
from visionbench.models import create_model, get_entry
from visionbench.models.resnet import BasicBlock, ResNet, ShortcutA


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "num_classes", "img_size", "reference"),
    [
        ("resnet20", 10, 32, 0.27e6),
        ("resnet56", 10, 32, 0.85e6),
        ("resnet110", 10, 32, 1.7e6),
        ("resnet18", 1000, 224, 11.69e6),
        ("resnet50", 1000, 224, 25.56e6),
    ],
)
def test_parameter_counts(name: str, num_classes: int, img_size: int, reference: float) -> None:
    n = _params(create_model(name, num_classes=num_classes, in_chans=3, img_size=img_size))
    assert abs(n - reference) / reference < 0.03, n


def test_exact_counts() -> None:
    # Exact values (torchvision's resnet18/50 have the same counts at 1000 classes).
    assert _params(create_model("resnet20", num_classes=10, in_chans=3, img_size=32)) == 269_722
    assert _params(create_model("resnet18", num_classes=1000, in_chans=3, img_size=224)) == 11_689_512


def test_option_a_shortcut_pads_with_zeros() -> None:
    x = torch.randn(2, 4, 6, 6)
    y = ShortcutA(4, 8, stride=2)(x)
    assert y.shape == (2, 8, 3, 3)
    torch.testing.assert_close(y[:, :4], x[:, :, ::2, ::2])
    assert not y[:, 4:].any()


def test_shortcut_b_adds_projections() -> None:
    a = create_model("resnet20", num_classes=10, in_chans=3, img_size=32)
    b = create_model("resnet20", num_classes=10, in_chans=3, img_size=32, shortcut="B")
    # Two projections: 16->32 and 32->64, each a 1x1 conv + BN.
    assert _params(b) - _params(a) == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)


@pytest.mark.parametrize(("img_size", "has_pool"), [(224, True), (65, True), (64, False), (28, False)])
def test_auto_stem(img_size: int, has_pool: bool) -> None:
    m = create_model("resnet18", num_classes=10, in_chans=1, img_size=img_size)
    assert any(isinstance(mod, torch.nn.MaxPool2d) for mod in m.stem.modules()) == has_pool


def test_se_is_a_block_option() -> None:
    plain = create_model("resnet20", num_classes=10, in_chans=3, img_size=32)
    se = create_model("seresnet20", num_classes=10, in_chans=3, img_size=32)
    assert type(plain) is type(se) is ResNet
    blocks = [m for m in se.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 9 and all(isinstance(b.se, SqueezeExcite) for b in blocks)
    assert not any(isinstance(m, SqueezeExcite) for m in plain.modules())
    assert get_entry("seresnet50").kwargs["se"] is True


@pytest.mark.parametrize("name", ["resnet20", "resnet18", "resnet50"])
def test_small_gray_inputs(name: str) -> None:
    m = create_model(name, num_classes=3, in_chans=1, img_size=8).eval()
    with torch.no_grad():
        assert m(torch.randn(2, 1, 8, 8)).shape == (2, 3)


def test_zero_init_residual_makes_blocks_identity() -> None:
    torch.manual_seed(0)
    m = create_model("resnet20", num_classes=10, in_chans=3, img_size=32, zero_init_residual=True).eval()
    blk = m.stages[0][1]
    x = torch.relu(torch.randn(2, 16, 8, 8))
    with torch.no_grad():
        torch.testing.assert_close(blk(x), x)


def test_bad_options_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="stem"):
        create_model("resnet18", num_classes=10, in_chans=3, img_size=32, stem="big")
    with pytest.raises(ConfigError, match="shortcut"):
        create_model("resnet20", num_classes=10, in_chans=3, img_size=32, shortcut="C")
    with pytest.raises(ConfigError, match="img_size"):
        create_model("resnet20", num_classes=10, in_chans=3, img_size=4)
