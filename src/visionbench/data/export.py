"""Writing detection data in the COCO format (PNG images and an instances JSON per split), and ``visionbench
export``: a detection dataset by name, written that way for other tools. Reading it back is :mod:`.coco`."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visionbench.data._detection import DetectionDataset, DetectionSplit
from visionbench.data.coco import CATEGORY_ID_OFFSET
from visionbench.errors import ConfigError, DataError

__all__ = ["export_coco", "export_coco_split", "export_dataset"]


def export_dataset(name: str, out: str | Path, *, data_dir: str | Path | None = None,
                   options: dict[str, Any] | None = None) -> dict[str, Path]:
    """Load the detection dataset ``name`` (``scenes:NAME`` with ``options``, or ``coco:PATH``) and export its train
    and test splits into ``out`` (:func:`export_coco`); returns split -> JSON file.

    Raises:
        ConfigError: ``name`` is a classification dataset, or ``out`` exists and is not an empty folder (nothing is
            ever overwritten).
    """
    from visionbench.data._catalog import load_dataset

    folder = Path(out)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"--out {folder}: exists and is not an empty folder; give a new folder (nothing is "
                          f"overwritten)")
    data = load_dataset(name, data_dir=data_dir, options=options)
    if getattr(data, "task", "classification") != "detection":
        raise ConfigError(f"{name}: a classification dataset has no boxes to export; use scenes:{name} (digit scenes "
                          f"made from it) or coco:PATH")
    return export_coco(data, folder)  # type: ignore[arg-type]




def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise DataError(f"cannot export an image of shape {image.shape}: expected uint8 (1 or 3, H, W)")
    arr = np.ascontiguousarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def export_coco_split(
    split: DetectionSplit,
    folder: str | Path,
    split_name: str,
    classes: Sequence[str],
    info: dict[str, Any] | None = None,
) -> Path:
    """Write one split: ``images/<split_name>/*.png`` and ``annotations/instances_<split_name>.json``.

    Args:
        split: the images and targets (labels ``0..len(classes)-1``); ``DetectionSplit(images, targets)`` wraps raw
            arrays.
        folder: the export folder (created; files of the same names are replaced).
        split_name: ``train``, ``test``...
        classes: class names, index = label.
        info: written as the JSON's ``info["visionbench"]``.

    Returns:
        The JSON file written.

    Raises:
        DataError: an image that is not uint8 (1 or 3, H, W), a label out of range, or an empty or inverted box.
    """
    from visionbench.runs import atomic_write_bytes, atomic_write_text

    folder = Path(folder)
    image_dir = folder / "images" / split_name
    image_dir.mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i in range(len(split)):
        image = np.asarray(split.images[i])
        height, width = int(image.shape[-2]), int(image.shape[-1])
        image_id = i + 1
        file_name = f"{image_id:06d}.png"
        atomic_write_bytes(image_dir / file_name, _png_bytes(image))
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        boxes = np.asarray(split.targets[i]["boxes"], np.float32).reshape(-1, 4)
        labels = np.asarray(split.targets[i]["labels"]).reshape(-1)
        if len(boxes) != len(labels):
            raise DataError(f"cannot export image {i} of {split_name}: {len(boxes)} boxes but {len(labels)} labels")
        for box, label in zip(boxes.tolist(), labels.tolist()):
            x1, y1, x2, y2 = box  # Python floats holding the float32 values exactly
            if not 0 <= label < len(classes):
                raise DataError(
                    f"cannot export image {i} of {split_name}: label {label} is not in 0..{len(classes) - 1}"
                )
            if not (x2 > x1 and y2 > y1):
                raise DataError(
                    f"cannot export image {i} of {split_name}: box {box} has no area (need x1 < x2, y1 < y2)"
                )
            w, h = x2 - x1, y2 - y1
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(label) + CATEGORY_ID_OFFSET,
                    "bbox": [x1, y1, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    categories = [{"id": k + CATEGORY_ID_OFFSET, "name": str(name)} for k, name in enumerate(classes)]
    doc = {
        "info": {"description": f"visionbench export, split {split_name}", "visionbench": info or {}},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    json_path = folder / "annotations" / f"instances_{split_name}.json"
    atomic_write_text(json_path, json.dumps(doc, default=_json_default) + "\n")
    return json_path


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def export_coco(
    data: DetectionDataset | DetectionSplit,
    folder: str | Path,
    classes: Sequence[str] | None = None,
    *,
    split: str = "train",
) -> dict[str, Path]:
    """Export a detection dataset (its ``train`` and ``test`` splits) or one split in the COCO format.

    Args:
        data: a :class:`DetectionDataset` (digit scenes...) or a single :class:`DetectionSplit`.
        folder: the export folder.
        classes: class names (default: the dataset's; required for a single split).
        split: the name of a single split (ignored for a dataset).

    Returns:
        Split name -> the JSON file written.
    """
    if isinstance(data, DetectionDataset):
        names = list(classes) if classes is not None else data.classes
        info = {"name": data.name, "source": data.source, **data.info}
        return {
            name: export_coco_split(part, folder, name, names, info)
            for name, part in (("train", data.train), ("test", data.test))
        }
    if classes is None:
        raise DataError(f"export of a single split to {folder} needs the class names (classes=...)")
    return {split: export_coco_split(data, folder, split, list(classes))}
