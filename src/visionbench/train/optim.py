"""Optimiser parameter groups for torch models: a learning rate for the head, a scaled one for the backbone, and no
weight decay where decay does harm.

A training concern, so it lives in ``train/`` and reads the model only through duck typing (``get_classifier()``,
``no_weight_decay()``, ``named_parameters()``): it imports neither ``visionbench.models`` nor torch at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

__all__ = ["param_groups"]


def _no_decay_names(model: nn.Module) -> set[str]:
    fn = getattr(model, "no_weight_decay", None)
    return set(fn()) if callable(fn) else set()


def param_groups(
    model: nn.Module, lr: float, backbone_lr_scale: float = 1.0, weight_decay: float | None = None
) -> list[dict[str, Any]]:
    """Optimizer parameter groups: the head at ``lr``, the rest at ``lr * backbone_lr_scale``; frozen ones left out.

    Args:
        model: any module; the head is ``model.get_classifier()`` when the model has it, else there is no head and
            every parameter gets ``lr``.
        lr: learning rate of the head.
        backbone_lr_scale: multiplier of ``lr`` for every other trainable parameter (e.g. 0.1 when fine-tuning).
        weight_decay: when given, each group is split in two: weight decay on matrices/kernels, none on biases,
            norm weights and the names in ``model.no_weight_decay()`` (positional embeddings, class token).
            When None, the groups carry no ``weight_decay`` key and the optimizer's default applies.

    Returns:
        A list of dicts with keys ``params``, ``lr``, ``name`` (``backbone``/``head``, ``_no_decay`` suffix) and
        ``weight_decay`` when asked; empty groups are omitted. Extra keys are kept by torch optimizers.
    """
    get_classifier = getattr(model, "get_classifier", None)
    head_ids = {id(p) for p in get_classifier().parameters()} if callable(get_classifier) else None
    skip_decay = _no_decay_names(model)
    groups: dict[tuple[str, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        part = "head" if head_ids is None or id(p) in head_ids else "backbone"
        no_decay = weight_decay is not None and (p.ndim <= 1 or name in skip_decay)
        groups.setdefault((part, no_decay), []).append(p)
    out: list[dict[str, Any]] = []
    for part in ("backbone", "head"):
        for no_decay in (False, True):
            params = groups.get((part, no_decay))
            if not params:
                continue
            group: dict[str, Any] = {
                "params": params,
                "lr": lr if part == "head" else lr * backbone_lr_scale,
                "name": part + ("_no_decay" if no_decay else ""),
            }
            if weight_decay is not None:
                group["weight_decay"] = 0.0 if no_decay else weight_decay
            out.append(group)
    return out
