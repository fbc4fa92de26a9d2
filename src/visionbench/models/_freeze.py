"""Freeze part of a torch model for fine-tuning, frozen BatchNorm layers included.

Modes: ``"none"``; ``"features"`` freezes the convolutional ``features`` block of torchvision-style models (or a
detector's ``backbone``; their
fully connected classifier trains) and, for a model without a ``features`` block, every parameter except
``get_classifier()``'s; ``"all-but-last-K"`` trains only the last K parameterised layers (modules owning parameters,
in registration order, which is execution order for our models).

Frozen parameters get ``requires_grad=False``. A BatchNorm layer whose parameters are all frozen also keeps its
running statistics (the pretrained ones): a forward pre-hook puts it back in eval mode before every forward, so it
stays frozen under ``model.train()`` whoever calls it (the training backend, a benchmark loop, a test). This hook is
the one mechanism; nothing else needs to know which layers are frozen.
"""

from __future__ import annotations

import re
from typing import Any

from torch import nn

from visionbench.errors import ConfigError

__all__ = ["apply_freeze"]

_FREEZE_RE = re.compile(r"^all-but-last-(\d+)$")


def _parameterised_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]


def _stay_eval(module: nn.Module, args: Any) -> None:
    # Runs before every forward: a frozen BatchNorm normalises with its stored statistics and never updates them.
    module.training = False


def _remove_stay_eval(module: nn.Module) -> None:
    # Found by identity rather than through a stored handle, so a deep copy or an unpickled model unfreezes too.
    for key in [k for k, hook in module._forward_pre_hooks.items() if hook is _stay_eval]:
        del module._forward_pre_hooks[key]


def apply_freeze(model: nn.Module, mode: str) -> nn.Module:
    """Freeze part of ``model`` in place (see the module docstring for the modes); any earlier freezing is undone.

    Args:
        model: a classifier with ``get_classifier()`` (needed for ``"features"`` when it has no ``features`` block).
        mode: ``"none"``, ``"features"`` or ``"all-but-last-K"`` with K >= 1.

    Returns:
        ``model``.

    Raises:
        ConfigError: unknown mode, or K larger than the number of parameterised layers.
    """
    for p in model.parameters():
        p.requires_grad_(True)
    for m in model.modules():
        _remove_stay_eval(m)
    if mode == "none":
        return model
    if mode == "features":
        features = getattr(model, "features", None) or getattr(model, "backbone", None)  # a detector's backbone
        if isinstance(features, nn.Module):
            frozen = list(features.parameters())
        else:
            head = {id(p) for p in model.get_classifier().parameters()}  # type: ignore[operator]
            frozen = [p for p in model.parameters() if id(p) not in head]
    elif (match := _FREEZE_RE.match(mode)) is not None:
        k = int(match.group(1))
        layers = _parameterised_layers(model)
        if not 1 <= k <= len(layers):
            raise ConfigError(
                f"--freeze {mode}: K must be between 1 and {len(layers)} (the model's parameterised layers)"
            )
        keep = {id(p) for m in layers[-k:] for p in m.parameters(recurse=False)}
        frozen = [p for p in model.parameters() if id(p) not in keep]
    else:
        raise ConfigError(
            f"--freeze {mode!r}: unknown mode; use none, features or all-but-last-K (e.g. all-but-last-2)"
        )
    for p in frozen:
        p.requires_grad_(False)
    for m in model.modules():
        own = list(m.parameters(recurse=False))
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and own and not any(p.requires_grad for p in own):
            m.eval()
            m.register_forward_pre_hook(_stay_eval)
    return model
