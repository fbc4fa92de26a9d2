"""Throw-away forward passes that leave a module exactly as they found it (used to learn shapes, e.g. in ``macs``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from visionbench.scratch.module import Module

__all__ = ["shape_probe"]


def _walk(module: Module) -> Iterator[Module]:
    # Every module of the tree once, parents before children.
    seen: set[int] = set()
    stack = [module]
    while stack:
        m = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        yield m
        stack.extend(reversed(list(m._modules.values())))


@contextmanager
def shape_probe(module: Module) -> Iterator[Module]:
    """Run throw-away forward passes (to learn shapes) without side effects on ``module``.

    Inside the block the module is in eval mode (no Dropout draw, no BatchNorm statistics update); on exit every
    attribute of every module in the tree is put back (stored inputs, caches, masks, modes), so a ``backward`` that
    follows the last real ``forward`` still sees that forward's inputs.

    Yields:
        ``module``, in eval mode.
    """
    saved = [(m, dict(m.__dict__)) for m in _walk(module)]
    module.eval()
    try:
        yield module
    finally:
        for m, attrs in saved:
            m.__dict__.clear()
            m.__dict__.update(attrs)
