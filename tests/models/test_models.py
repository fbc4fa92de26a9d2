"""One parametrized test over every registered torch model: the classifier contract on tiny inputs.

NumPy-engine (``engine="scratch"``) models have their own tests under tests/scratch; they are skipped here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from visionbench.models import (
    alexnet,
    cnn,
    create_model,
    detection,
    get_entry,
    list_models,
    mlp,
    regnet,
    resnet,
    scratch_models,
    vgg,
    vit,
)
from visionbench.models._base import Classifier

TORCH_MODELS = list_models(engine="torch", task="classification")
DETECTORS = list_models(task="detection")

# Small per-name changes where a model needs them to stay fast (keys: "img_size", "batch", or builder kwargs).
# The full architectures are built (and their parameters counted) in the family tests; here the 4096-wide heads
# shrink so the whole file stays fast on a shared 2-core CPU.
OVERRIDES: dict[str, dict[str, Any]] = {
    "alexnet": {"head_width": 64},
    "vgg16": {"head_width": 64},
    "vgg16_bn": {"head_width": 64},
}

NUM_CLASSES = 7


def _setup(name: str) -> tuple[dict[str, Any], int, int]:
    entry = get_entry(name)
    extra = dict(OVERRIDES.get(name, {}))
    img_size = extra.pop("img_size", max(16, entry.min_img_size))
    batch = extra.pop("batch", 2)
    return extra, img_size, batch


def _build(name: str, in_chans: int, seed: int = 0) -> tuple[nn.Module, int, int]:
    kwargs, img_size, batch = _setup(name)
    torch.manual_seed(seed)
    model = create_model(name, num_classes=NUM_CLASSES, in_chans=in_chans, img_size=img_size, **kwargs)
    return model, img_size, batch


def test_registry_has_torch_models() -> None:
    assert TORCH_MODELS, "no torch model registered"


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_model_contract(name: str) -> None:
    model, img_size, batch = _build(name, in_chans=1)
    assert isinstance(model, Classifier), "every torch model derives from models/_base.py's Classifier"
    assert model.num_classes == NUM_CLASSES
    x = torch.randn(batch, 1, img_size, img_size, generator=torch.Generator().manual_seed(1))

    model.train()
    out = model(x)
    assert out.shape == (batch, NUM_CLASSES)
    assert torch.isfinite(out).all()
    (out.square().mean() + out.mean()).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"parameters without a gradient: {missing[:5]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad[:5]}"

    model.eval()
    with torch.no_grad():
        full = model(x)
        split = model.forward_head(model.forward_features(x))
        pre = model.forward_head(model.forward_features(x), pre_logits=True)
    torch.testing.assert_close(split, full)
    assert pre.shape[0] == batch and pre.ndim == 2

    assert isinstance(model.get_classifier(), nn.Module)
    model.reset_classifier(5)
    assert model.num_classes == 5
    with torch.no_grad():
        assert model(x).shape == (batch, 5)


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_model_seeded_determinism(name: str) -> None:
    a, img_size, batch = _build(name, in_chans=3, seed=123)
    b, _, _ = _build(name, in_chans=3, seed=123)
    x = torch.randn(batch, 3, img_size, img_size, generator=torch.Generator().manual_seed(2))
    a.eval()
    b.eval()
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", list_models())
def test_recipes_never_mirror_digits(name: str) -> None:
    """A mirrored digit is another symbol: no recipe may give a digit set a flipping augmentation preset."""
    recipe = get_entry(name).recipe
    for dataset, size in (("digits", 8), ("mnist", 28), ("kmnist", 28), ("usps", 16)):
        assert recipe.for_dataset(dataset, size).augment in ("auto", "none", "shift"), (name, dataset)


FAMILY_MODULES = [alexnet, cnn, detection, mlp, regnet, resnet, scratch_models, vgg, vit]


@pytest.mark.parametrize("module", FAMILY_MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_each_family_registers_exactly_its_variant_table(module: Any) -> None:
    """Every model file ends with one table (name -> (recipe, description, kwargs)) and one loop that registers it."""
    families = {get_entry(name).family for name in module._VARIANTS}
    assert len(families) == 1
    family = families.pop()
    assert sorted(module._VARIANTS) == [n for n in list_models() if get_entry(n).family == family]
    for name, (*_, recipe, description, kwargs) in module._VARIANTS.items():
        entry = get_entry(name)
        assert (entry.recipe, entry.description) == (recipe, description)
        assert entry.kwargs.items() >= kwargs.items()  # vit.py adds arch=name


def test_docs_variant_table_lists_every_registered_model() -> None:
    """docs/models.md's table names each registered model in its file's row (it once omitted two)."""
    docs = Path(__file__).resolve().parents[2] / "docs" / "models.md"
    rows = {line for line in docs.read_text().splitlines() if line.startswith("| ") and "`models/" in line}
    for module in FAMILY_MODULES:
        file = f"`models/{module.__name__.rsplit('.', 1)[-1]}.py`"
        row = " ".join(line for line in rows if file in line)
        assert set(module._VARIANTS) <= set(re.findall(r"`(\w+)`", row)), file


@pytest.mark.parametrize("name", DETECTORS)
def test_detection_contract(name: str) -> None:
    """torchvision's detection contract: a loss dict in training mode, boxes/labels/scores in evaluation mode,
    labels 1..K (0 is the background), and a degenerate box refused (torchvision raises AssertionError)."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, in_chans=1, img_size=64)
    images = [torch.rand(1, 64, 64), torch.rand(1, 64, 64)]
    targets = [{"boxes": torch.tensor([[4.0, 6.0, 20.0, 30.0]]), "labels": torch.tensor([1])},
               {"boxes": torch.tensor([[30.0, 10.0, 50.0, 40.0], [5.0, 5.0, 15.0, 25.0]]),
                "labels": torch.tensor([2, 3])}]
    model.train()
    losses = model(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2
    for det in out:
        assert set(det) >= {"boxes", "labels", "scores"}
        assert det["boxes"].shape[1:] == (4,) and len(det["labels"]) == len(det["scores"])
        assert det["labels"].numel() == 0 or (det["labels"].min() >= 1 and det["labels"].max() <= 3)
    model.train()
    with pytest.raises((AssertionError, ValueError), match="positive height and width"):
        model(images[:1], [{"boxes": torch.tensor([[10.0, 10.0, 10.0, 30.0]]), "labels": torch.tensor([1])}])
