"""Reading a checkpoint safely: one-line errors for a damaged file, its ``meta`` checked field by field, and the
flat key layout the NumPy engine's ``.npz`` checkpoints use for nested optimiser state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from visionbench.errors import RunError, first_line

__all__ = ["unreadable", "parse_meta", "loading", "flatten", "unflatten"]

_FIX = "delete it to resume from the other checkpoint of the run, or start a new run"


def unreadable(path: Path, why: object) -> RunError:
    """The one-line error of a checkpoint that cannot be used."""
    return RunError(f"{path}: cannot load checkpoint ({first_line(why, 200)}); {_FIX}")


def parse_meta(text: object, path: Path) -> dict[str, Any]:
    """A checkpoint's ``meta``: a JSON object whose resume fields, when present, have the right types."""
    try:
        meta = json.loads(str(text))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise unreadable(path, f"its meta is not JSON: {exc}") from None
    checks = {"epoch": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
              "history": lambda v: isinstance(v, list) and all(isinstance(r, dict) for r in v),
              "best": lambda v: isinstance(v, dict) and isinstance(v.get("epoch", 0), int)
              and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v.values())}
    if not isinstance(meta, dict):
        raise unreadable(path, "its meta is not a JSON object")
    for key, ok in checks.items():
        if key in meta and not ok(meta[key]):
            raise unreadable(path, f"its meta has a bad {key!r}: {str(meta[key])[:60]}")
    return meta


class loading:
    """Turns the errors of loading a checkpoint's tensors into the model (names, shapes, types) into one line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is not None and isinstance(exc, (RuntimeError, KeyError, ValueError, TypeError, IndexError,
                                                AttributeError)):
            raise unreadable(self.path, f"it does not fit this model: {exc}") from None
        return False


def flatten(state: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    # Nested optimizer state -> flat "a/b/c" keys that np.savez can store.
    out: dict[str, Any] = {}
    for key, value in state.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "/"))
        else:
            out[name] = value
    return out


def unflatten(flat: dict[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value.item() if value.ndim == 0 and value.dtype.kind in "fiub" else value
    return out
