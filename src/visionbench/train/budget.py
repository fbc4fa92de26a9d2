"""How long a run trains: the budget in optimiser steps, planned from the recipe, ``--epochs``, ``--steps`` or
``--time-budget``, and the warm-up that goes with it.

A recipe counts steps with an epoch floor and ceiling, so one default fits 1.8k images (digits: many passes) and 60k
images (Fashion-MNIST: a few passes) alike. Whatever sets the budget, the run then knows its exact number of steps
before its first one, and the learning-rate schedule spans exactly those steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from visionbench.errors import ConfigError
from visionbench.recipe import Recipe

__all__ = ["Budget", "plan_budget", "plan_from_recipe", "steps_for_time"]

#: The recipe's warm-up never takes more than this share of a run (a 1-epoch run on digits has 10 steps).
MAX_WARMUP_SHARE = 0.2


@dataclass(frozen=True)
class Budget:
    """The planned length of a run.

    Attributes:
        steps: optimiser steps in all.
        steps_per_epoch: steps of a full pass over the training split.
        epochs: passes, the last one possibly partial (``ceil(steps / steps_per_epoch)``).
        warmup_steps: linear warm-up steps at the start of the schedule.
        source: what set the budget: ``recipe``, ``epochs``, ``steps`` or ``time``.
    """

    steps: int
    steps_per_epoch: int
    epochs: int
    warmup_steps: int
    source: Literal["recipe", "epochs", "steps", "time"]


def plan_budget(
    n_train: int,
    batch_size: int,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    recipe_steps: int,
    min_epochs: int,
    max_epochs: int | None,
    warmup_steps: int,
    warmup_from_user: bool = False,
    source: Literal["recipe", "epochs", "steps", "time"] | None = None,
) -> Budget:
    """Plan a run's steps and warm-up.

    Precedence: an explicit ``steps`` (``--steps``, or a time budget turned into steps), then ``epochs``
    (``--epochs``), then the recipe: ``max(recipe_steps, min_epochs * steps_per_epoch)``, at most ``max_epochs``
    epochs.

    Args:
        n_train: training examples (after the validation split).
        batch_size: examples per step.
        steps: explicit total steps.
        epochs: explicit number of full passes.
        recipe_steps, min_epochs, max_epochs: the recipe's budget.
        warmup_steps: warm-up length; the recipe's is capped at a fifth of the run, a user's is checked.
        warmup_from_user: the warm-up was given by the user (an error if it does not fit) rather than the recipe.
        source: how to label the budget (default: inferred from which argument set it).
    """
    if n_train < 1:
        raise ConfigError("the training split is empty; give more training data (or a smaller --val-split)")
    spe = math.ceil(n_train / batch_size)
    if steps is not None:
        total, src = int(steps), "steps"
    elif epochs is not None:
        total, src = int(epochs) * spe, "epochs"
    else:
        total = max(int(recipe_steps), int(min_epochs) * spe)
        if max_epochs is not None:
            total = min(total, int(max_epochs) * spe)
        src = "recipe"
    if total < 1:
        raise ConfigError(f"the budget comes to {total} optimiser steps; give --steps or --epochs >= 1")
    if warmup_from_user:
        if warmup_steps >= total:
            raise ConfigError(f"--warmup-steps {warmup_steps} is not shorter than the run ({total} steps); "
                              f"give fewer warm-up steps")
        warm = int(warmup_steps)
    else:
        warm = min(int(warmup_steps), int(MAX_WARMUP_SHARE * total))
    return Budget(steps=total, steps_per_epoch=spe, epochs=math.ceil(total / spe), warmup_steps=warm,
                  source=source or src)  # type: ignore[arg-type]


def plan_from_recipe(
    recipe: Recipe,
    n_train: int,
    *,
    batch_size: int | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    warmup_steps: int | None = None,
    warmup_from_user: bool | None = None,
    source: Literal["recipe", "epochs", "steps", "time"] | None = None,
) -> Budget:
    """:func:`plan_budget` with the budget fields of ``recipe`` (already specialised to the dataset); a ``batch_size``
    or ``warmup_steps`` given here (the run's own) replaces the recipe's, and by default a given warm-up is checked
    rather than capped (``warmup_from_user``)."""
    return plan_budget(n_train, batch_size or recipe.batch_size, steps=steps, epochs=epochs, recipe_steps=recipe.steps,
                       min_epochs=recipe.min_epochs, max_epochs=recipe.max_epochs,
                       warmup_steps=recipe.warmup_steps if warmup_steps is None else warmup_steps,
                       warmup_from_user=warmup_steps is not None if warmup_from_user is None else warmup_from_user,
                       source=source)


def steps_for_time(seconds: float, seconds_per_step: float, *, floor: int = 1) -> int:
    """Steps that fit in ``seconds`` of training at ``seconds_per_step`` (at least ``floor``)."""
    if seconds_per_step <= 0 or not math.isfinite(seconds_per_step):
        raise ValueError(f"seconds_per_step must be a positive number, got {seconds_per_step}")
    return max(floor, int(seconds / seconds_per_step))
