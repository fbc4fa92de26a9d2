"""Fuzz formats, continued: ImageFolder trees, COCO folders, train configs, checkpoints and run directories.

The checkpoint and run-directory seeds come from one 1-epoch training of each engine on digits (the parent process
trains once; every case's child inherits the built model and loads the mutated file into it).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _data_formats import png_claiming, write_image_tree  # noqa: I001
from _fuzz_formats import Format, Hostile, Mutation, Snapshot, _dataset
from hypothesis import strategies as st

# ----------------------------------------------------------------------------------------------------- ImageFolder

_CLASSES = ("cat", "dog")


def _tree_snapshot(ds: Any) -> Snapshot:
    """Order-free: a renamed file may move between the seeded train and test splits; the set of (label, image) may
    not change."""
    snap = _dataset(ds)
    images = np.concatenate([snap["train_images"], snap["test_images"]])
    labels = np.concatenate([snap["train_labels"], snap["test_labels"]])
    order = sorted(range(len(labels)), key=lambda i: (int(labels[i]), images[i].tobytes()))
    return {"classes": snap["classes"], "images": images[order], "labels": labels[order]}


def _tree_edit(case: Path, args: Any) -> None:
    kind, folder = args["kind"], case / "tree" / _CLASSES[args["cls"]]
    target = sorted(folder.iterdir())[args["i"] % 5]
    if kind == "bomb":
        target.write_bytes(png_claiming(65536, 65536))
    elif kind == "text":
        target.write_text("not an image\n")
    elif kind == "other-size":  # a valid image of another size: the format cannot tell
        from PIL import Image

        Image.new("RGB", (3, 40), (1, 2, 3)).save(target, format="PNG" if target.suffix == ".png" else "JPEG")
    elif kind == "empty-class":
        for p in folder.iterdir():
            p.unlink()
    elif kind == "extra-file":
        (folder / "README.txt").write_text("notes")
    elif kind == "hidden-dir":
        shutil.copytree(folder, case / "tree" / ".cache")


def _tree_format(ext: str) -> Format:
    files = [f"tree/{c}/{i}{ext}" for c in _CLASSES for i in range(5)]
    args = st.fixed_dictionaries({"kind": st.sampled_from(["bomb", "text", "empty-class", "extra-file", "hidden-dir"]),
                                  "cls": st.integers(0, 1), "i": st.integers(0, 4)})
    lax = st.fixed_dictionaries({"kind": st.just("other-size"), "cls": st.integers(0, 1), "i": st.integers(0, 4)})

    def load(case: Path, m: Mutation) -> Snapshot:
        from visionbench.data import load_dataset

        return _tree_snapshot(load_dataset(f"imagefolder:{case / 'tree'}", img_size=8))

    def build(folder: Path) -> None:
        write_image_tree(folder / "tree", per_class=5, classes=_CLASSES, ext=ext)

    return Format(f"imagefolder-{ext[1:]}", build, load, files, (".png",),
                  {"tree": (args, _tree_edit, True), "tree-lax": (lax, _tree_edit, False)}, skips_non_files=True)


# ------------------------------------------------------------------------------------------------------------ COCO

def _coco_build(folder: Path) -> None:
    from visionbench.data.digits import load_digits
    from visionbench.data.export import export_coco
    from visionbench.data.scenes import SceneConfig, make_scenes

    scenes = make_scenes(load_digits(), SceneConfig(train_scenes=3, test_scenes=2, canvas=32, min_scale=10,
                                                    max_scale=16, max_objects=2))
    export_coco(scenes, folder)


_COCO_EDITS = ("traversal", "absolute", "huge-size", "bbox-nan", "bbox-string", "category-bool", "category-missing",
               "image-missing", "dup-image-id", "no-categories", "top-list", "file-name-number", "negative-box")


def _coco_edit(case: Path, args: Any) -> None:
    path = case / "annotations" / f"instances_{args['split']}.json"
    doc = json.loads(path.read_text())
    kind = args["kind"]
    img, ann = doc["images"][0], doc["annotations"][0] if doc["annotations"] else {}
    outside = case.parent.parent / "sentinel" / "outside.png"
    if kind == "traversal":  # another image, reached through ..: the file must stay under the images folder
        img["file_name"] = "../" * 8 + str(outside).lstrip("/")
    elif kind == "absolute":
        img["file_name"] = str(outside)
    elif kind == "huge-size":
        img["width"] = 10**12
    elif kind == "bbox-nan" and ann:
        ann["bbox"][0] = float("nan")
    elif kind == "bbox-string" and ann:
        ann["bbox"] = "1 2 3 4"
    elif kind == "category-bool" and ann:
        ann["category_id"] = ann["category_id"] == 1
        if ann["category_id"] is False:
            ann["category_id"] = True
    elif kind == "category-missing" and ann:
        ann["category_id"] = 999
    elif kind == "image-missing" and ann:
        ann["image_id"] = 999
    elif kind == "dup-image-id" and len(doc["images"]) > 1:
        doc["images"][1]["id"] = img["id"]
    elif kind == "no-categories":
        doc["categories"] = []
    elif kind == "top-list":
        doc = [doc]
    elif kind == "file-name-number":
        img["file_name"] = 7
    elif kind == "negative-box" and ann:
        ann["bbox"][2] = -ann["bbox"][2]
    path.write_text(json.dumps(doc))


def _coco_load(case: Path, m: Mutation) -> Snapshot:
    from visionbench.data import load_dataset

    ds = load_dataset(f"coco:{case}")
    out: Snapshot = {"classes": list(ds.classes)}
    for name in ("train", "test"):
        split = getattr(ds, name)
        out[f"{name}_images"] = np.asarray(split.images)
        out[f"{name}_boxes"] = [t["boxes"] for t in split.targets]
        out[f"{name}_labels"] = [t["labels"] for t in split.targets]
    return out


def _coco_format() -> Format:
    files = ["annotations/instances_train.json", "annotations/instances_test.json", "images/train/000001.png",
             "images/test/000002.png"]
    args = st.fixed_dictionaries({"kind": st.sampled_from(_COCO_EDITS), "split": st.sampled_from(["train", "test"])})
    return Format("coco", _coco_build, _coco_load, files, (".png",), {"json": (args, _coco_edit, True)})


# --------------------------------------------------------------------------------------------------------- configs

CONFIG = {"model": "mlp_small", "dataset": "digits", "epochs": 2, "batch_size": 32, "lr": 0.05, "seed": 3,
          "quiet": False, "threads": 1, "augment": "none", "val_split": 0.2, "model_kwargs": {"widths": [16]}}
#: Values of the wrong type or out of range; every one must be refused.
BAD_VALUES: list[tuple[str, Any]] = [
    ("epochs", "5"), ("epochs", 1.5), ("epochs", True), ("epochs", 0), ("threads", 2.0), ("quiet", "false"),
    ("quiet", 1), ("lr", math.inf), ("lr", math.nan), ("lr", "0.1"), ("lr", -1.0), ("warmup_steps", math.inf),
    ("seed", None), ("seed", -3), ("seed", 2**64), ("img_size", 10**9), ("model", 5), ("dataset", ["digits"]),
    ("augment", "sideways"), ("device", "gpu"), ("val_split", 1.5), ("val_split", "0.2"), ("output_dir", 7),
    ("dataset_options", "x"), ("nesterov", "yes"), ("momentum", 1.0), ("label_smoothing", math.nan),
    ("time_budget", math.inf), ("max_train_samples", 1000.0), ("batch_size", 2**70), ("model_kwargs", [1]),
    ("epoch", 3), ("batchsize", 32), ("epochs", 2**80), ("steps", 2**63),
]


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return json.dumps("null" if v is None else str(v))


def dump_config(ext: str, pairs: list[tuple[str, Any]]) -> str:
    """A config file's text from (key, value) pairs (repeated keys allowed)."""
    if ext == ".json":
        return "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in pairs) + "}\n"
    if ext == ".toml":
        return "".join(f"{k} = {_toml_value(v)}\n" for k, v in pairs)
    import yaml

    return "".join(yaml.safe_dump({k: v}, default_flow_style=False) for k, v in pairs)


def _config_edit(ext: str) -> Callable[[Path, Any], None]:
    def apply(case: Path, args: Any) -> None:
        pairs = [(k, v) for k, v in CONFIG.items()]
        path = case / f"train{ext}"
        kind = args["kind"]
        if kind == "bad-value":
            key, value = BAD_VALUES[args["n"] % len(BAD_VALUES)]
            pairs = [(k, v) for k, v in pairs if k != key] + [(key, value)]
        elif kind == "duplicate":
            key = list(CONFIG)[args["n"] % len(CONFIG)]
            pairs.append((key, 7 if key != "epochs" else 3))
        text = dump_config(ext, pairs)
        if kind == "top-list":
            text = {".json": "[1, 2]\n", ".toml": "= 1\n", ".yaml": "- 1\n- 2\n"}[ext]
        raw = text.encode()
        if kind == "non-utf8":
            at = raw.index(b"mlp_small") + 3
            raw = raw[:at] + b"\xff\xfe" + raw[at:]
        path.write_bytes(raw)

    return apply


def _config_format(ext: str) -> Format:
    def build(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"train{ext}").write_text(dump_config(ext, list(CONFIG.items())))

    def load(case: Path, m: Mutation) -> Snapshot:
        from visionbench.train.config import TrainConfig, load_config_file

        path = case / f"train{ext}"
        cfg = TrainConfig.from_dict(load_config_file(path), source=f"--config {path}")
        return dataclasses.asdict(cfg)

    args = st.fixed_dictionaries({"kind": st.sampled_from(["bad-value", "duplicate", "top-list", "non-utf8"]),
                                  "n": st.integers(0, 200)})
    return Format(f"config-{ext[1:]}", build, load, [f"train{ext}"], (), {"config": (args, _config_edit(ext), True)})


# ------------------------------------------------------------------------------------ checkpoints and run folders

#: Built once in the parent: engine -> (finished run directory, a session whose backend loads checkpoints).
TRAINED: dict[str, tuple[Path, Any]] = {}


def _trained(model: str) -> tuple[Path, Any]:
    if model not in TRAINED:
        from visionbench.train import TrainConfig, train
        from visionbench.train.loop import _prepare_resume
        from visionbench.train.session import build_session

        out = Path(tempfile.mkdtemp(prefix="fuzz-train-"))
        kwargs = {"widths": [16]} if model == "mlp_small" else {}
        run = train(TrainConfig(model=model, dataset="digits", epochs=1, batch_size=64, max_train_samples=120,
                                output_dir=str(out), quiet=True, threads=1, model_kwargs=kwargs)).run_dir
        _, cfg = _prepare_resume(run, None)
        TRAINED[model] = (Path(run), build_session(dataclasses.replace(cfg, quiet=True)))
    return TRAINED[model]


def _as_numpy(state: Any, prefix: str = "") -> Snapshot:
    out: Snapshot = {}
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, list) else None
    if items is None:
        return {prefix: np.asarray(state.detach().cpu() if hasattr(state, "detach") else state)}
    for k, v in items:
        out.update(_as_numpy(v, f"{prefix}/{k}"))
    return out


_PT_EDITS = ("hostile", "a-list", "model-list", "int-keys", "meta-text", "meta-epoch", "no-optimizer", "shape",
             "npy-bytes", "no-meta", "extra-array", "missing-array", "object-array")


def _checkpoint_edit(model: str, suffix: str) -> Callable[[Path, Any], None]:
    def apply(case: Path, args: Any) -> None:
        import io

        import torch

        path, kind = case / f"best{suffix}", args["kind"]
        marker = str(case.parent.parent / "sentinel" / "pickle-ran")
        if suffix == ".pt":
            state = torch.load(path, weights_only=True)
            first = sorted(state["model"])[0]
            edits = {
                "hostile": lambda: state.update(meta=Hostile(marker)),
                "a-list": lambda: None,
                "model-list": lambda: state.update(model=list(state["model"].values())),
                "int-keys": lambda: state.update(model=dict(enumerate(state["model"].values()))),
                "meta-text": lambda: state.update(meta="{not json"),
                "meta-epoch": lambda: state.update(meta=json.dumps({"epoch": "three"})),
                "no-optimizer": lambda: state.pop("optimizer"),
                "shape": lambda: state["model"].update({first: torch.zeros(3, 3)}),
                "no-digest-other-weights": lambda: (state.pop("digest"), state["model"][first].add_(1)),
            }
            edits.get(kind, lambda: None)()
            buf = io.BytesIO()
            torch.save([state] if kind == "a-list" else state, buf)
            path.write_bytes(buf.getvalue())
            return
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        first = sorted(k for k in arrays if k.startswith("model/"))[0]
        if kind == "npy-bytes":
            buf = io.BytesIO()
            np.save(buf, arrays[first])
            path.write_bytes(buf.getvalue())
            return
        edits = {"no-meta": lambda: arrays.pop("meta"), "extra-array": lambda: arrays.update({"model/extra": 1}),
                 "missing-array": lambda: arrays.pop(first), "object-array": lambda: arrays.update(
                     {first: np.array([{"a": 1}], dtype=object)}),
                 "shape": lambda: arrays.update({first: np.zeros((3, 3))}),
                 "meta-text": lambda: arrays.update(meta=np.array("{not json")),
                 "meta-epoch": lambda: arrays.update(meta=np.array(json.dumps({"epoch": -1})))}
        edits.get(kind, lambda: None)()
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        path.write_bytes(buf.getvalue())

    return apply


def _checkpoint_format(model: str, suffix: str) -> Format:
    def build(folder: Path) -> None:
        run, _ = _trained(model)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(run / "checkpoints" / f"best{suffix}", folder / f"best{suffix}")

    def load(case: Path, m: Mutation) -> Snapshot:
        backend = _trained(model)[1].backend
        resume = bool(m.get("resume"))
        meta = backend.load(case / f"best{suffix}", weights_only=not resume)
        snap = _as_numpy(backend.weights(), "model")
        if resume:
            snap.update(_as_numpy(backend.optimizer.state_dict(), "optim"))
        snap["meta"] = json.dumps(meta, sort_keys=True)
        return snap

    args = st.fixed_dictionaries({"kind": st.sampled_from(_PT_EDITS)})
    # A .pt without its digest (written before digests existed) is accepted: other weights in it are undetectable.
    lax = st.fixed_dictionaries({"kind": st.just("no-digest-other-weights")})
    return Format(f"checkpoint-{suffix[1:]}", build, load, [f"best{suffix}"], (suffix,),
                  {"checkpoint": (args, _checkpoint_edit(model, suffix), True),
                   "checkpoint-lax": (lax, _checkpoint_edit(model, suffix), False)})


_RUN_FILES = ["run/config.json", "run/history.csv", "run/results.json"]
_RUN_EDITS = ("top-list", "wrong-types", "nan", "csv-word", "csv-missing-column", "csv-extra-column", "non-utf8",
              "csv-ragged", "huge-number")


def _run_edit(case: Path, args: Any) -> None:
    path = case / _RUN_FILES[args["file"] % 3]
    kind, text = args["kind"], path.read_text()
    if path.suffix == ".json":
        doc = json.loads(text)
        if kind == "top-list":
            doc = [doc]
        elif kind == "wrong-types":
            doc = {k: ([v] if isinstance(v, (int, float, str)) else "x") for k, v in doc.items()}
        elif kind in ("nan", "huge-number"):
            number = math.nan if kind == "nan" else 10**400
            doc = {k: number if isinstance(v, (int, float)) and not isinstance(v, bool) else v for k, v in doc.items()}
        text = json.dumps(doc)
    else:
        lines = text.splitlines()
        if kind == "csv-word":
            lines[-1] = "x," + lines[-1].split(",", 1)[1]
        elif kind == "csv-missing-column":
            lines = [ln.rsplit(",", 1)[0] for ln in lines]
        elif kind == "csv-extra-column":
            lines = [ln + ",1" for ln in lines]
        elif kind == "csv-ragged":
            lines[-1] += ",1,2,3"
        elif kind == "nan":
            lines[-1] = ",".join("nan" for _ in lines[-1].split(","))
        text = "\n".join(lines) + "\n"
    raw = text.encode()
    path.write_bytes(raw[:5] + b"\xff" + raw[5:] if kind == "non-utf8" else raw)


def _run_format() -> Format:
    def build(folder: Path) -> None:
        run, _ = _trained("mlp_small")
        (folder / "run").mkdir(parents=True)
        for name in ("config.json", "history.csv", "results.json"):
            shutil.copy(run / name, folder / "run" / name)

    def load(case: Path, m: Mutation) -> Snapshot:
        from visionbench.report.build import build_comparison_report
        from visionbench.runs import read_run

        run = read_run(case / "run")
        report = build_comparison_report([case / "run"], case / "report")
        return {"config": json.dumps(run.config, sort_keys=True, default=str), "history": repr(run.history),
                "results": json.dumps(run.results, sort_keys=True, default=str), "rows": len(report["rows"])}

    args = st.fixed_dictionaries({"kind": st.sampled_from(_RUN_EDITS), "file": st.integers(0, 2)})
    return Format("run-dir", build, load, list(_RUN_FILES), (), {"run": (args, _run_edit, False)},
                  missing_files_ok=True)


def all_formats() -> list[Format]:
    from _fuzz_formats import _cifar_format, _idx_format, _usps_format

    return [_idx_format(False), _idx_format(True), _usps_format("bz2"), _usps_format("h5"), _usps_format("txt"),
            _cifar_format(False), _cifar_format(True), _tree_format(".png"), _tree_format(".jpg"), _coco_format(),
            _config_format(".yaml"), _config_format(".toml"), _config_format(".json"),
            _checkpoint_format("mlp_small", ".pt"), _checkpoint_format("scratch_linear", ".npz"), _run_format()]
