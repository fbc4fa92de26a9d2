"""Learning-rate schedules as a pure function of the global step, and the per-epoch seeds as a pure function of the
epoch, so a resumed run follows the same curve and draws the same batches."""

from __future__ import annotations

import math

import numpy as np

from visionbench.recipe import Schedule

__all__ = ["lr_at", "epoch_seed"]


def epoch_seed(seed: int, epoch: int, *stream: int) -> int:
    """An independent, reproducible seed per (run seed, epoch, purpose[, rank])."""
    return int(np.random.SeedSequence([seed, epoch, *stream]).generate_state(1)[0])


def lr_at(
    step: int,
    total_steps: int,
    base_lr: float,
    schedule: Schedule,
    warmup_steps: int = 0,
) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``.

    - ``constant``: ``base_lr`` after the warm-up.
    - ``step``: divided by 10 at 50 % and again at 75 % of training (the ResNet CIFAR recipe).
    - ``cosine``: half a cosine from ``base_lr`` to 0 after the warm-up.
    - ``onecycle``: a linear ramp from ``base_lr / 25`` to ``base_lr`` over the warm-up (30 % of training when no
      warm-up is given), then a cosine to ``base_lr / 1e4``, as in Smith's one-cycle policy.

    Any warm-up is linear from ``base_lr / warmup_steps`` (never 0) to ``base_lr``.
    """
    total_steps = max(total_steps, 1)
    if schedule == "onecycle":
        ramp = warmup_steps if warmup_steps > 0 else max(1, int(0.3 * total_steps))
        start, end = base_lr / 25.0, base_lr / 1e4
        if step < ramp:
            return start + (base_lr - start) * step / ramp
        t = min(1.0, (step - ramp) / max(1, total_steps - ramp))
        return end + (base_lr - end) * 0.5 * (1.0 + math.cos(math.pi * t))
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    t = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "constant":
        return base_lr
    if schedule == "step":
        return base_lr * (0.1 ** int(t >= 0.5)) * (0.1 ** int(t >= 0.75))
    if schedule == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * t))
    raise ValueError(f"unknown schedule {schedule!r}")
