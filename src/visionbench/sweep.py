"""Hyper-parameter sweeps with Optuna: a search space file -> trials (each a normal run directory) -> best.yaml.

A sweep folder ``<out>/<study name>/`` holds ``optuna.db`` (the study, unless ``storage`` names another database),
``runs/trial-NNNN/`` (one run directory per trial), ``sweep.json`` (every trial of the study: parameters, value,
state, run), ``best.yaml`` (the best trial's configuration, for ``visionbench train --config``) and the report
``sweep.md`` / ``sweep.html``. Several processes, on one machine or several, given the same storage and study name
add trials to the same study (Optuna's ``load_if_exists``).

The objective is the best validation accuracy of the run (``val_map`` for a detector); the pruner sees the
validation curve epoch by epoch, never the test set. Optuna is imported here only, so the CLI stays light.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from visionbench.errors import ConfigError, suggest
from visionbench.runs import atomic_write_text, read_run, run_name, slug, write_json
from visionbench.train.config import BUDGET_OPTIONS, OWN_OPTIONS, TrainConfig, field_types, load_config_file

__all__ = ["Param", "SweepConfig", "SweepResult", "load_space", "run_sweep", "tpe_sampler", "write_sweep_files"]

#: TrainConfig fields a space may not search: what the run is (model, data), where it goes, how it is run, and the
#: budget (the sweep's own --epochs/--steps/--time-budget, the same for every trial so the pruner compares like
#: with like).
NOT_SEARCHED = ("model", "dataset", "dataset_options", "data_dir", "download", "output_dir", "run_name", "quiet",
                "command", "device", "threads", "model_kwargs", "max_train_samples", *BUDGET_OPTIONS)
#: Complete trials needed before the report estimates the parameters' importances.
MIN_TRIALS_FOR_IMPORTANCE = 4


@dataclass(frozen=True)
class Param:
    """One searched field: a range (``low``..``high``, ``log`` scale, optional ``step``), a list of choices, or a
    fixed value."""

    name: str
    kind: Literal["int", "float", "choice", "fixed"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, False, ())}


@dataclass
class SweepConfig:
    """What ``visionbench sweep`` runs.

    Attributes:
        model, dataset: what every trial trains.
        space: the search space file (YAML, TOML or JSON).
        trials: trials this process runs (other processes joining the study add their own).
        storage: an Optuna storage URL (None: ``sqlite:///<sweep folder>/optuna.db``).
        study_name: the study's name and the sweep folder's (None: ``<stamp>-<model>-<dataset>``).
        seed: seeds the sampler and every trial's training.
        out: parent folder of the sweep folder.
        base: TrainConfig values every trial shares (budget, data options, threads...).
        prune: stop unpromising trials early (Optuna's median pruner on the validation curve).
        baseline: also train the model's default recipe once, for the report.
    """

    model: str
    space: str
    dataset: str = "digits"
    trials: int = 10
    storage: str | None = None
    study_name: str | None = None
    seed: int = 0
    out: str = "sweeps"
    base: dict[str, Any] = field(default_factory=dict)
    prune: bool = True
    baseline: bool = False


@dataclass
class SweepResult:
    """What :func:`run_sweep` returns."""

    folder: Path
    study_name: str
    storage: str
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    baseline: float | None = None


def _optuna() -> Any:
    try:
        import optuna
    except ModuleNotFoundError:
        raise ConfigError("visionbench sweep needs Optuna: pip install 'visionbench[sweep]' (or pip install "
                          "optuna)") from None
    return optuna


def _check_value(path: Path, name: str, value: Any) -> Any:
    """``value`` checked as the field's (a number PyYAML left as text, such as ``1e-4``, read as a number)."""
    if isinstance(value, str) and float in field_types(name):
        value = _number(value)
    try:
        TrainConfig(**{name: value}).validate()
    except ConfigError as exc:
        raise ConfigError(f"--space {path}: {name}: {exc}") from None
    return value


def _number(value: Any) -> Any:
    """YAML 1.1 reads ``1e-4`` (no dot) as a string: such a string that is a finite number becomes a float."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def _param(path: Path, name: str, spec: Any) -> Param:
    where = f"--space {path}: {name}"
    base = field_types(name)[0]
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}: an empty list of choices; give at least one value")
        return Param(name, "choice", choices=tuple(_check_value(path, name, v) for v in spec))
    if not isinstance(spec, dict):
        return Param(name, "fixed", choices=(_check_value(path, name, spec),))
    unknown = sorted(set(spec) - {"low", "high", "log", "step"})
    if unknown or "low" not in spec or "high" not in spec:
        bad = f"unknown key {unknown[0]!r}" if unknown else "a range needs low and high"
        raise ConfigError(f"{where}: {bad}; write {{low: A, high: B}} (log: true, step: S optional) or a list")
    if base not in (int, float):
        raise ConfigError(f"{where}: not a number, so it takes a list of choices, not a range")
    low, high, step = _number(spec["low"]), _number(spec["high"]), _number(spec.get("step"))
    log = spec.get("log", False)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or low > high:
        raise ConfigError(f"{where}: low and high must be numbers with low <= high (got {low!r}, {high!r})")
    if not isinstance(log, bool) or (log and low <= 0):
        raise ConfigError(f"{where}: log must be true or false, and a log range needs low > 0 (got {low!r})")
    if step is not None and (log or not isinstance(step, (int, float)) or step <= 0):
        raise ConfigError(f"{where}: step must be a positive number, and not with log: true")
    for value in (low, high):
        _check_value(path, name, int(value) if base is int else float(value))
    if base is int:
        return Param(name, "int", low=int(low), high=int(high), log=log, step=int(step) if step else None)
    return Param(name, "float", low=float(low), high=float(high), log=log,
                 step=float(step) if step is not None else None)


def load_space(path: str | Path) -> list[Param]:
    """Read and check a search space: a mapping of TrainConfig fields to a range, a list of choices or a value.

    Example (YAML): ``lr: {low: 1e-4, high: 1, log: true}``, ``batch_size: [32, 64, 128]``,
    ``weight_decay: {low: 0, high: 1e-3}``, ``optimizer: sgd``.

    Raises:
        ConfigError: one line naming the file and the key.
    """
    path = Path(path)
    try:
        data = load_config_file(path)
    except ConfigError as exc:  # the same reader as --config files; the user's flag here is --space
        raise ConfigError(str(exc).replace("--config", "--space", 1)) from None
    known = [f.name for f in dataclasses.fields(TrainConfig)]
    params = []
    for name, spec in data.items():
        if name not in known:
            raise ConfigError(f"--space {path}: unknown key {name!r}{suggest(name, known)}; the keys are "
                              f"TrainConfig fields such as lr, batch_size, weight_decay")
        if name in NOT_SEARCHED:
            raise ConfigError(f"--space {path}: {name} is not searched; set it for every trial with the sweep's "
                              f"--{name.replace('_', '-')} flag")
        params.append(_param(path, name, spec))
    if not any(p.kind != "fixed" for p in params):
        raise ConfigError(f"--space {path}: nothing to search; give at least one range or list of choices")
    return params


def _suggest(trial: Any, p: Param) -> Any:
    if p.kind == "fixed":
        return p.choices[0]
    if p.kind == "choice":
        return trial.suggest_categorical(p.name, list(p.choices))
    if p.kind == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log, step=int(p.step or 1))  # type: ignore[arg-type]
    return trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)


def _metric(row: dict[str, Any]) -> str:
    return "val_acc" if "val_acc" in row else "val_map"


def _signature(cfg: SweepConfig, params: list[Param]) -> dict[str, Any]:
    """What makes two processes' trials part of one search (checked when a process joins a study)."""
    return json.loads(json.dumps({"model": cfg.model, "dataset": cfg.dataset, "seed": cfg.seed,
                                  "space": [p.as_dict() for p in params],
                                  "base": {k: v for k, v in sorted(cfg.base.items())
                                           if k not in OWN_OPTIONS}}))  # each process's own choices


def tpe_sampler(seed: int) -> Any:
    """Optuna's TPE sampler, its random numbers for trial ``n`` drawn from ``(seed, n)``.

    Optuna numbers a study's trials in the storage, so two processes sharing a study never use the same numbers:
    one seeded TPE per process would repeat the other's draws (all of the first, random, trials when both start
    together), while this gives every trial its own stream and a one-process sweep is reproducible from its seed.
    TPE keeps no state between trials but its random state (it reads the history from the study), so a fresh TPE
    per trial is the same search.
    """
    optuna = _optuna()
    import numpy as np

    class TrialSeededTPE(optuna.samplers.BaseSampler):
        def __init__(self) -> None:
            self.tpe = optuna.samplers.TPESampler(seed=seed)

        def before_trial(self, study: Any, trial: Any) -> None:
            stream = int(np.random.SeedSequence([seed, trial.number]).generate_state(1)[0])
            self.tpe = optuna.samplers.TPESampler(seed=stream)
            self.tpe.before_trial(study, trial)

        def infer_relative_search_space(self, study: Any, trial: Any) -> Any:
            return self.tpe.infer_relative_search_space(study, trial)

        def sample_relative(self, study: Any, trial: Any, search_space: Any) -> Any:
            return self.tpe.sample_relative(study, trial, search_space)

        def sample_independent(self, study: Any, trial: Any, param_name: str, distribution: Any) -> Any:
            return self.tpe.sample_independent(study, trial, param_name, distribution)

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            self.tpe.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:
            self.tpe.reseed_rng()

    return TrialSeededTPE()


def _open_study(cfg: SweepConfig, params: list[Param], folder: Path, pruner: Any) -> tuple[Any, str]:
    optuna = _optuna()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial's error is ours to print, in one line
    storage = cfg.storage or f"sqlite:///{(folder / 'optuna.db').resolve()}"
    name = folder.name
    if pruner is None:
        pruner = optuna.pruners.MedianPruner() if cfg.prune else optuna.pruners.NopPruner()
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True,
                                    sampler=tpe_sampler(cfg.seed), pruner=pruner)
    except Exception as exc:  # noqa: BLE001 - a bad URL, a missing driver, an unreachable server
        if not any(folder.iterdir()):
            folder.rmdir()  # made for this sweep a moment ago: leave nothing behind
        raise ConfigError(f"--storage {storage}: cannot open ({str(exc).splitlines()[0]}); give a URL Optuna "
                          f"accepts, e.g. sqlite:///sweep.db or postgresql://user@host/db") from None
    signature = _signature(cfg, params)
    theirs = study.user_attrs.get("visionbench")
    if theirs is None:
        study.set_user_attr("visionbench", signature)
    elif theirs != signature:
        differ = next(k for k in signature if signature[k] != theirs.get(k))
        raise ConfigError(f"--study-name {name}: that study was started with another {differ} "
                          f"({theirs.get(differ)!r}); use the same options to join it, or another --study-name")
    return study, storage


def run_sweep(cfg: SweepConfig, *, pruner: Any = None,
              on_trial: Callable[[dict[str, Any]], None] | None = None) -> SweepResult:
    """Run ``cfg.trials`` trials of the study (creating it, or joining it when it exists) and write the sweep files.

    Args:
        cfg: the sweep.
        pruner: an Optuna pruner to use instead of the default (tests pass one that prunes every trial).
        on_trial: called with each finished trial's entry of sweep.json (for the CLI's progress lines).
    """
    if cfg.trials < 1:
        raise ConfigError(f"--trials must be >= 1 (got {cfg.trials})")
    params = load_space(cfg.space)
    base = {**cfg.base, "model": cfg.model, "dataset": cfg.dataset, "seed": cfg.seed}
    TrainConfig(**{k: base.get(k) for k in BUDGET_OPTIONS}).check_budget_flags()
    TrainConfig.from_dict(base, source="sweep options")  # a bad base value fails before any trial
    from visionbench.models import get_entry

    get_entry(cfg.model)  # an unknown model too (the data is checked by the first trial)
    name = slug(cfg.study_name) if cfg.study_name else run_name(cfg.model, cfg.dataset)
    folder = Path(cfg.out) / name
    folder.mkdir(parents=True, exist_ok=True)
    study, storage = _open_study(cfg, params, folder, pruner)
    optuna = _optuna()
    from visionbench.train import train

    def objective(trial: Any) -> float:
        values = {p.name: _suggest(trial, p) for p in params}
        run_cfg = TrainConfig.from_dict({**base, **values, "output_dir": str(folder / "runs"),
                                         "run_name": f"trial-{trial.number:04d}"}, source=f"trial {trial.number}")

        def on_start(run_dir: Path) -> None:
            trial.set_user_attr("run_dir", str(run_dir.relative_to(folder)))

        def on_epoch(row: dict[str, Any]) -> bool:
            trial.report(float(row[_metric(row)]), step=int(row["epoch"]))
            return trial.should_prune()

        result = train(run_cfg, on_start=on_start, on_epoch=on_epoch)
        trial.set_user_attr("status", result.status)
        trial.set_user_attr("epochs_completed", result.results.get("epochs_completed"))
        if result.status == "interrupted":
            raise KeyboardInterrupt(result.message)
        if result.status == "pruned":
            raise optuna.TrialPruned(result.message)
        best = result.results.get("best_val_accuracy", result.results.get("best_val_map"))
        return float(best) if best is not None else 0.0  # diverged before its first epoch: the worst value

    def callback(study: Any, frozen: Any) -> None:
        write_sweep_files(folder, study, storage, baseline_value)
        if on_trial is not None:
            on_trial(_trial_entry(frozen))

    baseline_value = _baseline(cfg, base, folder) if cfg.baseline else _read_baseline(folder)
    study.optimize(objective, n_trials=cfg.trials, callbacks=[callback], catch=())
    return write_sweep_files(folder, study, storage, baseline_value)


def _baseline(cfg: SweepConfig, base: dict[str, Any], folder: Path) -> float | None:
    """The default recipe's best validation accuracy, trained once per sweep folder (``runs/baseline``)."""
    existing = _read_baseline(folder)
    if existing is not None:
        return existing
    from visionbench.train import train

    result = train(TrainConfig.from_dict({**base, "output_dir": str(folder / "runs"), "run_name": "baseline"},
                                         source="sweep options"))
    if result.status == "interrupted":
        raise KeyboardInterrupt(result.message)
    return _read_baseline(folder)


def _read_baseline(folder: Path) -> float | None:
    path = folder / "runs" / "baseline"
    if not (path / "results.json").is_file():
        return None
    results = read_run(path).results or {}
    if results.get("status") != "completed":
        return None
    value = results.get("best_val_accuracy", results.get("best_val_map"))
    return float(value) if value is not None else None


def _trial_entry(t: Any) -> dict[str, Any]:
    return {"number": t.number, "state": t.state.name.lower(), "value": t.value, "params": dict(t.params),
            "run_dir": t.user_attrs.get("run_dir"), "status": t.user_attrs.get("status"),
            "epochs_completed": t.user_attrs.get("epochs_completed"),
            "last_reported": (t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None)}


def write_sweep_files(folder: str | Path, study: Any, storage: str, baseline: float | None = None) -> SweepResult:
    """Write sweep.json, best.yaml and the report (sweep.md, sweep.html) from the study's trials (all processes')."""
    import yaml

    folder = Path(folder)
    trials = [_trial_entry(t) for t in study.trials]
    complete = [t for t in trials if t["state"] == "complete" and t["value"] is not None]
    best = max(complete, key=lambda t: (t["value"], -t["number"])) if complete else None
    signature = study.user_attrs.get("visionbench", {})
    importances = _importances(study, len(complete), signature.get("seed", 0))
    write_json(folder / "sweep.json", {
        "study_name": study.study_name, "storage": storage, "direction": "maximize",
        "objective": "best validation accuracy (val_map for a detector); the test set is never used",
        "search": signature, "baseline_val": baseline, "best": best, "importances": importances, "trials": trials})
    if best is not None:
        config = {"model": signature.get("model"), "dataset": signature.get("dataset"),
                  **{k: v for k, v in signature.get("base", {}).items() if k not in ("output_dir", "run_name")},
                  "seed": signature.get("seed", 0), **best["params"]}
        header = (f"# The best trial ({best['number']}, validation {best['value']:.4f}) of sweep study "
                  f"{study.study_name}.\n# visionbench train --config best.yaml\n")
        atomic_write_text(folder / "best.yaml", header + yaml.safe_dump(config, sort_keys=False))
    _write_report(folder, study.study_name, storage, trials, best, importances, baseline)
    return SweepResult(folder, study.study_name, storage, trials, best, baseline)


def _importances(study: Any, n_complete: int, seed: int) -> dict[str, float] | None:
    """fANOVA importances of the searched parameters, once there are enough complete trials (else None)."""
    if n_complete < MIN_TRIALS_FOR_IMPORTANCE:
        return None
    optuna = _optuna()
    try:
        found = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
    except (RuntimeError, ValueError):  # e.g. every parameter took one value only
        return None
    return {k: round(float(v), 4) for k, v in found.items()}


def _write_report(folder: Path, name: str, storage: str, trials: list[dict[str, Any]], best: dict[str, Any] | None,
                  importances: dict[str, float] | None, baseline: float | None) -> None:
    """sweep.md and sweep.html: the best trial, the parameters' importances, every trial."""
    from visionbench.report.html import Document, Section, Table, fmt, write_document

    counts = {s: sum(t["state"] == s for t in trials) for s in ("complete", "pruned", "fail", "running")}
    lead = (f"Study `{name}` in `{storage}`: {len(trials)} trials ({counts['complete']} complete, {counts['pruned']} "
            f"pruned, {counts['fail']} failed, {counts['running']} running). The objective is the best validation "
            f"accuracy of each run; the pruner, when on, saw the validation curve only; the test set played no part.")
    doc = Document(f"Sweep {name}", lead)
    best_sec = Section("Best trial")
    if best is None:
        best_sec.paragraphs.append("No trial has completed yet.")
    else:
        best_sec.paragraphs.append(f"Trial {best['number']}: validation {fmt(best['value'], 4)}"
                                   + (f", against {fmt(baseline, 4)} for the model's default recipe."
                                      if baseline is not None else "."))
        best_sec.bullets += [f"`{k}` = {_g(v)}" for k, v in best["params"].items()]
        best_sec.code.append(f"visionbench train --config {folder / 'best.yaml'}")
    doc.sections.append(best_sec)
    if importances:
        doc.sections.append(Section("Parameter importance", paragraphs=[
            "fANOVA importance over the complete trials (Optuna's estimate; it sums to 1)."], tables=[
            Table(["parameter", "importance"], [[k, fmt(v, 3)] for k, v in importances.items()])]))
    names = sorted({k for t in trials for k in t["params"]})
    rows = [[str(t["number"]), t["state"], fmt(t["value"], 4), fmt(t["last_reported"], 4),
             fmt(t["epochs_completed"]), *[_g(t["params"].get(k)) for k in names], t["run_dir"] or ""]
            for t in trials]
    doc.sections.append(Section("Trials", tables=[Table(
        ["trial", "state", "best val", "last val", "epochs", *names, "run"], rows,
        caption="best val: the objective (complete trials); last val: the last validation value the pruner saw.")]))
    write_document(doc, folder, stem="sweep")


def _g(value: Any) -> str:
    """A sampled value: floats with 4 significant digits (a weight decay of 7e-05 must not print as 0.0001)."""
    return f"{value:.4g}" if isinstance(value, float) else ("n/a" if value is None else str(value))
