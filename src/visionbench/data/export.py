"""``visionbench export``: a detection dataset by name, written as PNG images and COCO JSON for other tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visionbench.errors import ConfigError

__all__ = ["export_dataset"]


def export_dataset(name: str, out: str | Path, *, data_dir: str | Path | None = None,
                   options: dict[str, Any] | None = None) -> dict[str, Path]:
    """Load the detection dataset ``name`` (``scenes:NAME`` with ``options``, or ``coco:PATH``) and export its train
    and test splits into ``out`` (:func:`visionbench.data.coco.export_coco`); returns split -> JSON file.

    Raises:
        ConfigError: ``name`` is a classification dataset, or ``out`` exists and is not an empty folder (nothing is
            ever overwritten).
    """
    from visionbench.data._catalog import load_dataset
    from visionbench.data.coco import export_coco

    folder = Path(out)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"--out {folder}: exists and is not an empty folder; give a new folder (nothing is "
                          f"overwritten)")
    data = load_dataset(name, data_dir=data_dir, options=options)
    if getattr(data, "task", "classification") != "detection":
        raise ConfigError(f"{name}: a classification dataset has no boxes to export; use scenes:{name} (digit scenes "
                          f"made from it) or coco:PATH")
    return export_coco(data, folder)  # type: ignore[arg-type]
