"""tools/readme.py: the README's marked commands are re-run and their blocks replaced by the real output."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("readme_tool", ROOT / "tools" / "readme.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_marked_blocks_get_the_commands_real_output(tmp_path):
    tool = _tool()
    text = ("# Title\n\n<!-- readme-run: python -c \"print('hello')\" -->\n```\nstale\n```\n\nprose\n\n"
            "```\nunmarked block stays\n```\n<!-- readme-run: python -c \"print(6 * 7)\" -->\n```text\nold\n```\n")
    new = tool.refresh(text.replace("python", sys.executable), tmp_path)
    assert "stale" not in new and "old" not in new
    assert "hello\n```" in new and "42\n```" in new
    assert "unmarked block stays" in new and "prose" in new
    assert len(tool.find_blocks(new)) == 2


def test_a_failing_command_stops_the_refresh(tmp_path):
    tool = _tool()
    text = f"<!-- readme-run: {sys.executable} -c \"raise SystemExit(3)\" -->\n```\nx\n```\n"
    with pytest.raises(RuntimeError, match="exited with 3"):
        tool.refresh(text, tmp_path)


def test_the_readme_has_marked_blocks_for_its_main_commands():
    blocks = _tool().find_blocks((ROOT / "README.md").read_text())
    commands = " | ".join(b.command for b in blocks)
    assert "visionbench compare" in commands and "visionbench train" in commands
