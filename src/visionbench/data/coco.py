"""COCO detection files read back as a detection dataset (``coco:PATH``); writing them is :mod:`.export`.

Layout written by :func:`visionbench.data.export.export_coco` (read by :func:`read_coco`, :func:`load_coco_dataset`)::

    FOLDER/images/<split>/<image id, 6 digits>.png
    FOLDER/annotations/instances_<split>.json

The JSON is COCO's "instances" format: ``images`` (``id``, ``file_name`` relative to ``images/<split>/``, ``width``,
``height``), ``annotations`` (``id``, ``image_id``, ``category_id``, ``bbox = [x, y, w, h]`` in float pixels,
``area = w * h``, ``iscrowd = 0``) and ``categories`` (``id``, ``name``), plus ``info`` holding the dataset's info
(for digit scenes, the :class:`~visionbench.data.scenes.SceneConfig`). Image and annotation ids start at 1.

Labels and category ids: COCO category ids conventionally start at 1, so the export writes ``category_id = label + 1``
for labels ``0..K-1``. The reader maps the categories *sorted by id* to labels ``0..K-1`` (any ids, contiguous or not,
as in COCO 2017's 80 classes numbered up to 90; ``info["category_ids"]`` keeps them), which undoes the export's shift.
Boxes go ``x1, y1, x2, y2 -> x1, y1, x2 - x1, y2 - y1`` and back in float64, so float32 boxes round-trip exactly.

The reader accepts any COCO instances JSON with its images folder. Annotations marked ``iscrowd`` are checked but
left out of the targets (``info["crowd_skipped"]`` counts them). Images are decoded with Pillow: the set is grey
(1 channel) when every image is grey, else RGB; images of different sizes give a list instead of one array. Each
problem with the files is a one-line :class:`~visionbench.errors.DataError` naming the file and what is wrong.
Files are written atomically (a temporary file in the same folder, then a rename); the JSON is written last.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from visionbench.data._detection import DetectionDataset, DetectionSplit, empty_target
from visionbench.data._io import image_errors, one_line, open_image
from visionbench.errors import DataError

__all__ = [
    "CATEGORY_ID_OFFSET",
    "CocoSet",
    "read_coco",
    "read_coco_split",
    "load_coco_dataset",
    "coco_folder",
    "pick_splits",
]

#: ``category_id = label + CATEGORY_ID_OFFSET`` in exported files.
CATEGORY_ID_OFFSET = 1
#: Tolerance (pixels) when checking that a box lies inside its image (float rounding in foreign files).
BOX_TOLERANCE = 1e-3
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
_FIX = "give a COCO instances JSON (images, annotations, categories) with its images folder"


@dataclass
class CocoSet:
    """What :func:`read_coco` returns: one :class:`DetectionSplit` per annotation file, and the shared categories.

    Attributes:
        splits: split name (``train`` from ``instances_train.json``) -> the split.
        classes: category names, index = label (categories sorted by id).
        category_ids: the COCO id of each class.
        info: the ``info`` object of the first file (for a visionbench export, the dataset's info is under
            ``info["visionbench"]``).
        source: the folder or JSON file read.
        files: split name -> its JSON file.
        crowd_skipped: split name -> number of ``iscrowd`` annotations left out.
    """

    splits: dict[str, DetectionSplit]
    classes: list[str]
    category_ids: list[int]
    info: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    files: dict[str, str] = field(default_factory=dict)
    crowd_skipped: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------------------- read


def _fail(path: Path, problem: str) -> DataError:
    return DataError(f"{path}: {problem}; {_FIX}")


def _load_json(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({one_line(exc)}); {_FIX}") from exc
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(path, f"not valid JSON ({one_line(exc)})") from exc
    if not isinstance(doc, dict):
        raise _fail(path, f"the top level is a JSON {type(doc).__name__}, not an object")
    return doc


def _records(doc: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    if key not in doc:
        raise _fail(path, f"missing key {key!r} at the top level")
    items = doc[key]
    if not isinstance(items, list):
        raise _fail(path, f"{key!r} is a JSON {type(items).__name__}, not a list")
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise _fail(path, f"{key}[{n}] is a JSON {type(item).__name__}, not an object")
    return items


def _require(path: Path, item: dict[str, Any], where: str, keys: Sequence[str]) -> None:
    for key in keys:
        if key not in item:
            raise _fail(path, f"{where} has no {key!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _leaves_folder(name: str) -> bool:
    """True for a file name that is absolute (POSIX or Windows) or climbs out with ``..``."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")


def _ids(path: Path, items: list[dict[str, Any]], kind: str, singular: str) -> dict[int, int]:
    """id -> position, after checking the ids are integers without duplicates."""
    seen: dict[int, int] = {}
    for n, item in enumerate(items):
        value = item["id"]
        if not _is_int(value):
            raise _fail(path, f"{kind}[{n}] has id {value!r}, not an integer")
        if value in seen:
            raise _fail(path, f"duplicate {singular} id {value} ({kind}[{seen[value]}] and {kind}[{n}])")
        seen[value] = n
    return seen


def _categories(path: Path, doc: dict[str, Any]) -> tuple[list[int], list[str]]:
    cats = _records(doc, "categories", path)
    for n, cat in enumerate(cats):
        _require(path, cat, f"categories[{n}]", ("id", "name"))
    _ids(path, cats, "categories", "category")
    ordered = sorted(cats, key=lambda c: c["id"])
    return [int(c["id"]) for c in ordered], [str(c["name"]) for c in ordered]


def _bbox(path: Path, ann: dict[str, Any], where: str) -> tuple[float, float, float, float]:
    bbox = ann["bbox"]
    if (
        not isinstance(bbox, list)
        or len(bbox) != 4
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bbox)
    ):
        raise _fail(path, f"{where} has bbox {bbox!r}, not a list of 4 finite numbers [x, y, w, h]")
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        raise _fail(path, f"{where} has bbox {bbox} with a negative or zero width or height")
    return x, y, w, h


def _check_inside(path: Path, where: str, bbox: tuple[float, float, float, float], width: int, height: int) -> None:
    x, y, w, h = bbox
    tol = BOX_TOLERANCE
    if x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
        raise _fail(path, f"{where} has bbox {list(bbox)} outside its {width}x{height} image")


def _decode(path: Path, image_file: Path) -> np.ndarray:
    """uint8 (1, H, W) for a grey file, else (3, H, W)."""
    if not image_file.is_file():
        raise _fail(path, f"image file {image_file} does not exist")
    try:
        with open_image(image_file) as img:
            grey = img.mode in GREY_MODES
            arr = np.asarray(img.convert("L" if grey else "RGB"), np.uint8)
    except image_errors() as exc:
        raise _fail(path, f"image file {image_file} is not a readable image ({one_line(exc)})") from exc
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _split_name(json_path: Path) -> str:
    stem = json_path.stem
    return stem[len("instances_") :] if stem.startswith("instances_") and len(stem) > len("instances_") else stem


def _image_dir(json_path: Path, split: str, first_file: str | None) -> Path:
    root = json_path.parent.parent if json_path.parent.name == "annotations" else json_path.parent
    candidates = [root / "images" / split, root / split, root / "images", json_path.parent]
    candidates = list(dict.fromkeys(candidates))  # without repeats, in order
    if first_file is None:
        return candidates[0]
    for folder in candidates:
        if (folder / first_file).is_file():
            return folder
    where = ", ".join(str(c) for c in candidates)
    raise _fail(json_path, f"image file {first_file} not found in any of {where} (pass images_dir=)")


def read_coco_split(
    json_path: str | Path, images_dir: str | Path | None = None
) -> tuple[DetectionSplit, list[str], list[int], dict[str, Any], int]:
    """Read one COCO instances JSON and its images.

    Args:
        json_path: the annotation file.
        images_dir: the folder ``file_name`` is relative to (default: the first of ``images/<split>/``,
            ``<split>/``, ``images/`` beside the ``annotations/`` folder, then the JSON's own folder, that holds the
            first image).

    Returns:
        (the split, class names, their category ids, the JSON's ``info`` object, crowd annotations skipped).

    Raises:
        DataError: one line naming the file and the problem (see the module docstring).
    """
    path = Path(json_path)
    doc = _load_json(path)
    images = _records(doc, "images", path)
    annotations = _records(doc, "annotations", path)
    for n, img in enumerate(images):
        _require(path, img, f"images[{n}]", ("id", "file_name"))
        if not isinstance(img["file_name"], str) or not img["file_name"]:
            raise _fail(path, f"images[{n}] has file_name {img['file_name']!r}, not a file name")
        if _leaves_folder(img["file_name"]):  # a hostile file would make us read any image on the disk
            raise _fail(path, f"images[{n}] has file_name {img['file_name']!r}, which leaves the images folder "
                              "(absolute, or with ..)")
        for key in ("width", "height"):
            if key in img and (not _is_int(img[key]) or img[key] <= 0):
                raise _fail(path, f"images[{n}] has {key} {img[key]!r}, not a positive integer")
    for n, ann in enumerate(annotations):
        _require(path, ann, f"annotations[{n}]", ("id", "image_id", "category_id", "bbox"))
        for key in ("image_id", "category_id"):  # true would match id 1, 2.0 would match id 2
            if not _is_int(ann[key]):
                raise _fail(path, f"annotations[{n}] has {key} {ann[key]!r}, not an integer")
    category_ids, classes = _categories(path, doc)
    label_of = {cid: k for k, cid in enumerate(category_ids)}
    image_pos = _ids(path, images, "images", "image")
    _ids(path, annotations, "annotations", "annotation")

    per_image: list[list[tuple[tuple[float, float, float, float], int]]] = [[] for _ in images]
    crowd = 0
    for ann in annotations:
        where = f"annotation id {ann['id']}"
        if ann["image_id"] not in image_pos:
            raise _fail(path, f"{where} points at image id {ann['image_id']!r}, which is not in 'images'")
        if ann["category_id"] not in label_of:
            raise _fail(path, f"{where} points at category id {ann['category_id']!r}, which is not in 'categories'")
        bbox = _bbox(path, ann, where)
        img = images[image_pos[ann["image_id"]]]
        if "width" in img and "height" in img:
            _check_inside(path, where, bbox, img["width"], img["height"])
        if ann.get("iscrowd", 0):
            crowd += 1
            continue
        per_image[image_pos[ann["image_id"]]].append((bbox, label_of[ann["category_id"]]))

    folder = (
        Path(images_dir)
        if images_dir is not None
        else _image_dir(path, _split_name(path), images[0]["file_name"] if images else None)
    )
    arrays = []
    for n, img in enumerate(images):
        arr = _decode(path, folder / img["file_name"])
        height, width = arr.shape[1:]
        if (img.get("width", width), img.get("height", height)) != (width, height):
            raise _fail(
                path,
                f"images[{n}] says {img.get('width')}x{img.get('height')} but {folder / img['file_name']} "
                f"is {width}x{height}",
            )
        arrays.append(arr)
    if any(a.shape[0] == 3 for a in arrays):
        arrays = [np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a for a in arrays]

    targets: list[dict[str, np.ndarray]] = []
    for n, objects in enumerate(per_image):
        height, width = arrays[n].shape[1:]
        if objects:
            for ann_box, _ in objects:
                _check_inside(path, f"an annotation of images[{n}]", ann_box, width, height)
            xywh = np.asarray([b for b, _ in objects], np.float64)
            xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
            targets.append({"boxes": xyxy.astype(np.float32), "labels": np.asarray([k for _, k in objects], np.int64)})
        else:
            targets.append(empty_target())
    same_size = len({a.shape for a in arrays}) <= 1
    if not arrays:
        stacked: Any = np.zeros((0, 1, 0, 0), np.uint8)
    else:
        stacked = np.stack(arrays) if same_size else arrays
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    return DetectionSplit(stacked, targets), classes, category_ids, info, crowd


def split_files(folder: Path) -> dict[str, Path]:
    """A COCO folder's instances files by split name: ``annotations/instances_<split>.json`` (or in the folder
    itself); empty when there is none."""
    files = sorted((folder / "annotations").glob("instances_*.json")) or sorted(folder.glob("instances_*.json"))
    return {_split_name(f): f for f in files}


def instance_files(folder: Path) -> list[Path]:
    """:func:`split_files`' files, or one line saying there is none."""
    files = list(split_files(folder).values())
    if not files:
        raise DataError(f"{folder}: no annotations/instances_<split>.json (COCO instances files); {_FIX}")
    return files


def read_coco(path: str | Path, *, images_dir: str | Path | None = None,
              only: Sequence[str] | None = None) -> CocoSet:
    """Read a COCO export folder (every ``annotations/instances_<split>.json``) or a single instances JSON.

    Args:
        path: a folder holding ``annotations/instances_*.json`` (or ``instances_*.json`` directly), or a JSON file.
        images_dir: for a single JSON, the folder its ``file_name`` entries are relative to (default: guessed, see
            :func:`read_coco_split`).
        only: the split names to read (default: all); the other files are not opened, nor their images decoded.

    Raises:
        DataError: missing files, a bad file (one line naming it), or splits whose categories differ.
    """
    path = Path(path).expanduser()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = [f for f in instance_files(path) if only is None or _split_name(f) in only]
    else:
        raise DataError(f"{path}: no such file or folder; {_FIX}")
    out = CocoSet({}, [], [], source=str(path))
    for n, json_file in enumerate(files):
        split, classes, category_ids, info, crowd = read_coco_split(json_file, images_dir if path.is_file() else None)
        if n == 0:
            out.classes, out.category_ids, out.info = classes, category_ids, info
        elif (classes, category_ids) != (out.classes, out.category_ids):
            raise _fail(json_file, f"its categories differ from those of {files[0].name}")
        name = _split_name(json_file)
        out.splits[name] = split
        out.files[name] = str(json_file)
        out.crowd_skipped[name] = crowd
    return out


def pick_splits(names: Sequence[str]) -> tuple[str | None, str | None]:
    """The (train, test) split among COCO split names: ``train``, then ``test`` or ``val`` (or ``train2017``...)."""

    def pick(among: Sequence[str], wanted: Sequence[str]) -> str | None:
        exact = [w for w in wanted if w in among]
        prefixed = [[n for n in among if n.startswith(w)] for w in wanted]  # train2017, val2017
        return exact[0] if exact else next((m[0] for m in prefixed if len(m) == 1), None)

    train = pick(names, ("train",))
    return train, pick([n for n in names if n != train], ("test", "val"))


def coco_folder(path: str | Path, data_dir: str | Path | None = None) -> Path:
    """The folder ``coco:PATH`` names: ``PATH``, or ``data_dir/PATH`` when ``PATH`` is relative and missing."""
    root = Path(path).expanduser()
    if not root.exists() and data_dir is not None and (Path(data_dir) / path).exists():
        root = Path(data_dir) / path
    return root


def load_coco_dataset(path: str | Path, data_dir: str | Path | None = None) -> DetectionDataset:
    """``coco:PATH``: a COCO folder with a train split and a test (or val) split, as a :class:`DetectionDataset`.

    Args:
        path: the folder (``annotations/instances_train.json`` and ``instances_test.json`` or ``instances_val.json``;
            ``train2017`` / ``val2017`` names work too).
        data_dir: a relative ``path`` that does not exist is looked for under this folder.

    Raises:
        DataError: the folder is missing, lacks a train or a test split, or a file is bad.
    """
    root = coco_folder(path, data_dir)
    if not root.is_dir():
        raise DataError(f"coco:{path}: folder {root} does not exist; {_FIX}")
    root = root.resolve()
    names = [_split_name(f) for f in instance_files(root)]
    train, test = pick_splits(names)
    if train is None or test is None:
        raise DataError(
            f"{root}: COCO splits found: {', '.join(names)}; need annotations/instances_train.json and "
            "instances_test.json (or instances_val.json)"
        )
    coco = read_coco(root, only=(train, test))  # a third split (val beside test) is never decoded
    info = {
        "format": "coco",
        "splits": {"train": train, "test": test},
        "category_ids": coco.category_ids,
        "crowd_skipped": {"train": coco.crowd_skipped[train], "test": coco.crowd_skipped[test]},
        "coco_info": coco.info,
    }
    return DetectionDataset(f"coco:{root}", coco.splits[train], coco.splits[test], coco.classes, str(root), info)
