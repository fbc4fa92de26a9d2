"""Shared fixture for the data tests: an isolated search path."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionbench.data import _search


@pytest.fixture(autouse=True)
def isolated_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """No test sees the real cache, $VISIONBENCH_DATA or /usr/share/datasets."""
    cache = tmp_path / "cache"
    system = tmp_path / "system"
    monkeypatch.setenv("VISIONBENCH_CACHE", str(cache))
    monkeypatch.delenv("VISIONBENCH_DATA", raising=False)
    monkeypatch.delenv("VISIONBENCH_MIRROR", raising=False)
    monkeypatch.delenv("VISIONBENCH_MEMORY_BUDGET", raising=False)
    monkeypatch.setattr(_search, "SYSTEM_PATHS", [system])
    return {"cache": cache / "datasets", "system": system}
