"""The regnet study's three tiers: what each trains, on which data, for how long.

``--quick`` is the smoke test (digits, one seed, a few steps, two models), ``--full`` the paper's protocol (CIFAR-10
by default, ``--dataset cifar100``; for a GPU), and without either flag the default tier (a Fashion-MNIST subset
sized for about two hours on a 2-core CPU; ``--dataset`` puts the same budget on other data, e.g. a CIFAR-10
subset). Each tier states its protocol in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Tier", "QUICK", "DEFAULT", "FULL", "TABLE3_MODELS", "CIFAR", "choose_tier"]

TierName = Literal["quick", "default", "full"]

#: Table III's eight models, then the deeper plain ResNets (the "just make it deeper" baseline).
TABLE3_MODELS = (
    "resnet20", "regnet20_convrnn", "regnet20_convgru", "regnet20_convlstm",
    "seresnet20", "seregnet20_convrnn", "seregnet20_convgru", "seregnet20_convlstm",
    "resnet32", "resnet56",
)  # fmt: skip
#: The paper's datasets.
CIFAR = ("cifar10", "cifar100")


@dataclass(frozen=True)
class Tier:
    """One tier of the study.

    Attributes:
        name: ``quick``, ``default`` or ``full``.
        dataset: the default dataset of the tier (``--dataset`` may name another).
        models: the Table III models it trains (a subset in quick mode).
        max_train_samples: training images drawn (stratified) before the validation split; None: all.
        epochs: the equal-epochs budget (None: ``steps``).
        steps: the equal-epochs budget in optimiser steps at the recipe's batch (None: ``epochs``).
        min_time_budget: floor of the equal-time budget, in seconds (the budget is ResNet-20's training time).
        stages: the regulator positions of the ablation (0-based stage indices, each alone).
        isolate: train each run in its own worker process.
        threads: torch threads per run (None: torch's default).
        hyper: TrainConfig fields that override every model's recipe.
        protocol: one paragraph for the report.
    """

    name: TierName
    dataset: str
    models: tuple[str, ...]
    max_train_samples: int | None
    epochs: int | None
    steps: int | None
    min_time_budget: float
    stages: tuple[int, ...] = (0, 1, 2)
    isolate: bool = True
    threads: int | None = None
    hyper: dict[str, Any] = field(default_factory=dict)
    protocol: str = ""

    def budget_words(self) -> str:
        """``4 epochs`` or ``64,000 steps``: the equal-epochs budget in words."""
        return f"{self.epochs} epochs" if self.epochs is not None else f"{self.steps:,} steps"


QUICK = Tier(
    name="quick",
    dataset="digits",
    models=("resnet20", "regnet20_convlstm"),
    max_train_samples=None,
    epochs=3,
    steps=None,
    min_time_budget=1.5,
    isolate=False,
    threads=1,
    protocol=(
        "Quick tier (a smoke test, not evidence): scikit-learn's 8x8 digits (1,212 train / 135 validation / 450 "
        "test), ResNet-20 and RegNet-20 (ConvLSTM) only, 3 epochs each with the recipe's small-image settings "
        "(batch 64, lr 0.05, cosine), one seed, runs in this process."
    ),
)

DEFAULT = Tier(
    name="default",
    dataset="fashion-mnist",
    models=TABLE3_MODELS,
    max_train_samples=5000,
    epochs=4,
    steps=None,
    min_time_budget=10.0,
    threads=1,
    protocol=(
        "Default tier: 5,000 training images drawn stratified from the dataset (Fashion-MNIST unless --dataset "
        "names another; 4,500 train / 500 validation), its official test set (10,000 images for Fashion-MNIST and "
        "CIFAR); the ten models at 4 epochs each (144 steps of 128) with the CIFAR "
        "recipe (SGD + Nesterov, lr 0.1, warm-up then cosine, weight decay 5e-4, flips), every run in its own "
        "worker process with one torch thread (so a run's seconds do not depend on what shares the machine's other "
        "core). Sized for about two hours on a 2-core CPU; the paper's absolute errors are not expected "
        "here (other data, about 1/400 of its training), only the direction and size of the differences."
    ),
)

FULL = Tier(
    name="full",
    dataset="cifar10",
    models=TABLE3_MODELS,
    max_train_samples=None,
    epochs=None,
    steps=64000,
    min_time_budget=60.0,
    hyper={"schedule": "step", "weight_decay": 1e-4, "nesterov": False, "warmup_steps": 0, "augment": "crop-flip"},
    protocol=(
        "Full tier (the paper's protocol, for a GPU): CIFAR-10 or CIFAR-100, 45,000 train / 5,000 validation / the "
        "10,000 test images, 64,000 steps of 128 (about 182 epochs), SGD momentum 0.9 without Nesterov, lr 0.1 "
        "divided by 10 at 50 % and 75 % of training, weight decay 1e-4, no warm-up, padded crops and flips."
    ),
)


def choose_tier(quick: bool, full: bool, dataset: str | None) -> tuple[Tier, str]:
    """The tier (``--quick``, ``--full`` or neither; the runner refuses both) and the dataset of a run."""
    tier = QUICK if quick else FULL if full else DEFAULT
    return tier, dataset or tier.dataset
