"""One training pipeline for both engines: config -> fit -> evaluate -> run directory.

The names below load on first use (PEP 562), so that reading a configuration (the CLI's flags) does not import
PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from visionbench.train.config import TrainConfig, load_config_file
    from visionbench.train.loop import TrainResult, evaluate_run, train

__all__ = ["TrainConfig", "TrainResult", "evaluate_run", "load_config_file", "train"]

_WHERE = {"TrainConfig": "config", "load_config_file": "config", "TrainResult": "loop", "evaluate_run": "loop",
          "train": "loop"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"visionbench.train.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'visionbench.train' has no attribute {name!r}")
