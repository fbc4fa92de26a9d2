"""Keep the README true by construction: re-run its example commands and write their real output back.

A command whose output the README shows is marked with an HTML comment right before a fenced block::

    <!-- readme-run: visionbench train --model cnn --dataset digits --seed 2 -->
    ```
    (whatever the command printed last time)
    ```

``python tools/readme.py README.md`` runs every marked command (in order, in one scratch folder, so later
commands can use what earlier ones wrote; ``$LAST_COMPARISON`` and ``$LAST_RUN`` name the newest ones) and
replaces each block with the command line and its output. ``--check`` only reports which blocks would change.
The README is written atomically, and only when every command succeeded.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MARK = re.compile(r"^<!-- readme-run: (?P<cmd>.+?) -->\n```[a-z]*\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass
class Block:
    command: str
    start: int
    end: int
    body: str


def find_blocks(text: str) -> list[Block]:
    """Every marked command and the span of the fenced block that holds its output."""
    return [Block(m.group("cmd").strip(), m.start("body"), m.end("body"), m.group("body")) for m in MARK.finditer(text)]


def _newest(folder: Path) -> str:
    items = sorted((p for p in folder.glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return str(items[-1].relative_to(folder.parent)) if items else ""


def run_command(command: str, cwd: Path, env: dict[str, str], timeout: float) -> str:
    """Run one README command in ``cwd``; returns what it printed (stdout then stderr), or raises on failure."""
    env = dict(env, LAST_COMPARISON=_newest(cwd / "comparisons"), LAST_RUN=_newest(cwd / "runs"))
    argv = [os.path.expandvars(a) if a.startswith("$") else a for a in shlex.split(command)]
    argv = [os.path.expandvars(a) for a in argv]
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"`{command}` exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout + done.stderr


def refresh(text: str, cwd: Path, *, env: dict[str, str] | None = None, timeout: float = 1800.0,
            log: object = None) -> str:
    """``text`` with every marked block replaced by ``$ command`` and the command's output."""
    env = dict(os.environ if env is None else env, COLUMNS="100", TERM="dumb")
    out, pos = [], 0
    for block in find_blocks(text):
        start = time.perf_counter()
        printed = run_command(block.command, cwd, env, timeout)
        if log:
            print(f"{time.perf_counter() - start:7.1f}s  {block.command}", file=sys.stderr)
        out += [text[pos:block.start], f"$ {block.command}\n", printed.rstrip("\n") + "\n"]
        pos = block.end
    out.append(text[pos:])
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("readme", nargs="?", default="README.md")
    parser.add_argument("--check", action="store_true", help="report the blocks whose output changed; write nothing")
    parser.add_argument("--workdir", help="scratch folder for the commands (default: a new temporary one)")
    args = parser.parse_args(argv)
    path = Path(args.readme)
    text = path.read_text()
    if not find_blocks(text):
        print(f"{path}: no `<!-- readme-run: ... -->` block", file=sys.stderr)
        return 1
    cwd = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="vb-readme-"))
    cwd.mkdir(parents=True, exist_ok=True)
    new = refresh(text, cwd, log=True)
    if args.check:
        changed = [b.command for b, n in zip(find_blocks(text), find_blocks(new)) if b.body != n.body]
        print("\n".join(f"changed: {c}" for c in changed) or "README output is current")
        return 1 if changed else 0
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new)
    os.replace(tmp, path)
    print(f"{path}: {len(find_blocks(new))} blocks refreshed (commands ran in {cwd})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
