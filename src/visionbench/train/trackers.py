"""Experiment trackers (TensorBoard, MLflow): the run's configuration, every epoch's metrics and its final results,
sent to the tool the user already runs. The run directory stays the record; a tracker is a copy for watching.

The training loop calls :func:`open_tracker` once a run directory is made or locked, :meth:`Tracker.log_epoch` after
each validated epoch and :meth:`Tracker.finish` once results.json is written; under ``torchrun`` only rank 0 does.

Failures: a tracker that cannot be opened (a package that does not import, a bad tracking URI, a server that does
not answer) stops the run in one line before its first step, the run directory kept for ``--resume``. A tracker that
fails later is dropped with one warning (on stderr and in train.log) and the training goes on: a server that goes
down must not cost the run, whose directory holds everything the tracker would have shown.

Resume: ``<run_dir>/trackers.json`` keeps where each tracker writes (TensorBoard's folder, MLflow's run id), so a
resumed run goes on in the same TensorBoard run (epochs from the resumed one on are purged and written again, so no
step shows twice) and the same MLflow run (epochs it already has are not sent again: resume is exact, so they are
the same numbers).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from visionbench.errors import ConfigError, RunError, VisionbenchError, first_line, suggest

__all__ = ["TRACKERS", "TRACKERS_FILE", "Tracker", "check_log_to", "metric_name", "open_tracker"]

log = logging.getLogger("visionbench.train")

#: The ``--log-to`` choices and the module each needs.
TRACKERS = {"tensorboard": "tensorboard", "mlflow": "mlflow"}
#: Where a run directory keeps its trackers' places (TensorBoard folder, MLflow run id) for ``--resume``.
TRACKERS_FILE = "trackers.json"
#: ``$VISIONBENCH_TENSORBOARD_DIR``: TensorBoard's folder for every run (``<it>/<run name>``) instead of the run's own.
TENSORBOARD_DIR_ENV = "VISIONBENCH_TENSORBOARD_DIR"
#: MLflow's run status for each of ours (a pruned trial ended as the sweep meant it to).
MLFLOW_STATUS = {"completed": "FINISHED", "pruned": "FINISHED", "interrupted": "KILLED", "diverged": "FAILED"}
#: results.json numbers that are configuration (sent as parameters), not results.
_NOT_RESULTS = ("seed", "epochs", "steps", "time_budget")
_PARAM_CHARS = 500  # MLflow's limit on a parameter's value in its older versions (6000 since 2.x)


def _installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None  # None: an import blocked on purpose
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_log_to(names: Sequence[str], *, droppable: bool = True) -> None:
    """Raise :class:`ConfigError` for an unknown tracker name or one whose package is not installed (nothing is
    imported: this runs before any data is loaded). ``droppable=False``: the names come from a run being resumed,
    which keeps them, so the message does not suggest dropping them."""
    for name in names:
        if name not in TRACKERS:
            raise ConfigError(f"--log-to {name}: unknown tracker; choose from {', '.join(TRACKERS)}"
                              f"{suggest(name, TRACKERS)}")
        if not _installed(TRACKERS[name]):
            raise ConfigError(f"--log-to {name} needs the {TRACKERS[name]} package: pip install "
                              f"'visionbench[{name}]'" + (f" (or drop --log-to {name})" if droppable else ""))


def metric_name(column: str) -> str:
    """A history column's name in the trackers: ``train_loss`` -> ``train/loss``, ``val_map50`` -> ``val/map50``
    (TensorBoard and MLflow group names by what comes before the slash); ``lr``, ``seconds``... stay as they are."""
    for prefix in ("train", "val", "test"):
        if column.startswith(prefix + "_"):
            return f"{prefix}/{column[len(prefix) + 1:]}"
    return column


def _numbers(row: dict[str, Any], skip: Sequence[str] = ()) -> dict[str, float]:
    return {k: float(v) for k, v in row.items()
            if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _final_numbers(results: dict[str, Any]) -> dict[str, float]:
    """results.json's top-level numbers (test metrics, times, sizes), configuration values left out."""
    return _numbers(results, _NOT_RESULTS)


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"budget": {"steps": 9}}`` -> ``{"budget.steps": 9}``; lists stay values."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


class Tracker:
    """Sends a run to zero or more trackers; this base class sends nothing (no ``--log-to``)."""

    def log_epoch(self, row: dict[str, Any]) -> None:
        """One epoch's history row (``epoch``, training and validation metrics, ``lr``, ``seconds``...)."""

    def finish(self, status: str, results: dict[str, Any]) -> None:
        """The run's end: its status and results.json."""

    def close(self) -> None:
        """Release the tracker's resources (always called, also after an error)."""


class _Trackers(Tracker):
    """Several trackers; one that fails is dropped with a warning and the others (and the training) go on."""

    def __init__(self, sinks: list[Any]) -> None:
        self.sinks = sinks

    def _each(self, doing: str, call: Any) -> None:
        for sink in list(self.sinks):
            try:
                call(sink)
            except Exception as exc:  # noqa: BLE001 - a tracker's trouble never ends the training
                self.sinks.remove(sink)
                message = (f"--log-to {sink.name}: {doing} failed ({first_line(exc, 300)}); the run goes on without "
                           f"{sink.name} (its run directory has every number)")
                log.warning(message)
                print(f"warning: {message}", file=sys.stderr)
                with contextlib.suppress(Exception):
                    sink.close()

    def log_epoch(self, row: dict[str, Any]) -> None:
        self._each(f"sending epoch {row.get('epoch')}", lambda s: s.log_epoch(row))

    def finish(self, status: str, results: dict[str, Any]) -> None:
        self._each("sending the results", lambda s: s.finish(status, results))

    def close(self) -> None:
        self._each("closing", lambda s: s.close())
        self.sinks = []


class _TensorBoard:
    """Scalars per epoch (step = epoch), the configuration as text, the results and hparams at the end."""

    name = "tensorboard"

    def __init__(self, run_dir: Path, state: dict[str, Any], config: dict[str, Any], resumed: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.SummaryWriter = SummaryWriter
        self.log_dir = _tensorboard_dir(run_dir, state)
        self.config = config
        self.writer: Any = None
        if not resumed:
            self._open(None)
            self.writer.add_text("config", "    " + json.dumps(config, indent=2).replace("\n", "\n    "), 0)
            self.writer.flush()

    def _open(self, purge_step: int | None) -> None:
        # A resumed run's writer opens at its first epoch: purge_step hides that epoch and every later one that the
        # stopped process had written (they are trained again, to the same numbers), so no step shows twice.
        self.writer = self.SummaryWriter(log_dir=str(self.log_dir), purge_step=purge_step, flush_secs=10)

    def log_epoch(self, row: dict[str, Any]) -> None:
        epoch = int(row["epoch"])
        if self.writer is None:
            self._open(epoch)
        for key, value in _numbers(row, ("epoch",)).items():
            self.writer.add_scalar(metric_name(key), value, epoch)

    def finish(self, status: str, results: dict[str, Any]) -> None:
        if self.writer is None:
            self._open(None)
        if status == "interrupted":  # its results come when the resumed run ends
            self.writer.flush()
            return
        from torch.utils.tensorboard.summary import hparams

        step = int(results.get("epochs_completed") or 0)
        final = {f"results/{k}": v for k, v in _final_numbers(results).items()}
        for tag, value in final.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.add_text("status", status, step)
        chosen = {k: v for k, v in _flatten(self.config).items()
                  if isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 100)}
        file_writer = self.writer._get_file_writer()  # the hparams summaries go into this run, not a sub-run
        for summary in hparams(chosen, final):
            file_writer.add_summary(summary)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _tensorboard_dir(run_dir: Path, state: dict[str, Any]) -> Path:
    """``<run_dir>/tensorboard``, or ``$VISIONBENCH_TENSORBOARD_DIR/<run name>`` (``-2``... when another run has that
    name); kept in trackers.json so a resumed run writes where it did."""
    saved = state.get("tensorboard", {}).get("log_dir")
    if saved:
        return run_dir / saved  # relative to the run directory when inside it; an absolute path stays as it is
    root = os.environ.get(TENSORBOARD_DIR_ENV)
    if root:
        from visionbench.runs import unique_dir

        path = unique_dir(Path(root).expanduser(), run_dir.name).resolve()
        state["tensorboard"] = {"log_dir": str(path)}
    else:
        path = run_dir / "tensorboard"
        state["tensorboard"] = {"log_dir": "tensorboard"}
    return path


class _MLflow:
    """One MLflow run per run directory: params (the flattened config.json), tags, per-epoch metrics (step =
    epoch) and the final results; reopened on resume."""

    name = "mlflow"

    def __init__(self, session: Any, run_dir: Path, state: dict[str, Any], config: dict[str, Any],
                 resumed: bool) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.uri, default_root = _mlflow_uri(run_dir)
        with _quiet_mlflow(), _locked(default_root):
            self.client = MlflowClient(tracking_uri=self.uri)
            saved = state.get("mlflow", {}).get("run_id") if resumed else None
            self.done_epochs = 0
            if saved:
                self.run_id = saved
                self._reopen(saved, metric_name(session.task.monitor))
            else:
                self.run_id = self._new_run(session, run_dir, default_root)
                params = [Param(_key(k), _param_value(v)) for k, v in _flatten(config).items()]
                for i in range(0, len(params), 100):  # MLflow takes at most 100 parameters per batch
                    self.client.log_batch(self.run_id, params=params[i:i + 100])
        state["mlflow"] = {"run_id": self.run_id, "tracking_uri": _masked(self.uri)}
        self.finished = False

    def _new_run(self, session: Any, run_dir: Path, default_root: Path | None) -> str:
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or session.dataset.name
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            artifacts = (default_root / "artifacts").resolve().as_uri() if default_root else None
            try:
                experiment_id = self.client.create_experiment(name, artifact_location=artifacts)
            except Exception:  # noqa: BLE001 - another process made it meanwhile (else the lookup fails again)
                experiment = self.client.get_experiment_by_name(name)
                if experiment is None:
                    raise
                experiment_id = experiment.experiment_id
        elif experiment.lifecycle_stage != "active":
            raise RunError(f"--log-to mlflow: the MLflow experiment {name!r} is deleted; restore it, or set "
                           f"MLFLOW_EXPERIMENT_NAME to another")
        else:
            experiment_id = experiment.experiment_id
        cfg = session.cfg
        tags = {"model": cfg.model, "dataset": session.dataset.name, "seed": str(cfg.seed), "status": "running",
                "run_dir": str(run_dir.resolve()), "engine": session.entry.engine}
        return str(self.client.create_run(experiment_id, tags=tags, run_name=run_dir.name).info.run_id)

    def _reopen(self, run_id: str, monitor: str) -> None:
        try:
            self.client.get_run(run_id)
        except Exception:  # noqa: BLE001 - MLflow's own error for a run it does not have
            raise RunError(f"--log-to mlflow: this run's MLflow run {run_id} is not in {_masked(self.uri)}; set "
                           f"MLFLOW_TRACKING_URI to the store it was logged to (see {TRACKERS_FILE})") from None
        self.client.update_run(run_id, status="RUNNING")
        self.client.set_tag(run_id, "status", "running")
        steps = [m.step for m in self.client.get_metric_history(run_id, monitor)]
        self.done_epochs = max(steps, default=0)

    def log_epoch(self, row: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        epoch = int(row["epoch"])
        if epoch <= self.done_epochs:  # sent before the interruption: the same numbers (exact resume)
            return
        now = int(time.time() * 1000)
        metrics = [Metric(metric_name(k), v, now, epoch) for k, v in _numbers(row, ("epoch",)).items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, status: str, results: dict[str, Any]) -> None:
        from mlflow.entities import Metric, RunTag

        metrics: list[Any] = []
        if status != "interrupted":  # its results come when the resumed run ends
            now, step = int(time.time() * 1000), int(results.get("epochs_completed") or 0)
            metrics = [Metric(k, v, now, step) for k, v in _final_numbers(results).items()]
        self.client.log_batch(self.run_id, metrics=metrics, tags=[RunTag("status", status)])
        self.client.set_terminated(self.run_id, status=MLFLOW_STATUS.get(status, "FAILED"))
        self.finished = True

    def close(self) -> None:
        if not self.finished:  # the training ended on an error before its results
            self.finished = True
            self.client.set_terminated(self.run_id, status="FAILED")


def _mlflow_uri(run_dir: Path) -> tuple[str, Path | None]:
    """``$MLFLOW_TRACKING_URI`` (as MLflow users set it), else a SQLite store beside the run directories:
    ``<output_dir>/mlruns/mlflow.db`` (recent MLflow refuses a plain folder store). Returns the URI and the
    default store's folder (None for the user's URI)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri, None
    root = run_dir.resolve().parent / "mlruns"
    root.mkdir(exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}", root


@contextlib.contextmanager
def _locked(root: Path | None) -> Iterator[None]:
    """Hold ``<root>/.lock`` while the default store is opened: two workers creating its tables (or its experiment)
    at once would collide."""
    if root is None:
        yield
        return
    from visionbench.runs import wait_for_lock

    with wait_for_lock(root):  # an flock on <root>/.lock, waited for as the old blocking flock was
        yield


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow's store set-up logs its database migrations at INFO and SQLAlchemy warns about MLflow's own mappings:
    noise for a user who asked for none of it."""
    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", module="sqlalchemy")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _key(name: str) -> str:
    return re.sub(r"[^\w\-. /]", "_", name)  # MLflow's allowed characters in a key


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _PARAM_CHARS else text[:_PARAM_CHARS - 3] + "..."


def _masked(uri: str) -> str:
    """A tracking URI without its password (trackers.json and messages never hold a secret)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _read_state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / TRACKERS_FILE
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: unreadable ({exc}); delete it to start new tracker runs") from None
    return state if isinstance(state, dict) else {}


def open_tracker(session: Any, run_dir: Path, *, resumed: bool) -> Tracker:
    """The tracker for ``session.cfg.log_to`` (a :class:`Tracker` that sends nothing when it is empty).

    Raises:
        RunError: a tracker cannot be opened (one line naming it and the fix; the run directory is kept).
    """
    names = tuple(getattr(session.cfg, "log_to", ()) or ())
    if not names:
        return Tracker()
    state = _read_state(run_dir)  # (the names and their packages were checked with the configuration)
    before = json.dumps(state, sort_keys=True)
    config = json.loads((run_dir / "config.json").read_text())
    sinks: list[Any] = []
    try:
        for name in names:
            try:
                if name == "tensorboard":
                    sinks.append(_TensorBoard(run_dir, state, config, resumed))
                else:
                    sinks.append(_MLflow(session, run_dir, state, config, resumed))
            except VisionbenchError:
                raise
            except Exception as exc:  # noqa: BLE001 - an import, a URI, a server: one line, before training
                where = f" at {_masked(_mlflow_uri(run_dir)[0])}" if name == "mlflow" else ""
                raise RunError(f"--log-to {name}: cannot open it{where} ({first_line(exc, 300)}); fix that, then "
                               f"resume with: visionbench train --resume {run_dir}") from None
    except BaseException:
        for sink in sinks:
            with contextlib.suppress(Exception):
                sink.close()
        raise
    finally:  # also when a later tracker failed: the resume goes on in the tracker runs already made
        if json.dumps(state, sort_keys=True) != before:
            from visionbench.runs import write_json

            write_json(run_dir / TRACKERS_FILE, state)
    return _Trackers(sinks)
