"""Where dataset files are looked for, in order, and how a set of required files is matched in a folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ENV_DATA",
    "ENV_CACHE",
    "SYSTEM_PATHS",
    "FileSet",
    "Found",
    "cache_root",
    "search_roots",
    "candidate_dirs",
    "match_fileset",
]

ENV_DATA = "VISIONBENCH_DATA"
ENV_CACHE = "VISIONBENCH_CACHE"
# Well-known system locations; Debian's dataset-fashion-mnist installs /usr/share/datasets/fashion-mnist.
SYSTEM_PATHS: list[Path] = [Path("/usr/share/datasets"), Path("/usr/local/share/datasets")]


@dataclass(frozen=True)
class FileSet:
    """One accepted on-disk layout: every role must be present in the same folder.

    Attributes:
        format: the layout's name (``idx``, ``libsvm``, ``h5``, ``txt``, ``tar``, ``batches``...).
        roles: (role, accepted file names) pairs; the first existing name of each role is used.
        folder: for layouts that are a folder (extracted CIFAR), the folder's name, looked for inside each candidate.
    """

    format: str
    roles: tuple[tuple[str, tuple[str, ...]], ...]
    folder: str = ""

    def describe(self) -> str:
        """Short human list of the expected files."""
        names = ", ".join(_short(names) for _, names in self.roles)
        return f"{self.folder}/{{{names}}}" if self.folder else names


def _short(names: tuple[str, ...]) -> str:
    first = names[0]
    for ext in (".gz", ".bz2"):
        if first.endswith(ext) and first[: -len(ext)] in names:
            return f"{first[: -len(ext)]}[{ext}]"
    return first


@dataclass(frozen=True)
class Found:
    """A matched file set: its layout, the folder, and one path per role."""

    format: str
    folder: Path
    files: dict[str, Path]


def cache_root() -> Path:
    """``$VISIONBENCH_CACHE`` or the user cache dir (``platformdirs.user_cache_dir('visionbench')``) + ``/datasets``."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser() / "datasets"
    try:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("visionbench"))
    except ImportError:  # platformdirs is a declared dependency; this keeps a broken env usable on Linux/macOS
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "visionbench"
    return base / "datasets"


def search_roots(data_dir: str | Path | None = None) -> list[Path]:
    """Roots in search order: ``data_dir``, each entry of ``$VISIONBENCH_DATA``, the cache, system paths."""
    roots: list[Path] = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    env = os.environ.get(ENV_DATA)
    if env:
        roots.extend(Path(p).expanduser() for p in env.split(os.pathsep) if p)
    roots.append(cache_root())
    roots.extend(SYSTEM_PATHS)
    unique: list[Path] = []
    for r in roots:
        if r not in unique:
            unique.append(r)
    return unique


def candidate_dirs(root: Path, subdirs: tuple[str, ...]) -> list[Path]:
    """The root itself, then its dataset-named sub-folders (``fashion-mnist/``, ``MNIST/raw/``...)."""
    return [root, *(root / s for s in subdirs)]


def match_fileset(folder: Path, fileset: FileSet) -> Found | None:
    """The files of ``fileset`` in ``folder`` (or ``folder/fileset.folder``), or None if any role is missing."""
    base = folder / fileset.folder if fileset.folder else folder
    if not base.is_dir():
        return None
    files: dict[str, Path] = {}
    for role, names in fileset.roles:
        for name in names:
            p = base / name
            if p.is_file():
                files[role] = p
                break
        else:
            return None
    return Found(fileset.format, base, files)
