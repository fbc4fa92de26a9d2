"""Packaging: dependency bounds, PEP 639 licence metadata, and a wheel that installs and runs on its own."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
pytestmark = pytest.mark.skipif(not PYPROJECT.is_file(), reason="needs the source tree, not an installed copy")

# The versions the README and the Makefile's TORCH_PIN are tested with: the metadata must admit them.
TESTED = {"torch": "2.14.1", "torchvision": "0.29.1"}


def _project() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def test_dependencies_have_lower_bounds_only() -> None:
    reqs = [Requirement(r) for r in _project()["project"]["dependencies"]]
    for req in reqs:
        ops = {spec.operator for spec in req.specifier}
        assert ops == {">="}, f"{req}: lower bounds only (an upper pin refuses releases nobody has tried yet)"
    by_name = {req.name: req.specifier for req in reqs}
    for name, version in TESTED.items():
        assert by_name[name].contains(version), f"{name} {by_name[name]} refuses the tested {version}"
        assert by_name[name].contains("99.0"), f"{name} {by_name[name]} has an upper bound"


def test_licence_metadata_is_pep_639() -> None:
    data = _project()
    assert data["project"]["license"] == "MIT"  # an SPDX expression, not a table
    assert data["project"]["license-files"] == ["LICENSE"]
    setuptools = next(Requirement(r) for r in data["build-system"]["requires"] if r.startswith("setuptools"))
    assert not setuptools.specifier.contains("76.1") and setuptools.specifier.contains("77.0")  # PEP 639 support
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "Copyright (c) 2026 the visionbench developers" in text
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert SpecifierSet(data["project"]["requires-python"]).contains(running)


def _copy_sources(dest: Path) -> Path:
    # Build from a clean copy: an in-tree build leaves build/ behind, and a stale build/lib ships deleted modules.
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def _site_packages_of_this_env() -> list[str]:
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    return sorted(p for p in paths if Path(p).is_dir())


@pytest.mark.slow
def test_wheel_installs_and_runs_a_comparison_outside_the_source_tree(tmp_path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w",
                    str(dist), str(_copy_sources(tmp_path / "source"))], check=True, cwd=tmp_path)  # fmt: skip
    (wheel,) = dist.glob("visionbench-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    # No network: the wheel alone (--no-deps, --no-index), installed by this environment's pip into the new one.
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(wheel)], check=True, cwd=tmp_path)  # fmt: skip
    # torch, numpy... come from this environment, appended after the new venv's own site-packages (so the installed
    # visionbench, not an editable one, is found first; .pth lines are not scanned for further .pth files).
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    new_site = Path(subprocess.check_output([str(python), "-c", purelib], text=True).strip())
    (new_site / "_visionbench_test_parent_env.pth").write_text("\n".join(_site_packages_of_this_env()) + "\n")

    elsewhere = tmp_path / "elsewhere"  # not the repo: nothing may be imported from the source tree
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(MPLBACKEND="Agg", PYTHONNOUSERSITE="1")
    where = subprocess.check_output([str(python), "-c", "import visionbench; print(visionbench.__file__)"], text=True,
                                    cwd=elsewhere, env=env).strip()  # fmt: skip
    assert Path(where).resolve().is_relative_to(env_dir.resolve()), where

    out = tmp_path / "comparisons"
    proc = subprocess.run([str(bindir / "visionbench"), "compare", "--models", "cnn", "--epochs", "1", "--output-dir",
                           str(out), "--quiet", "--threads", "1"], cwd=elsewhere, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    reports = list(out.rglob("comparison.md"))
    assert len(reports) == 1, sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert "cnn" in reports[0].read_text(encoding="utf-8")
