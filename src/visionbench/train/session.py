"""Everything a run sets up before its first step: data, splits, normalisation, model, backend.

Shared by training, resuming and ``visionbench evaluate`` so the three see the same data the same way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from visionbench.data import Dataset, Split, load_dataset
from visionbench.data.splits import take
from visionbench.data.transforms import (
    augment_batch,
    pixel_zero_fill,
    resize_batch,
    to_tensor_batch,
)
from visionbench.errors import ConfigError
from visionbench.models import ModelEntry, create_model, get_entry
from visionbench.recipe import Recipe
from visionbench.train.backends import Backend, make_backend
from visionbench.train.budget import Budget, plan_from_recipe
from visionbench.train.config import TrainConfig
from visionbench.train.distributed import Dist
from visionbench.train.tasks import Task, task_for

__all__ = ["Session", "build_session", "resolve_device", "stratified_cap", "with_budget"]


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a ConfigError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    return torch.device(device)


def stratified_cap(split: Split, n: int, seed: int) -> Split:
    """At most ``n`` examples of ``split``, keeping the class proportions (seeded)."""
    if n >= len(split):
        return split
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(split))
    try:
        keep, _ = train_test_split(idx, train_size=n, stratify=split.labels, random_state=seed)
    except ValueError:  # too few examples per class to stratify
        keep = np.random.default_rng(seed).permutation(idx)[:n]
    return take(split, np.sort(keep))  # keeps on-disk images on disk


@dataclass
class Session:
    """A configured run, ready to train or evaluate."""

    cfg: TrainConfig
    entry: ModelEntry
    dataset: Dataset
    train: Split
    val: Split
    mean: np.ndarray
    std: np.ndarray
    img_size: int
    augment: str
    device: torch.device
    backend: Backend
    recipe: Recipe  # the model's recipe for this dataset
    budget: Budget | None  # None until a time budget is turned into steps (see train/loop.py)
    task: Task  # what a batch is and how a split is scored (train/tasks.py)
    probe: dict[str, Any] | None = None  # the time-budget probe's measurement
    dist: Dist = field(default_factory=Dist)  # this process's rank under torchrun (train/distributed.py)

    def batch(self, images: Any, labels: np.ndarray, generator: torch.Generator | None = None) -> tuple[
        torch.Tensor, torch.Tensor
    ]:
        """A normalised float32 NCHW batch (augmented when a generator is given) and its labels, on the device."""
        x = to_tensor_batch(np.asarray(images), self.mean, self.std)
        if generator is not None and self.augment != "none":
            x = augment_batch(x, self.augment, generator, fill=self.fill)
        x = resize_batch(x, self.img_size)
        return x.to(self.device, non_blocking=True), torch.from_numpy(np.asarray(labels)).to(self.device)

    @property
    def fill(self) -> torch.Tensor:
        return pixel_zero_fill(self.mean, self.std)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.dataset.in_chans, self.img_size, self.img_size)


def build_session(cfg: TrainConfig) -> Session:
    """Load the data, carve the validation split, resolve the recipe and the budget, build the model and backend."""
    cfg.validate()
    entry = get_entry(cfg.model)
    task = task_for(entry.task)
    if cfg.threads:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(cfg.threads)
        threadpool_limits(limits=cfg.threads)  # NumPy's BLAS too: the NumPy engine runs on it
    dataset = load_dataset(cfg.dataset, data_dir=cfg.data_dir, download=cfg.download, img_size=cfg.img_size,
                           options=cfg.dataset_options or None)
    data_task = getattr(dataset, "task", "classification")
    if data_task != task.name:
        fix = ("a detection dataset such as scenes:digits or coco:PATH" if task.name == "detection"
               else "a detector (`visionbench models`), or a classification dataset")
        raise ConfigError(f"--model {cfg.model} is a {task.name} model but --dataset {cfg.dataset} is a {data_task} "
                          f"dataset; use {fix}")
    recipe = entry.recipe.for_dataset(dataset.name, dataset.img_size)
    cfg = cfg.resolve(recipe)
    cfg.validate()
    full = dataset.train
    if cfg.max_train_samples:
        full = task.cap(full, cfg.max_train_samples, cfg.seed)
    train, val = task.split(full, cfg.val_split, cfg.seed)
    budget = None
    if cfg.steps is not None or cfg.time_budget is None:
        budget = plan_from_recipe(recipe, len(train), batch_size=cfg.batch_size, steps=cfg.steps, epochs=cfg.epochs,
                                  warmup_steps=cfg.warmup_steps,
                                  source="time" if cfg.time_budget is not None else None)
        cfg = with_budget(cfg, budget)
    mean, std, augment = task.preprocessing(cfg, dataset, train)
    img_size = cfg.img_size or max(dataset.img_size, entry.min_img_size)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model_kwargs = dict(cfg.model_kwargs)
    if entry.engine == "scratch":
        model_kwargs.setdefault("seed", cfg.seed)
    model = create_model(cfg.model, num_classes=dataset.num_classes, in_chans=dataset.in_chans, img_size=img_size,
                         **model_kwargs)
    backend = make_backend(entry.engine, model, cfg, device, task=task.name)
    cfg = dataclasses.replace(cfg, augment=augment)  # type: ignore[arg-type]
    return Session(cfg, entry, dataset, train, val, np.asarray(mean, np.float32), np.asarray(std, np.float32),
                   img_size, augment, device, backend, recipe, budget, task)


def with_budget(cfg: TrainConfig, budget: Budget) -> TrainConfig:
    """``cfg`` with the planned budget written into it: exact steps and warm-up (what config.json records, so a
    resumed run keeps its budget; ``steps`` wins over ``epochs`` and ``time_budget``, which stay as given)."""
    return dataclasses.replace(cfg, steps=budget.steps, warmup_steps=budget.warmup_steps)
