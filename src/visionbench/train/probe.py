"""The time-budget probe: ``--time-budget`` seconds of training turned into a step count before step one."""

from __future__ import annotations

import copy
import dataclasses
import logging
import time

import numpy as np
import torch

from visionbench.train.budget import plan_from_recipe, steps_for_time
from visionbench.train.schedule import epoch_seed
from visionbench.train.session import Session, with_budget

__all__ = ["plan_time_budget", "PROBE_WARMUP_STEPS", "PROBE_MIN_STEPS", "PROBE_MAX_STEPS", "PROBE_MAX_SECONDS"]

log = logging.getLogger("visionbench.train")

#: The time-budget probe: untimed warm-up steps, then timed steps until either bound is reached.
PROBE_WARMUP_STEPS = 3
PROBE_MIN_STEPS = 5
PROBE_MAX_STEPS = 2000
PROBE_MAX_SECONDS = 3.0  # or a tenth of the budget, whichever is less


def plan_time_budget(session: Session) -> Session:
    """Turn ``cfg.time_budget`` (seconds of training) into a step count, the way speed-run benchmarks plan.

    A copy of the model and optimiser trains a few real batches (augmentation included) to measure the seconds per
    step; the session's own model is not touched, so the run starts from the same weights as any other. Under
    torchrun the probe is the data-parallel step itself (communication included, which a copy cannot do), and the
    weights, optimiser state and mixed precision's loss scale are put back after it. The planned
    steps are then fixed before step one, so the learning-rate schedule spans them exactly, and config.json records
    them (a resumed run keeps them). Validation and checkpoints are not part of the budget.
    """
    cfg, dist = session.cfg, session.dist
    assert cfg.time_budget is not None and cfg.batch_size is not None
    if dist.enabled:  # the real data-parallel step, communication included; its state is put back afterwards
        probe_backend, saved = session.backend, copy.deepcopy(session.backend.state())
    else:
        probe_backend = copy.deepcopy(session.backend)
    probe_backend.train_mode()
    probe_backend.set_lr(float(cfg.lr))  # type: ignore[arg-type]  # resolved against the recipe
    rng = np.random.default_rng(epoch_seed(cfg.seed, 0, 3))
    gen = torch.Generator().manual_seed(epoch_seed(cfg.seed, 0, 4))
    n_train = len(session.train)
    timed, seconds, step = 0, 0.0, 0
    enough = min(PROBE_MAX_SECONDS, 0.1 * cfg.time_budget)
    while step < PROBE_WARMUP_STEPS + PROBE_MAX_STEPS:
        idx = np.sort(rng.choice(n_train, size=min(cfg.batch_size, n_train), replace=False))
        t0 = time.perf_counter()
        x, y = session.task.batch(session, session.train, idx, gen)
        x, y = dist.shard(x), dist.shard(y)
        loss, stats = probe_backend.train_step(x, y, dist.loss_weight(len(y), len(idx)))
        dist.global_step(loss, stats, len(y), len(idx))
        if step >= PROBE_WARMUP_STEPS:
            seconds += time.perf_counter() - t0
            timed += 1
            # Under torchrun the ranks step together: rank 0's clock decides for all of them.
            if dist.broadcast(seconds >= enough and timed >= PROBE_MIN_STEPS):
                break
        step += 1
    if dist.enabled:
        session.backend.set_state(saved)  # weights, optimiser state and mixed precision's loss scale
    del probe_backend
    per_step = session.dist.max(seconds / max(timed, 1))  # under torchrun: the slowest rank's, on every rank
    budget = plan_from_recipe(session.recipe, n_train, batch_size=cfg.batch_size,
                              steps=steps_for_time(cfg.time_budget, per_step), warmup_steps=cfg.warmup_steps,
                              warmup_from_user=False, source="time")
    log.info("time budget %.1fs: %.4fs per step over %d probe steps -> %d steps", cfg.time_budget, per_step, timed,
             budget.steps)
    return dataclasses.replace(session, cfg=with_budget(cfg, budget), budget=budget,
                               probe={"seconds_per_step": round(per_step, 6), "steps": timed})
