"""Fake run directories for the report tests: config.json, history.csv and results.json as the pipeline writes them.

A plain module (not conftest.py, whose name another folder's conftest already takes in ``sys.modules``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from visionbench.runs import write_history, write_json

CLASSES = ["zero", "one", "two"]

# A resolved config as train() writes it (the keys the fingerprint reads, and a few it must ignore).
BASE_CONFIG: dict[str, Any] = {
    "dataset": "toy",
    "dataset_info": {"source": "sklearn", "classes": CLASSES, "train_size": 90, "val_size": 10, "test_size": 30},
    "val_split": 0.1,
    "max_train_samples": None,
    "img_size": 8,
    "epochs": 3,
    "batch_size": 32,
    "optimizer": "sgd",
    "lr": 0.1,
    "momentum": 0.9,
    "nesterov": False,
    "weight_decay": 0.0005,
    "schedule": "cosine",
    "warmup_epochs": 0.0,
    "label_smoothing": 0.0,
    "augment": "none",
    "backbone_lr_scale": 1.0,
    "model_kwargs": {},
    "device": "cpu",
    "threads": 2,
}

FakeRun = Callable[..., Path]


def write_fake_run(
    root: Path,
    model: str,
    seed: int,
    acc: float | None,
    *,
    seconds: float = 5.0,
    status: str = "completed",
    config: dict[str, Any] | None = None,
    name: str | None = None,
    message: str | None = None,
    val_acc: float | None = None,
    f1: float | None = None,
) -> Path:
    """One run directory; ``config`` overrides keys of :data:`BASE_CONFIG`."""
    path = root / (name or f"{model}-s{seed}")
    path.mkdir(parents=True)
    cfg = {**BASE_CONFIG, "model": model, "seed": seed, "command": f"visionbench train --model {model}"}
    cfg.update(config or {})
    write_json(path / "config.json", cfg)
    epochs = int(cfg.get("epochs") or 3)
    done = epochs if status == "completed" else 1
    top = val_acc if val_acc is not None else (acc or 0.5)
    history = [
        {"epoch": e, "train_loss": 1.0 / e, "train_acc": top * e / epochs, "val_loss": 1.2 / e,
         "val_acc": top * e / epochs, "lr": 0.1, "seconds": seconds / epochs}
        for e in range(1, done + 1)
    ]
    write_history(path / "history.csv", history)
    results: dict[str, Any] = {
        "status": status, "model": model, "dataset": cfg["dataset"], "engine": "torch", "seed": seed,
        "epochs": cfg.get("epochs"), "epochs_completed": done, "best_epoch": done, "steps_completed": 10 * done,
        "test_accuracy": acc, "test_macro_f1": f1 if f1 is not None else (None if acc is None else acc - 0.02),
        "test_loss": None if acc is None else 1 - acc,
        "per_class": {"precision": [0.9, 0.8, 0.7], "recall": [0.9, 0.8, 0.7], "f1": [0.9, 0.8, 0.7],
                      "support": [10, 10, 10]},
        "confusion_matrix": [[9, 1, 0], [1, 8, 1], [0, 3, 7]], "classes": CLASSES,
        "train_seconds": seconds, "seconds_per_epoch": seconds / done, "params_total": 1000 * len(model),
        "flops_per_image": 2_000_000,
    }
    if message:
        results["message"] = message
    write_json(path / "results.json", results)
    return path
