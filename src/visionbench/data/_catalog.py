"""The catalogue of datasets: names, expected files, where they are searched, and ``load_dataset``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visionbench.data._base import Dataset, DatasetStatus
from visionbench.data._detection import DetectionDataset
from visionbench.data._search import FileSet, Found, candidate_dirs, match_fileset, search_roots
from visionbench.data.idx import idx_count, idx_filesets
from visionbench.data.imagefolder import imagefolder_status, load_imagefolder
from visionbench.errors import ConfigError, DataError, suggest

if TYPE_CHECKING:
    from visionbench.data.download import Progress

__all__ = [
    "DatasetSpec",
    "DatasetStatus",
    "SPECS",
    "canonical_name",
    "list_datasets",
    "find_dataset",
    "load_dataset",
    "dataset_status",
    "download_dataset",
    "missing_message",
]

_DIGITS = tuple(str(i) for i in range(10))
_FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_KMNIST = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
_CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is and where its files are expected.

    Attributes:
        name: canonical name.
        family: loader family (``digits``, ``idx``, ``usps``, ``cifar10``, ``cifar100``).
        num_classes: number of classes.
        classes: class names when fixed by the format (CIFAR-100 reads them from its meta file).
        shape: (C, H, W) of an image.
        sizes: official (train, test) sizes.
        subdirs: dataset-named sub-folders searched inside each root.
        filesets: the accepted layouts, tried in order.
        download_name: the name ``download_dataset`` knows the files under, or "" if not downloadable.
        extra_hint: more ways to get it (apt package...).
    """

    name: str
    family: str
    num_classes: int
    classes: tuple[str, ...]
    shape: tuple[int, int, int]
    sizes: tuple[int, int]
    subdirs: tuple[str, ...] = ()
    filesets: tuple[FileSet, ...] = ()
    download_name: str = ""
    extra_hint: str = ""


def _usps_filesets() -> tuple[FileSet, ...]:
    return (
        FileSet("libsvm", (("train", ("usps.bz2", "usps")), ("test", ("usps.t.bz2", "usps.t")))),
        FileSet("h5", (("h5", ("usps.h5",)),)),
        FileSet("txt", (("train", ("USPS_train.txt",)), ("test", ("USPS_test.txt",)))),
    )


def _cifar_filesets(archive: str, folder: str, roles: tuple[str, ...]) -> tuple[FileSet, ...]:
    files = tuple((r, (r,)) for r in roles)
    return (
        FileSet("batches", files, folder=folder),
        FileSet("batches", files),  # the root given is the extracted folder itself
        FileSet("tar", (("archive", (archive,)),)),
    )


_C10_FILES = (
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
    "batches.meta",
)
_C100_FILES = ("train", "test", "meta")

SPECS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec("digits", "digits", 10, _DIGITS, (1, 8, 8), (1347, 450)),
        DatasetSpec(
            "mnist",
            "idx",
            10,
            _DIGITS,
            (1, 28, 28),
            (60000, 10000),
            ("mnist", "MNIST/raw", "MNIST"),
            idx_filesets(),
            "mnist",
        ),
        DatasetSpec(
            "fashion-mnist",
            "idx",
            10,
            _FASHION,
            (1, 28, 28),
            (60000, 10000),
            ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw", "FashionMNIST"),
            idx_filesets(),
            "fashion-mnist",
            "apt-get install dataset-fashion-mnist",
        ),
        DatasetSpec(
            "kmnist",
            "idx",
            10,
            _KMNIST,
            (1, 28, 28),
            (60000, 10000),
            ("kmnist", "KMNIST/raw", "KMNIST"),
            idx_filesets(),
            "kmnist",
        ),
        DatasetSpec("usps", "usps", 10, _DIGITS, (1, 16, 16), (7291, 2007), ("usps", "USPS"), _usps_filesets(), "usps"),
        DatasetSpec(
            "cifar10",
            "cifar10",
            10,
            _CIFAR10,
            (3, 32, 32),
            (50000, 10000),
            ("cifar10", "cifar-10", "CIFAR10"),
            _cifar_filesets("cifar-10-python.tar.gz", "cifar-10-batches-py", _C10_FILES),
            "cifar10",
        ),
        DatasetSpec(
            "cifar100",
            "cifar100",
            100,
            (),
            (3, 32, 32),
            (50000, 10000),
            ("cifar100", "cifar-100", "CIFAR100"),
            _cifar_filesets("cifar-100-python.tar.gz", "cifar-100-python", _C100_FILES),
            "cifar100",
        ),
        DatasetSpec(
            "cifar100-coarse",
            "cifar100",
            20,
            (),
            (3, 32, 32),
            (50000, 10000),
            ("cifar100", "cifar-100", "CIFAR100"),
            _cifar_filesets("cifar-100-python.tar.gz", "cifar-100-python", _C100_FILES),
            "cifar100",
        ),
    )
}

_ALIASES = {
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "fashion": "fashion-mnist",
    "cifar-10": "cifar10",
    "cifar-100": "cifar100",
    "cifar-100-coarse": "cifar100-coarse",
    "cifar100:coarse": "cifar100-coarse",
    "cifar100:fine": "cifar100",
    "k-mnist": "kmnist",
}


def list_datasets() -> list[str]:
    """Names accepted by ``load_dataset`` (plus ``imagefolder:PATH``, ``scenes:NAME`` and ``coco:PATH``)."""
    return list(SPECS)


SCENES_PREFIX = "scenes:"
COCO_PREFIX = "coco:"


def canonical_name(name: str) -> str:
    """The catalogue name for ``name`` (case, ``_`` and common aliases are forgiven).

    ``scenes:BASE`` becomes ``scenes:`` + the canonical name of its classification source (``scenes:FMNIST`` ->
    ``scenes:fashion-mnist``); ``imagefolder:PATH`` and ``coco:PATH`` are kept as given.

    Raises:
        ConfigError: unknown name, with close names suggested; a prefix without its source or folder.
    """
    if name.startswith("imagefolder:"):
        if not name[len("imagefolder:") :].strip():
            raise ConfigError("imagefolder: needs a folder, as in imagefolder:/path/to/tree")
        return name
    if name.startswith(COCO_PREFIX):
        if not name[len(COCO_PREFIX) :].strip():
            raise ConfigError("coco: needs a folder, as in coco:/path/to/export (annotations/instances_*.json)")
        return name
    if name.strip().lower().startswith(SCENES_PREFIX):
        base = name.strip()[len(SCENES_PREFIX) :].strip()
        if not base:
            raise ConfigError("scenes: needs a source dataset, as in scenes:fashion-mnist or scenes:digits")
        if base.lower().startswith((SCENES_PREFIX, COCO_PREFIX)):
            raise ConfigError(f"{name!r}: scenes are made from a classification dataset, as in scenes:digits")
        return SCENES_PREFIX + canonical_name(base)
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, _ALIASES.get(key.replace("-", ""), key))
    if key in SPECS:
        return key
    choices = [*SPECS, *_ALIASES]
    raise ConfigError(
        f"unknown dataset {name!r}{suggest(key, choices)}; choose one of {', '.join(SPECS)}, imagefolder:PATH, "
        "scenes:NAME or coco:PATH"
    )


def find_dataset(spec: DatasetSpec, data_dir: str | Path | None = None) -> Found | None:
    """The first matching layout in the first root that has one, in search order."""
    for root in search_roots(data_dir):
        for folder in candidate_dirs(root, spec.subdirs):
            for fileset in spec.filesets:
                found = match_fileset(folder, fileset)
                if found is not None:
                    return found
    return None


def how_to_get(spec: DatasetSpec) -> str:
    """The ways to provide a dataset's files, one line."""
    ways = ["--data-dir DIR", "$VISIONBENCH_DATA=DIR"]
    if spec.download_name:
        ways.append(f"`visionbench download {spec.download_name}` (or --download)")
    if spec.extra_hint:
        ways.append(f"`{spec.extra_hint}`")
    return ", ".join(ways)


def missing_message(spec: DatasetSpec, data_dir: str | Path | None = None) -> str:
    """One line: the expected files, where they were looked for, and how to provide them."""
    first_per_format = {fs.format: fs for fs in reversed(spec.filesets)}  # one description per layout
    expected = " or ".join(fs.describe() for fs in spec.filesets if first_per_format[fs.format] is fs)
    roots = ", ".join(str(r) for r in search_roots(data_dir))
    subs = "/, ".join(spec.subdirs[:3])
    return (
        f"dataset {spec.name} not found: expected {expected} in one of {roots} (or their {subs}/ sub-folder); "
        f"provide them with {how_to_get(spec)}"
    )


def _fix_hint(spec: DatasetSpec) -> str:
    if spec.download_name:
        return f"delete it and run `visionbench download {spec.download_name} --force`"
    return "replace it with a good copy"


def _load_found(spec: DatasetSpec, found: Found) -> Dataset:
    fix = _fix_hint(spec)
    if spec.family == "idx":
        from visionbench.data.idx import load_idx

        return load_idx(spec.name, found, list(spec.classes), fix)
    if spec.family == "usps":
        from visionbench.data.usps import load_usps

        return load_usps(found, fix)
    from visionbench.data.cifar import load_cifar

    return load_cifar(spec.name, found, coarse=spec.name.endswith("-coarse"), fix=fix)


def _no_options(name: str, options: dict[str, Any] | None) -> None:
    if options:
        first = next(iter(options))
        raise ConfigError(
            f"--dataset-option {first}: dataset {name} takes no options (only scenes:NAME does); drop the option"
        )


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    img_size: int | None = None,
    memory_budget: int | None = None,
    options: dict[str, Any] | None = None,
) -> Dataset | DetectionDataset:
    """Load a dataset by name.

    Args:
        name: a name from :func:`list_datasets`, ``imagefolder:PATH``, ``scenes:NAME`` (digit scenes composed from
            the classification dataset NAME, a :class:`DetectionDataset`) or ``coco:PATH`` (a COCO folder with a
            train and a test or val split, a :class:`DetectionDataset`).
        data_dir: searched first, before ``$VISIONBENCH_DATA``, the user cache and system paths.
        download: fetch the files into the cache (checksums verified) when they are not found.
        img_size: image side for ``imagefolder`` (default 32); ignored by the other sets.
        memory_budget: bytes above which ``imagefolder`` stays on disk (default 2 GiB or
            ``$VISIONBENCH_MEMORY_BUDGET``).
        options: for ``scenes:NAME``, :class:`~visionbench.data.scenes.SceneConfig` fields (``train_scenes``,
            ``canvas``...); the other names take none.

    Raises:
        ConfigError: unknown name, bad scene options, or options given to a name that takes none.
        DataError: files missing, corrupt, or of the wrong structure.
    """
    key = canonical_name(name)
    if key.startswith(SCENES_PREFIX):
        from visionbench.data.scenes import SceneConfig, load_scenes_dataset

        cfg = SceneConfig.from_dict(options or {})
        return load_scenes_dataset(key[len(SCENES_PREFIX) :], data_dir, cfg, download=download)
    _no_options(key, options)
    if key.startswith(COCO_PREFIX):
        from visionbench.data.coco import load_coco_dataset

        return load_coco_dataset(key[len(COCO_PREFIX) :], data_dir)
    if key.startswith("imagefolder:"):
        return load_imagefolder(
            key[len("imagefolder:") :], img_size=img_size, data_dir=data_dir, memory_budget=memory_budget
        )
    spec = SPECS[key]
    if spec.family == "digits":
        from visionbench.data.digits import load_digits

        return load_digits()
    found = find_dataset(spec, data_dir)
    if found is None and download and spec.download_name:
        from visionbench.data import download as _download  # urllib and friends: only when asked to download

        _download.download_dataset(spec.download_name)
        found = find_dataset(spec, data_dir)
    if found is None:
        raise DataError(missing_message(spec, data_dir))
    return _load_found(spec, found)


def download_dataset(
    name: str,
    dest: str | Path | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
    mirror: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download a dataset's files by any of its names into ``dest`` (default: the user cache), checksums verified.

    Args:
        name: a name from :func:`list_datasets` or an alias (``fmnist``, ``cifar-10``); sets that share files
            (``cifar100``, ``cifar100-coarse``) share one download.
        dest: target folder, created if needed.
        force: fetch again even when a verified copy is there.
        progress: called as ``progress(file_name, bytes_done, bytes_total_or_None)``.
        mirror: base URL replacing the canonical ones (default ``$VISIONBENCH_MIRROR``).
        timeout: seconds before a stalled connection fails.

    Returns:
        The folder holding the files.

    Raises:
        ConfigError: unknown or not downloadable name (digits, imagefolder trees).
        DataError: network failure or checksum mismatch (see :mod:`visionbench.data.download`).
    """
    from visionbench.data import download as _download  # urllib and friends: only when asked to download

    try:
        key = "" if name.startswith("imagefolder:") else SPECS[canonical_name(name)].download_name
    except ConfigError:
        key = ""  # not a catalogue name: the download module names what can be downloaded, with close names
    return _download.download_dataset(
        key or name, dest, force=force, progress=progress, mirror=mirror, timeout=timeout
    )


#: COCO JSON files larger than this are not parsed by ``dataset_status`` (their sizes are then unknown).
COCO_STATUS_MAX_BYTES = 32 * 2**20
_COCO_HOW = "coco:PATH naming a folder with annotations/instances_train.json, instances_test.json (or _val) and images"


def _scenes_status(key: str, data_dir: str | Path | None, options: dict[str, Any] | None) -> DatasetStatus:
    from visionbench.data.scenes import SceneConfig

    cfg = SceneConfig.from_dict(options or {})
    base = dataset_status(key[len(SCENES_PREFIX) :], data_dir)
    shape = (base.image_shape[0], cfg.canvas, cfg.canvas)
    sizes = (cfg.train_scenes, cfg.test_scenes)
    return DatasetStatus(key, base.found, base.path, "scenes", *sizes, base.num_classes, shape, base.how_to_get)


def _coco_facts(json_path: Path) -> tuple[int, int, int, int, str] | None:
    """(images, categories, largest height, largest width, first file name) of a small, readable JSON, else None."""
    import json

    try:
        if json_path.stat().st_size > COCO_STATUS_MAX_BYTES:
            return None
        doc = json.loads(json_path.read_bytes())
        images, cats = doc["images"], doc["categories"]
        height = max((int(i["height"]) for i in images), default=0)
        width = max((int(i["width"]) for i in images), default=0)
        return len(images), len(cats), height, width, str(images[0]["file_name"]) if images else ""
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the loader names what is wrong with the file; the status only says what it knows


def _coco_channels(root: Path, split: str, file_name: str) -> int:
    """1 if the split's first image is grey, 3 if it is colour or cannot be opened (the header only is read)."""
    from PIL import Image

    from visionbench.data.coco import GREY_MODES

    for folder in (root / "images" / split, root / split, root / "images", root / "annotations", root):
        try:
            with Image.open(folder / file_name) as img:
                return 1 if img.mode in GREY_MODES else 3
        except (OSError, ValueError):
            continue
    return 3


def _coco_status(key: str, data_dir: str | Path | None) -> DatasetStatus:
    from visionbench.data.coco import coco_folder, pick_splits, split_files

    root = coco_folder(key[len(COCO_PREFIX) :], data_dir)
    by_split = split_files(root)
    train, test = pick_splits(list(by_split))
    if not root.is_dir() or train is None or test is None:
        return DatasetStatus(key, False, None, "", None, None, 0, (0, 0, 0), _COCO_HOW)
    root = root.resolve()
    tr, te = _coco_facts(by_split[train]), _coco_facts(by_split[test])
    classes = tr[1] if tr else 0
    shape = (_coco_channels(root, train, tr[4]), tr[2], tr[3]) if tr and tr[4] else (0, 0, 0)
    return DatasetStatus(
        f"{COCO_PREFIX}{root}", True, str(root), "coco", tr and tr[0], te and te[0], classes, shape, _COCO_HOW
    )


def dataset_status(
    name: str, data_dir: str | Path | None = None, *, options: dict[str, Any] | None = None
) -> DatasetStatus:
    """Where a dataset is and its facts, without loading it (IDX sizes are read from the file headers).

    ``scenes:NAME`` is found when NAME is; its sizes are the scene counts of ``options`` (or the defaults) and its
    shape is (C, canvas, canvas). ``coco:PATH`` is found when the folder holds a train and a test (or val) JSON; its
    sizes, classes and largest image come from those files when they are under :data:`COCO_STATUS_MAX_BYTES`, else
    they are None or 0 (the shape (0, 0, 0) means unknown).
    """
    key = canonical_name(name)
    if key.startswith(SCENES_PREFIX):
        return _scenes_status(key, data_dir, options)
    _no_options(key, options)
    if key.startswith(COCO_PREFIX):
        return _coco_status(key, data_dir)
    if key.startswith("imagefolder:"):
        return imagefolder_status(key[len("imagefolder:") :], data_dir=data_dir)
    spec = SPECS[key]
    if spec.family == "digits":
        return DatasetStatus(
            key,
            True,
            "sklearn (bundled)",
            "sklearn",
            *spec.sizes,
            spec.num_classes,
            spec.shape,
            "bundled with scikit-learn, nothing to do",
        )
    found = find_dataset(spec, data_dir)
    if found is None:
        return DatasetStatus(key, False, None, "", None, None, spec.num_classes, spec.shape, how_to_get(spec))
    train, test = spec.sizes
    if found.format == "idx":
        train = idx_count(found.files["train_labels"]) or train
        test = idx_count(found.files["test_labels"]) or test
    path = found.files["archive"] if found.format == "tar" else found.folder
    return DatasetStatus(
        key, True, str(path), found.format, train, test, spec.num_classes, spec.shape, how_to_get(spec)
    )
