"""Budgets in optimiser steps: the planning rule, recipe validation, partial last epochs, time budgets."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visionbench.errors import ConfigError
from visionbench.models import get_entry, list_models, register_model
from visionbench.recipe import Recipe
from visionbench.train.budget import MAX_WARMUP_SHARE, plan_budget, steps_for_time

RECIPE = dict(recipe_steps=1000, min_epochs=5, max_epochs=None, warmup_steps=100)


@pytest.mark.parametrize("n_train, batch, steps, epochs", [
    (1212, 64, 1000, 53),     # digits: the step budget rules, many passes
    (7200, 128, 1000, 18),    # an 8k subset: still the step budget
    (54000, 128, 2110, 5),    # 60k images: the 5-pass floor rules
])
def test_recipe_budget_is_steps_with_an_epoch_floor(n_train, batch, steps, epochs):
    b = plan_budget(n_train, batch, **RECIPE)
    assert (b.steps, b.epochs, b.source) == (steps, epochs, "recipe")
    assert b.steps_per_epoch == math.ceil(n_train / batch)


def test_max_epochs_caps_a_tiny_dataset():
    b = plan_budget(100, 50, recipe_steps=1000, min_epochs=1, max_epochs=30, warmup_steps=0)
    assert (b.steps, b.epochs) == (60, 30)


def test_explicit_steps_beat_epochs_and_the_recipe():
    assert plan_budget(1000, 100, steps=25, epochs=7, **RECIPE).steps == 25
    b = plan_budget(1000, 100, epochs=7, **RECIPE)
    assert (b.steps, b.epochs, b.source) == (70, 7, "epochs")


@pytest.mark.parametrize("n_train, batch, steps", [(10, 3, 1), (10, 3, 4), (10, 3, 5), (999, 64, 1000)])
def test_epochs_cover_the_steps_with_a_partial_last_one(n_train, batch, steps):
    b = plan_budget(n_train, batch, steps=steps, **RECIPE)
    assert (b.epochs - 1) * b.steps_per_epoch < b.steps <= b.epochs * b.steps_per_epoch


def test_recipe_warmup_is_capped_but_a_users_warmup_is_checked():
    assert plan_budget(1000, 100, steps=50, **RECIPE).warmup_steps == int(MAX_WARMUP_SHARE * 50)
    assert plan_budget(1000, 100, steps=50, recipe_steps=1, min_epochs=1, max_epochs=None, warmup_steps=30,
                       warmup_from_user=True).warmup_steps == 30
    with pytest.raises(ConfigError, match="--warmup-steps"):
        plan_budget(1000, 100, steps=50, recipe_steps=1, min_epochs=1, max_epochs=None, warmup_steps=50,
                    warmup_from_user=True)


def test_steps_for_time():
    assert steps_for_time(30.0, 0.01) == 3000
    assert steps_for_time(0.001, 1.0) == 1
    with pytest.raises(ValueError):
        steps_for_time(10.0, 0.0)


def test_a_misspelled_recipe_field_or_dataset_key_is_an_error():
    with pytest.raises(ValueError, match="'epoch' is not a recipe field"):
        Recipe(per_dataset={"digits": {"epoch": 3}})
    with pytest.raises(ValueError, match="fashion_mnist"):
        register_model("test_bad_recipe_key", lambda **kw: None, family="test",
                       recipe=Recipe(per_dataset={"fashion_mnist": {"steps": 3}}))
    with pytest.raises(ConfigError):
        get_entry("test_bad_recipe_key")  # nothing was registered


@pytest.mark.parametrize("name", list_models())
def test_every_recipe_plans_a_budget_on_the_three_dataset_sizes(name):
    recipe = get_entry(name).recipe
    for dataset, side, n_train in (("digits", 8, 1212), ("mnist", 28, 7200), ("fashion-mnist", 28, 54000)):
        r = recipe.for_dataset(dataset, side)
        b = plan_budget(n_train, r.batch_size, recipe_steps=r.steps, min_epochs=r.min_epochs,
                        max_epochs=r.max_epochs, warmup_steps=r.warmup_steps)
        assert b.steps >= r.steps or r.max_epochs is not None
        assert b.epochs >= min(r.min_epochs, r.max_epochs or r.min_epochs)
        assert 0 <= b.warmup_steps < b.steps


def _train(tmp_path, **kw):
    from visionbench.train import TrainConfig, train

    cfg = dict(model="scratch_linear", dataset="digits", quiet=True, output_dir=str(tmp_path), threads=1,
               max_train_samples=300)
    cfg.update(kw)
    return train(TrainConfig(**cfg))


def test_a_partial_last_epoch_runs_exactly_the_planned_steps(tmp_path):
    # 300 samples -> 270 train; batch 64 -> 5 steps per epoch; 12 steps = 2 full epochs + 2 steps.
    result = _train(tmp_path, steps=12, batch_size=64)
    assert result.status == "completed"
    r = result.results
    assert (r["steps"], r["epochs"], r["epochs_completed"], r["steps_completed"]) == (12, 3, 3, 12)
    history = (result.run_dir / "history.csv").read_text().splitlines()
    assert [line.rsplit(",", 1)[1] for line in history[1:]] == ["5", "5", "2"]
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["steps"] == 12 and config["budget"]["source"] == "steps"


def test_a_time_budget_is_planned_in_steps_before_training_and_recorded(tmp_path):
    result = _train(tmp_path, time_budget=0.5)
    assert result.status == "completed"
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["budget"]["source"] == "time" and config["time_budget"] == 0.5
    assert config["budget"]["probe"]["seconds_per_step"] > 0
    assert config["steps"] == result.results["steps"] == result.results["steps_completed"] >= 1
    assert result.results["budget_source"] == "time"


def test_a_time_budget_run_resumes_with_its_planned_steps(tmp_path):
    from visionbench.train.loop import _prepare_resume

    result = _train(tmp_path, time_budget=0.3)
    planned = result.results["steps"]
    # Resuming reads the saved config, whose planned steps win over the time budget: nothing is planned again.
    _, cfg = _prepare_resume(result.run_dir, None)
    assert cfg.steps == planned and cfg.time_budget == 0.3


# -- properties of the planning rule, over every size of data, batch and budget (Hypothesis) ---------------------
_sizes = st.integers(1, 200_000)
_batches = st.integers(1, 4096)


@given(n=_sizes, batch=_batches, steps=st.integers(1, 100_000), min_epochs=st.integers(0, 50),
       max_epochs=st.one_of(st.none(), st.integers(1, 500)), warm=st.integers(0, 10_000))
def test_recipe_budget_properties(n, batch, steps, min_epochs, max_epochs, warm):
    b = plan_budget(n, batch, recipe_steps=steps, min_epochs=min_epochs, max_epochs=max_epochs, warmup_steps=warm)
    spe = math.ceil(n / batch)
    assert b.steps_per_epoch == spe
    # the rule: the step budget, raised to the epoch floor, capped by the epoch ceiling
    expected = max(steps, min_epochs * spe)
    if max_epochs is not None:
        expected = min(expected, max_epochs * spe)
        assert b.epochs <= max_epochs
    assert b.steps == expected >= 1
    # the epochs cover the steps, the last one possibly partial
    assert (b.epochs - 1) * spe < b.steps <= b.epochs * spe
    # the recipe's warm-up never exceeds its own length nor a fifth of the run
    assert 0 <= b.warmup_steps <= min(warm, MAX_WARMUP_SHARE * b.steps)


@given(n=_sizes, batch=_batches, steps=st.integers(1, 100_000), epochs=st.integers(1, 1000))
def test_explicit_budgets_are_exact(n, batch, steps, epochs):
    spe = math.ceil(n / batch)
    assert plan_budget(n, batch, steps=steps, **RECIPE).steps == steps
    by_epochs = plan_budget(n, batch, epochs=epochs, **RECIPE)
    assert (by_epochs.steps, by_epochs.epochs) == (epochs * spe, epochs)
