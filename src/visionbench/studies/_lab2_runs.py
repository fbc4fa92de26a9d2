"""The runs of the ``lab2`` study: training into the study directory (resumable), the pre-training data and weights,
and the rows the study's tables are made of, read back from the run directories.

Every run is a normal run directory under ``<study>/runs/<name>`` made by :func:`visionbench.train.train`, in its own
worker process unless the study is quick (see :mod:`visionbench.studies.compare`); a completed run of that name is
reused, an interrupted one resumed, so a study resumed after Ctrl-C redoes no finished run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from visionbench.errors import ConfigError
from visionbench.runs import Run, atomic_write_bytes, checkpoint_path, latest_attempt, read_run, write_json
from visionbench.studies._study import Part, StudyRun

__all__ = ["RUNS", "train_run", "record_run", "export_source", "head_free_weights", "parse_user_weights", "metric",
           "rel", "runs_of"]

RUNS = "runs"
#: Where the pre-training data (an image folder) and the pre-trained weights go, inside the study directory.
PRETRAIN_DATA = "pretrain-data"
WEIGHTS = "weights"
WEIGHT_ARCHS = ("alexnet", "vgg16")


def train_run(study: StudyRun, name: str, cfg: Any) -> Run:
    """Train ``cfg`` (a :class:`~visionbench.train.TrainConfig`) into ``<study>/runs/<name>`` and read it back.

    As in a comparison (:func:`~visionbench.studies.compare.run_once`): a completed run of that name is returned as
    it is, a stopped or killed one is resumed, a failed or diverged one moves to ``<study>/retired/`` and the run is
    made again. A run that fails is returned with status ``failed`` and its reason.
    """
    from visionbench.studies.compare import run_once

    runs_dir = study.out_dir / RUNS
    cfg = dataclasses.replace(cfg, output_dir=str(runs_dir), run_name=name, quiet=study.quiet,
                              data_dir=cfg.data_dir or study.data_dir)
    # A worker process per run (its own time, memory and crash), as in a comparison; the quick study stays here.
    result = run_once(latest_attempt(runs_dir, name), cfg, study.out_dir, quiet=study.quiet, isolate=not study.quick)
    if not isinstance(result, Path) and result.status == "interrupted":
        raise KeyboardInterrupt(f"run {name} interrupted")
    return read_run(result if isinstance(result, Path) else result.run_dir)


def record_run(p: Part, study: StudyRun, key: str, label: str, seed: int, run: Run, dataset: str) -> None:
    """A run's test accuracy, macro-F1, loss and training time as the part's values ``<key>_<metric>`` (joined to
    the references by key; None when the run did not complete, with a note saying why) and its folder in the part's
    data (``runs[key][seed]``)."""
    res = (run.results or {}) if run.status == "completed" else {}
    for name, unit in (("test_accuracy", "accuracy"), ("test_macro_f1", "F1"), ("test_loss", "CE"),
                       ("train_seconds", "s")):
        p.value(f"{key}_{name}", res.get(name), unit=unit, dataset=dataset, seed=seed,
                label=f"{label}: {name.replace('_', ' ')}")
    if run.status != "completed":
        p.note(f"{label} (seed {seed}): the run {run.status}: {(run.results or {}).get('message', 'no reason given')}")
    p.data.setdefault("runs", {}).setdefault(key, {})[str(seed)] = rel(study, run)


def export_source(study: StudyRun, source: str, side: int, n_train: int, n_test: int, seed: int = 0) -> str:
    """A stratified subset of ``source`` at ``side`` pixels, written once as an image folder in the study directory.

    The pre-training runs read it as ``imagefolder:PATH``: the same images every time, at the target's image size,
    and a test split small enough that evaluating a VGG16 on it takes seconds (a run always evaluates its test split).

    Returns:
        The dataset name ``imagefolder:<absolute path>``.
    """
    from PIL import Image

    from visionbench.data import load_dataset
    from visionbench.data.splits import stratified_indices

    folder = study.out_dir / PRETRAIN_DATA / f"{source}-{side}px-{n_train}-{n_test}"
    done = folder / "done.json"
    if not done.is_file():
        ds = load_dataset(source, data_dir=study.data_dir)
        for split, split_data, n in (("train", ds.train, n_train), ("test", ds.test, n_test)):
            labels = np.asarray(split_data.labels)
            _, keep = stratified_indices(labels, min(n / len(labels), 0.999), seed)
            for i in keep:
                img = np.asarray(split_data.images[int(i)])  # (C, h, w) uint8
                pil = Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))
                if pil.size != (side, side):
                    pil = pil.resize((side, side), Image.Resampling.BOX)  # area average: what a coarser sensor sees
                target = folder / split / f"{int(labels[i]):02d}" / f"{int(i):06d}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                pil.save(target)
        write_json(done, {"source": source, "side": side, "classes": list(ds.classes), "seed": seed,
                          "train": n_train, "test": n_test})
    return f"imagefolder:{folder.resolve()}"


def head_free_weights(run: Run, out: Path) -> Path:
    """Save ``run``'s best weights without its last layer (the head of its own classes) to ``out``.

    Fine-tuning then starts from the pre-trained layers with a fresh head for the target's classes, the usual
    recipe: the source's head maps the source's classes, which mean nothing for the target's.
    """
    import io

    import torch

    state = torch.load(checkpoint_path(run.path, "best"), map_location="cpu", weights_only=True)["model"]
    head = next(reversed(state)).rsplit(".", 1)[0]  # state dicts follow registration order: the head comes last
    kept = {k: v for k, v in state.items() if not k.startswith(head + ".")}
    buffer = io.BytesIO()
    torch.save(kept, buffer)
    atomic_write_bytes(out, buffer.getvalue())
    return out


def parse_user_weights(value: str | None) -> dict[str, str]:
    """The user's weights for AlexNet and VGG16: ``imagenet`` (both) or ``alexnet=FILE,vgg16=FILE`` (either).

    Raises:
        ConfigError: another form, or an architecture the study does not fine-tune.
    """
    if not value:
        return {}
    if value.strip().lower() == "imagenet":
        return dict.fromkeys(WEIGHT_ARCHS, "imagenet")
    out: dict[str, str] = {}
    for item in value.split(","):
        arch, sep, source = item.partition("=")
        arch, source = arch.strip(), source.strip()
        if not sep or arch not in WEIGHT_ARCHS or not source:
            raise ConfigError(f"--weights {value}: give 'imagenet' or 'alexnet=FILE,vgg16=FILE' (the study "
                              f"fine-tunes {' and '.join(WEIGHT_ARCHS)})")
        out[arch] = source
    return out


def metric(run: Run | None, key: str) -> Any:
    """``results.json[key]`` of a completed run, else None."""
    if run is None or run.status != "completed":
        return None
    return (run.results or {}).get(key)


def rel(study: StudyRun, run: Run) -> str:
    """A run's folder relative to the study directory (what the part files store)."""
    return run.path.resolve().relative_to(study.out_dir.resolve()).as_posix()


def runs_of(study: StudyRun, paths: Mapping[str, str]) -> dict[str, Run]:
    """The runs a part recorded (``{seed: relative path}``), read back from their directories."""
    return {seed: read_run(study.out_dir / path) for seed, path in paths.items()}
