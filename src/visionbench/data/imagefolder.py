"""``imagefolder:PATH``: one sub-folder per class, decoded with Pillow, in memory or streamed from disk.

Layout: ``PATH/<class>/<image>``, or ``PATH/train/<class>/...`` with ``PATH/test/`` (or ``PATH/val/``) as the test
split. A flat tree gets a stratified fifth of each class (seed 0) as its test split; a ``train/`` of class folders
without ``test/`` or ``val/`` is refused (read flat, it would be one class named "train"). Classes are the sorted
sub-folder names. Each image is centre-cropped to a square and resized to ``img_size`` (bilinear); the set is grey
("L", 1 channel) when every sampled image is grey, else RGB. When N * C * H * W bytes exceed the memory budget
(2 GiB, ``$VISIONBENCH_MEMORY_BUDGET`` or ``memory_budget``) the images stay on disk in a :class:`LazyImages` whose
``images[index_array]`` decodes just those files, so ImageNet-sized trees work.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from visionbench.data._base import Dataset, DatasetStatus, Split
from visionbench.data._io import image_errors, one_line, open_image
from visionbench.data.splits import stratified_indices
from visionbench.errors import ConfigError, DataError

__all__ = ["LazyImages", "load_imagefolder", "imagefolder_status", "IMAGE_EXTENSIONS", "DEFAULT_MEMORY_BUDGET"]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
DEFAULT_MEMORY_BUDGET = 2 * 1024**3
ENV_BUDGET = "VISIONBENCH_MEMORY_BUDGET"
TEST_FRACTION = 0.2
SPLIT_SEED = 0
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
_FIX = "give a folder with one sub-folder of images per class (optionally under train/ and test/ or val/)"

Mode = Literal["RGB", "L"]


def decode_image(path: str | Path, mode: Mode, size: int) -> np.ndarray:
    """One image file -> uint8 (C, size, size): centre square crop, bilinear resize."""
    from PIL import Image, ImageOps

    try:
        with open_image(path) as img:
            img.draft(mode, (size, size))  # JPEG decodes at a reduced scale when it can: much faster on big photos
            img = img.convert(mode)
            img = ImageOps.fit(img, (size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(img, np.uint8)
    except image_errors() as exc:
        raise DataError(f"{path}: cannot decode image ({one_line(exc)}); delete or replace the file") from exc
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (C, H, W) from (H, W) or (H, W, C)


class LazyImages:
    """An on-disk image store with the indexing of a uint8 (N, C, H, W) array.

    ``images[i]`` gives (C, H, W); ``images[index_array]``, ``images[slice]`` or a boolean mask give (K, C, H, W),
    decoding just those files.
    """

    def __init__(self, paths: Sequence[str | Path], mode: Mode, size: int) -> None:
        self.paths = np.asarray([str(p) for p in paths], dtype=object)
        self.mode: Mode = mode
        self.size = size
        self.dtype = np.dtype(np.uint8)
        self.shape = (len(self.paths), 1 if mode == "L" else 3, size, size)
        self.ndim = 4

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"LazyImages(n={len(self)}, shape={self.shape}, mode={self.mode!r})"

    def __getitem__(self, index: Any) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return decode_image(self.paths[index], self.mode, self.size)
        chosen = self.paths[index]
        out = np.empty((len(chosen), *self.shape[1:]), np.uint8)
        for i, p in enumerate(chosen):
            out[i] = decode_image(p, self.mode, self.size)
        return out

    def select(self, index: Any) -> LazyImages:
        """A lazy view of the files at ``index`` (nothing is decoded)."""
        return LazyImages(list(self.paths[index]), self.mode, self.size)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = self[np.arange(len(self))]
        return arr if dtype is None else arr.astype(dtype)


def _scan(folder: Path, classes: list[str] | None = None) -> tuple[list[str], list[Path], np.ndarray]:
    """Class names (sorted sub-folders, or ``classes``), image paths and int64 labels."""
    subdirs = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if classes is None:
        classes = subdirs
        if not classes:
            raise DataError(f"{folder}: no class sub-folders; {_FIX}")
    else:
        extra = sorted(set(subdirs) - set(classes))
        if extra:
            raise DataError(f"{folder}: class folder(s) {', '.join(extra[:5])} are not in the training tree; {_FIX}")
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        d = folder / name
        if not d.is_dir():
            continue
        files = sorted(p for p in d.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not files and folder.name not in ("test", "val"):
            raise DataError(f"{d}: class folder has no images ({', '.join(sorted(IMAGE_EXTENSIONS))}); {_FIX}")
        paths.extend(files)
        labels.extend([label] * len(files))
    return classes, paths, np.asarray(labels, np.int64)


def _resolve(path: str, data_dir: str | Path | None) -> Path:
    root = Path(path).expanduser()
    if not root.is_dir() and data_dir is not None and (Path(data_dir) / path).is_dir():
        root = Path(data_dir) / path
    if not root.is_dir():
        raise DataError(f"imagefolder:{path}: folder {root} does not exist; {_FIX}")
    return root.resolve()


def _layout(root: Path) -> tuple[list[str], list[Path], np.ndarray, list[Path], np.ndarray, str]:
    """(classes, train paths, train labels, test paths, test labels, how the test split was made)."""
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        classes, tr_p, tr_y = _scan(root / "train")
        _, te_p, te_y = _scan(test_dir, classes)
        if not te_p:
            raise DataError(f"{test_dir}: no test images; {_FIX}")
        return classes, tr_p, tr_y, te_p, te_y, test_dir.name + "/"
    if (root / "train").is_dir() and any(d.is_dir() for d in (root / "train").iterdir()):
        # A split folder without its test split: read flat, train/ would become a single class named "train".
        raise DataError(
            f"{root}: has train/ (with class sub-folders) but no test/ or val/ beside it; give both train/ and "
            f"test/ (or val/), or a flat tree {root}/<class>/<images> (a stratified fifth of each class is then the "
            "test split)"
        )
    classes, paths, labels = _scan(root)
    try:
        tr_i, te_i = stratified_indices(labels, TEST_FRACTION, SPLIT_SEED)
    except ConfigError as exc:
        raise DataError(f"{root}: {exc}") from exc
    return (
        classes,
        [paths[i] for i in tr_i],
        labels[tr_i],
        [paths[i] for i in te_i],
        labels[te_i],
        f"stratified {TEST_FRACTION:g} seed {SPLIT_SEED}",
    )


def _mode_of(paths: list[Path]) -> Mode:
    from PIL import Image

    step = max(1, len(paths) // 16)
    for p in paths[::step][:16]:
        try:
            with Image.open(p) as img:
                if img.mode not in _GREY_MODES:
                    return "RGB"
        except image_errors() as exc:
            raise DataError(f"{p}: cannot decode image ({one_line(exc)}); delete or replace the file") from exc
    return "L"


def _budget(memory_budget: int | None) -> int:
    if memory_budget is not None:
        return int(memory_budget)
    env = os.environ.get(ENV_BUDGET)
    if env:
        try:
            return int(float(env))
        except ValueError as exc:
            raise ConfigError(f"${ENV_BUDGET}={env!r} is not a number of bytes; use e.g. 2147483648") from exc
    return DEFAULT_MEMORY_BUDGET


def load_imagefolder(
    path: str,
    *,
    img_size: int | None = None,
    data_dir: str | Path | None = None,
    memory_budget: int | None = None,
) -> Dataset:
    """Load an image-folder tree (see the module docstring for the layout and the memory budget)."""
    size = 32 if img_size is None else int(img_size)
    if size < 1:
        raise ConfigError(f"--img-size {img_size} must be a positive number of pixels")
    root = _resolve(path, data_dir)
    classes, tr_p, tr_y, te_p, te_y, test_from = _layout(root)
    mode = _mode_of(tr_p)
    train_imgs = LazyImages(tr_p, mode, size)
    test_imgs = LazyImages(te_p, mode, size)
    total = (len(tr_p) + len(te_p)) * int(np.prod(train_imgs.shape[1:]))
    lazy = total > _budget(memory_budget)
    train = Split(train_imgs if lazy else np.asarray(train_imgs), tr_y)
    test = Split(test_imgs if lazy else np.asarray(test_imgs), te_y)
    info = {"format": "imagefolder", "img_size": size, "mode": mode, "lazy": lazy, "test_split": test_from}
    return Dataset(f"imagefolder:{root}", train, test, classes, source=str(root), info=info)


def imagefolder_status(path: str, data_dir: str | Path | None = None) -> DatasetStatus:
    """The status of a tree from a directory listing only (nothing decoded)."""
    how = f"imagefolder:PATH with {_FIX}"
    try:
        root = _resolve(path, data_dir)
        classes, tr_p, _, te_p, _, _ = _layout(root)
    except DataError:
        return DatasetStatus(f"imagefolder:{path}", False, None, "", None, None, 0, (3, 32, 32), how)
    chans = 1 if _mode_of(tr_p) == "L" else 3
    return DatasetStatus(
        f"imagefolder:{root}", True, str(root), "imagefolder", len(tr_p), len(te_p), len(classes), (chans, 32, 32), how
    )
