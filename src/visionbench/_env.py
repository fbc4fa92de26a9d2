"""Facts about the software and the machine, without importing torch (for the NumPy engine's studies and the CLI)."""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata
from typing import Any

__all__ = ["package_version", "processor_name", "usable_cpus", "software", "hardware", "torchrun_world",
           "torchrun_rank"]

#: The distributions whose versions shape a number.
PACKAGES = ("visionbench", "numpy", "torch", "torchvision", "scikit-learn", "scipy", "matplotlib")


def package_version(dist: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def processor_name() -> str:
    """The CPU's model name (Linux), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            match = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.MULTILINE)
        if match:
            return match.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int | None:
    """CPUs this process may run on (its affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def software() -> dict[str, str | None]:
    """Python and the versions of :data:`PACKAGES` (None for the ones not installed)."""
    return {"python": platform.python_version(), **{p: package_version(p) for p in PACKAGES}}


def hardware() -> dict[str, Any]:
    """The operating system, the processor and the CPU counts."""
    return {"platform": platform.platform(), "processor": processor_name(), "cpu_count": os.cpu_count(),
            "cpu_count_usable": usable_cpus()}


def torchrun_world() -> int:
    """The number of processes torchrun started: ``WORLD_SIZE`` (1 when it is unset or empty).

    Raises:
        ConfigError: ``WORLD_SIZE`` is not a number.
    """
    from visionbench.errors import ConfigError

    value = os.environ.get("WORLD_SIZE") or "1"
    try:
        return max(1, int(value))
    except ValueError:
        raise ConfigError(f"WORLD_SIZE={value!r} is not a number; start the command with torchrun, or unset "
                          f"WORLD_SIZE") from None


def torchrun_rank() -> int:
    """This process's rank under torchrun (0 for rank 0, and for a command torchrun did not start); never raises: it
    decides which process prints an error."""
    from visionbench.errors import ConfigError

    try:
        return int(os.environ.get("RANK") or 0) if torchrun_world() > 1 else 0
    except (ValueError, ConfigError):
        return 0
