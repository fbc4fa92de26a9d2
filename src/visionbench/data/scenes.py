"""Digit scenes: detection images composed from a classification dataset (``scenes:fashion-mnist``, ``scenes:digits``).

Each scene is a black ``canvas x canvas`` image holding ``min_objects..max_objects`` objects. An object is one image
of the source split, resized (bilinear, Pillow) so that its longer side is a scale drawn uniformly in
``min_scale..max_scale`` pixels (aspect kept), then *thresholded*: its pixels ``<= threshold`` are set to 0, so an
object is exactly its nonzero pixels. Its box is tight: the smallest pixel-aligned rectangle holding those pixels
(``x1, y1, x2, y2`` with ``x2 = last column + 1``, torchvision's convention), so every box edge touches a nonzero
pixel of its object. Objects are pasted with max-compositing (``np.maximum``): overlapping strokes stay visible.

The overlap rule, between any two boxes of a scene: IoU ``<= max_iou`` (default 0.2), and intersection over the
smaller box's area ``<= max_cover`` (default 0.5), so a small object never sits mostly inside a large one's box
(IoU alone allows a 12-px box wholly inside a 48-px one). A position is drawn up to ``max_tries`` times; an object
that cannot be placed is dropped (the scene then has fewer objects, possibly fewer than ``min_objects``; the counts
are in ``info["dropped_objects"]``). A drawn source image that is blank after thresholding is replaced by another
draw (up to ``max_tries`` times, then dropped). The first object of a scene always fits, so no scene is empty.

Train scenes draw only from the source's training split and test scenes only from its test split; ``sources`` records
each object's index in that split. Deterministic: the train scenes come from ``default_rng([seed, 0])`` and the test
scenes from ``default_rng([seed, 1])``, so the same (dataset, config) gives the same bytes, and changing the number of
train scenes does not change the test scenes.

Sources with a dark background (digits, MNIST, KMNIST, USPS, Fashion-MNIST) are what this is for; on photographs
(CIFAR) every box covers the whole resized image. Torch-free.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from visionbench.data._base import Dataset, Split
from visionbench.data._detection import DetectionDataset, DetectionSplit
from visionbench.errors import ConfigError, suggest

__all__ = ["SceneConfig", "SceneSet", "make_scenes", "make_scene_split", "render_object", "load_scenes_dataset"]

#: What :func:`make_scenes` returns: a :class:`DetectionDataset` (train and test :class:`DetectionSplit`).
SceneSet = DetectionDataset


@dataclass(frozen=True)
class SceneConfig:
    """How digit scenes are made (saved in ``DetectionDataset.info["scenes"]``, so a run records it).

    Attributes:
        canvas: side of the square scene, pixels.
        min_objects: fewest objects drawn per scene (a scene may hold fewer when placement fails; see module doc).
        max_objects: most objects per scene.
        min_scale: smallest side (the longer one) of a resized source image, pixels.
        max_scale: largest side of a resized source image, pixels (at most ``canvas``).
        max_iou: largest IoU allowed between two boxes of a scene.
        max_cover: largest intersection / (area of the smaller box) allowed between two boxes (1.0 disables it).
        threshold: pixels of a resized object ``<= threshold`` are set to 0 (0..254); the box is tight on the rest.
        max_tries: placement attempts per object (and redraws of a blank source) before it is dropped.
        train_scenes: number of training scenes.
        test_scenes: number of test scenes.
        seed: seed of the generator (>= 0).
    """

    canvas: int = 128
    min_objects: int = 1
    max_objects: int = 5
    min_scale: int = 20
    max_scale: int = 48
    max_iou: float = 0.2
    max_cover: float = 0.5
    threshold: int = 8
    max_tries: int = 50
    train_scenes: int = 4000
    test_scenes: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):  # NumPy or YAML numbers become plain int / float (the config is saved as JSON)
            value = getattr(self, f.name)
            real = f.type in (float, "float")
            if isinstance(value, bool) or not isinstance(value, numbers.Real if real else numbers.Integral):
                raise ConfigError(f"scene option {f.name}={value!r} must be {'a number' if real else 'an integer'}")
            object.__setattr__(self, f.name, float(value) if real else int(value))
        self.validate()

    def validate(self) -> None:
        """Check every option's range.

        Raises:
            ConfigError: one line naming the option and the accepted range.
        """
        checks = [
            (self.canvas >= 8, "canvas", "at least 8"),
            (self.min_objects >= 1, "min_objects", "at least 1"),
            (self.max_objects >= self.min_objects, "max_objects", f"at least min_objects={self.min_objects}"),
            (self.min_scale >= 1, "min_scale", "at least 1"),
            (self.max_scale >= self.min_scale, "max_scale", f"at least min_scale={self.min_scale}"),
            (self.max_scale <= self.canvas, "max_scale", f"at most canvas={self.canvas}"),
            (0.0 <= self.max_iou <= 1.0, "max_iou", "in [0, 1]"),
            (0.0 <= self.max_cover <= 1.0, "max_cover", "in [0, 1]"),
            (0 <= self.threshold <= 254, "threshold", "in 0..254"),
            (self.max_tries >= 1, "max_tries", "at least 1"),
            (self.train_scenes >= 0, "train_scenes", "at least 0"),
            (self.test_scenes >= 0, "test_scenes", "at least 0"),
            (self.seed >= 0, "seed", "at least 0"),
        ]
        for ok, name, want in checks:
            if not ok:
                raise ConfigError(f"scene option {name}={getattr(self, name)!r} must be {want}")

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> SceneConfig:
        """A config from a dict such as :meth:`to_dict` gives (missing keys take their defaults).

        Raises:
            ConfigError: an unknown option (close names suggested) or a bad value.
        """
        known = [f.name for f in fields(cls)]
        for key in options:
            if key not in known:
                raise ConfigError(f"unknown scene option {key!r}{suggest(key, known)}; options: {', '.join(known)}")
        return cls(**options)


def render_object(image: np.ndarray, size: int, threshold: int) -> np.ndarray | None:
    """One source image as a scene object: resized, thresholded and cropped to its nonzero pixels.

    Args:
        image: uint8 (C, h, w).
        size: the longer side after resizing, pixels (the aspect ratio is kept).
        threshold: pixels ``<= threshold`` (in every channel) become 0.

    Returns:
        uint8 (C, bh, bw) whose first and last rows and columns each hold a nonzero pixel, or None if the resized
        image has no pixel above the threshold.
    """
    from PIL import Image

    c, h, w = image.shape
    th, tw = (size, max(1, round(size * w / h))) if h >= w else (max(1, round(size * h / w)), size)
    if (th, tw) == (h, w):
        resized = np.array(image, np.uint8)
    else:
        resized = np.empty((c, th, tw), np.uint8)
        for ch in range(c):
            pil = Image.fromarray(np.ascontiguousarray(image[ch], np.uint8))
            resized[ch] = np.asarray(pil.resize((tw, th), Image.Resampling.BILINEAR))
    mask = resized.max(axis=0) > threshold
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    patch = resized[:, r0:r1, c0:c1]
    patch[:, ~mask[r0:r1, c0:c1]] = 0
    return patch


def _admissible(cand: np.ndarray, boxes: np.ndarray, max_iou: float, max_cover: float) -> np.ndarray:
    """For each candidate box (T, 4), whether it respects the overlap rule with every placed box (m, 4)."""
    ix = np.minimum(cand[:, None, 2], boxes[None, :, 2]) - np.maximum(cand[:, None, 0], boxes[None, :, 0])
    iy = np.minimum(cand[:, None, 3], boxes[None, :, 3]) - np.maximum(cand[:, None, 1], boxes[None, :, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    area_c = ((cand[:, 2] - cand[:, 0]) * (cand[:, 3] - cand[:, 1]))[:, None]
    area_b = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None, :]
    iou = inter / (area_c + area_b - inter)
    cover = inter / np.minimum(area_c, area_b)
    return np.all((iou <= max_iou) & (cover <= max_cover), axis=1)


def make_scene_split(split: Split, n: int, cfg: SceneConfig, rng: np.random.Generator) -> tuple[DetectionSplit, int]:
    """``n`` scenes drawn from the images of ``split`` only.

    Args:
        split: the source split (uint8 (N, C, h, w) images, int64 labels).
        n: number of scenes.
        cfg: the scene options.
        rng: the generator (consumed).

    Returns:
        The scenes, and the number of objects dropped (placement or blank-source failures).
    """
    n_src = len(split)
    if n > 0 and n_src == 0:
        raise ConfigError("cannot make scenes from an empty split; give a source dataset with images in both splits")
    src_images = split.images
    c = int(src_images.shape[1])
    canvas = cfg.canvas
    out = np.zeros((n, c, canvas, canvas), np.uint8)
    targets: list[dict[str, np.ndarray]] = []
    sources: list[np.ndarray] = []
    dropped = 0
    for s in range(n):
        k = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
        boxes = np.zeros((k, 4), np.int64)
        labels = np.zeros(k, np.int64)
        src = np.zeros(k, np.int64)
        m = 0
        for _ in range(k):
            patch = None
            for _draw in range(cfg.max_tries):
                j = int(rng.integers(n_src))
                size = int(rng.integers(cfg.min_scale, cfg.max_scale + 1))
                patch = render_object(np.asarray(src_images[j]), size, cfg.threshold)
                if patch is not None:
                    break
            if patch is None:
                dropped += 1
                continue
            bh, bw = patch.shape[1:]
            xs = rng.integers(0, canvas - bw + 1, size=cfg.max_tries)
            ys = rng.integers(0, canvas - bh + 1, size=cfg.max_tries)
            if m:
                cand = np.stack([xs, ys, xs + bw, ys + bh], axis=1)
                ok = np.flatnonzero(_admissible(cand, boxes[:m], cfg.max_iou, cfg.max_cover))
                if ok.size == 0:
                    dropped += 1
                    continue
                x, y = int(xs[ok[0]]), int(ys[ok[0]])
            else:
                x, y = int(xs[0]), int(ys[0])
            view = out[s, :, y : y + bh, x : x + bw]
            np.maximum(view, patch, out=view)
            boxes[m] = (x, y, x + bw, y + bh)
            labels[m] = split.labels[j]
            src[m] = j
            m += 1
        targets.append({"boxes": boxes[:m].astype(np.float32), "labels": labels[:m].copy()})
        sources.append(src[:m].copy())
    return DetectionSplit(out, targets, sources), dropped


def make_scenes(dataset: Dataset, cfg: SceneConfig | None = None) -> DetectionDataset:
    """Digit scenes from a classification dataset: train scenes from its train split, test scenes from its test split.

    Args:
        dataset: the source (uint8 images with a dark background work best).
        cfg: the options (default :class:`SceneConfig`).

    Returns:
        A :class:`DetectionDataset` named ``scenes:<dataset.name>`` with the source's classes; ``info`` holds the
        config (``info["scenes"]``), the source's name and info, and the object counts.
    """
    cfg = cfg or SceneConfig()
    train, dropped_train = make_scene_split(dataset.train, cfg.train_scenes, cfg, np.random.default_rng([cfg.seed, 0]))
    test, dropped_test = make_scene_split(dataset.test, cfg.test_scenes, cfg, np.random.default_rng([cfg.seed, 1]))
    info = {
        "format": "scenes",
        "scenes": cfg.to_dict(),
        "base_dataset": dataset.name,
        "base_info": dict(dataset.info),
        "objects": {"train": train.num_objects, "test": test.num_objects},
        "dropped_objects": {"train": dropped_train, "test": dropped_test},
    }
    return DetectionDataset(f"scenes:{dataset.name}", train, test, list(dataset.classes), dataset.source, info,
                            base_test=dataset.test)


def load_scenes_dataset(
    base_name: str,
    data_dir: str | Path | None = None,
    cfg: SceneConfig | None = None,
    *,
    download: bool = False,
) -> DetectionDataset:
    """``scenes:<base_name>``: load the classification dataset ``base_name`` and compose scenes from it.

    Args:
        base_name: any name :func:`visionbench.data.load_dataset` accepts (a leading ``scenes:`` is ignored).
        data_dir: searched first for the source dataset's files.
        cfg: the scene options (default :class:`SceneConfig`).
        download: fetch the source dataset when it is missing (as ``load_dataset`` does).

    Raises:
        ConfigError: unknown source name, or bad scene options.
        DataError: the source dataset's files are missing or corrupt.
    """
    from visionbench.data._catalog import load_dataset  # the catalogue imports this module: import late

    if base_name.startswith("scenes:"):
        base_name = base_name[len("scenes:") :]
    if not base_name.strip():
        raise ConfigError("scenes: needs a source dataset, as in scenes:fashion-mnist or scenes:digits")
    base = load_dataset(base_name, data_dir=data_dir, download=download)
    return make_scenes(base, cfg)
