"""The fuzz harness's engine (issue 13): draw mutations with Hypothesis, run each case in a forked child with an
address-space limit and a timeout, and classify what happened.

Classes (``BAD`` are defects):

- ``error``: one of the project's errors, one line, naming the mutated file (or a folder holding it);
- ``accepted-same``: loaded, equal to what the seed loads;
- ``accepted-lax``: loaded with a change the format cannot detect (see ``_fuzz_formats``'s docstring);
- ``silent-corrupt``: loaded with a change the format could tell, or a mutation that must be refused was accepted;
- ``traceback``: any other exception, or a project error on several lines or not naming the file;
- ``hang``: the child outlived the timeout (then SIGKILL); ``memory``: MemoryError or the address-space limit;
- ``crash``: the child died of a signal or without a word; ``wrote-outside``: a file was created or changed outside
  the case's folder (the sentinel folder, the child's working directory, the seeds).
"""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _fuzz_formats import Format, Mutation, Snapshot
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

CLASSES = ("error", "accepted-same", "accepted-lax", "silent-corrupt", "traceback", "hang", "memory", "crash",
           "wrote-outside")
BAD = ("silent-corrupt", "traceback", "hang", "memory", "crash", "wrote-outside")
BYTE_KINDS = ("truncate", "flip", "insert", "overwrite", "delete", "edits")
FS_KINDS = ("empty", "dir", "symlink-outside", "symlink-dangling", "symlink-loop", "rename-nonutf8")


# ------------------------------------------------------------------------------------------------------- mutations


def apply_edits(data: bytes, edits: Any) -> bytes:
    """``data`` after byte edits ``(kind, position, value)``: flip a bit, truncate, insert, overwrite or delete a
    byte (positions past the end clamp to the last byte)."""
    out = bytearray(data)
    for kind, pos, value in edits:
        pos = min(pos, max(len(out) - 1, 0))
        if kind == "flip" and out:
            out[pos] ^= 1 << (value % 8)
        elif kind == "truncate":
            del out[pos:]
        elif kind == "insert":
            out[pos:pos] = bytes([value])
        elif kind == "overwrite" and out:
            out[pos] = value
        elif kind == "delete" and out:
            del out[pos]
    return bytes(out)

def mutation_strategy(fmt: Format, sizes: dict[str, int]) -> st.SearchStrategy[Mutation]:
    """Generic byte edits (half the cases), file-system edits (a fifth) and the format's own ``sem:`` kinds (the
    rest, shared evenly). Positions fall in the first 64 bytes (headers) or anywhere in the file."""

    def on_file(rel: str) -> st.SearchStrategy[Mutation]:
        size = max(sizes[rel], 1)
        head = min(size, 64)
        # Hypothesis favours small integers (here: all in the header); a seeded Random spreads them: 40 % in the
        # first 64 bytes, the rest anywhere
        pos = _uniform(lambda r: r.randrange(head) if r.random() < 0.4 else r.randrange(size))
        edit = st.tuples(st.sampled_from(["flip", "insert", "overwrite", "delete"]), pos, st.integers(0, 255))
        return st.one_of(
            st.builds(lambda e: {"kind": e[0], "args": {"pos": e[1], "value": e[2]}}, edit),
            st.builds(lambda p: {"kind": "truncate", "args": {"pos": p}}, pos),
            st.builds(lambda es: {"kind": "edits", "args": {"edits": [list(e) for e in es]}},
                      st.lists(edit, min_size=2, max_size=4)),
        ).map(lambda m: {"file": rel, **m})

    def on_path(rel: str) -> st.SearchStrategy[Mutation]:
        return st.sampled_from(FS_KINDS).map(lambda k: {"file": rel, "kind": k, "args": {}})

    branches = {"bytes": st.sampled_from(fmt.files).flatmap(on_file),
                "files": st.sampled_from(fmt.files).flatmap(on_path)}
    for k, (args, _, _) in fmt.semantic.items():
        branches[k] = args.map(lambda a, k=k: {"file": "", "kind": f"sem:{k}", "args": a})
    semantic = [k for k in branches if k not in ("bytes", "files")]
    n = max(len(semantic), 1)
    weights = ["bytes"] * 5 * n + ["files"] * 2 * n + semantic * 3
    choice = _uniform(lambda r: r.choice(weights))
    resume = st.booleans() if fmt.name.startswith("checkpoint") else st.just(False)
    return st.tuples(choice.flatmap(branches.__getitem__), resume).map(
        lambda t: {**t[0], **({"resume": True} if t[1] else {})})


def _uniform(pick: Callable[[Any], Any]) -> st.SearchStrategy[Any]:
    """A uniform draw from a ``random.Random`` that Hypothesis seeds (reproducible from the run's seed)."""
    return st.randoms(use_true_random=True).map(pick)


def apply_mutation(fmt: Format, case: Path, m: Mutation, outside: Path) -> None:
    """Edit the case folder as ``m`` says; ``outside`` is where a link out points (a copy of the file)."""
    kind, args = m["kind"], m["args"]
    if kind.startswith("sem:"):
        fmt.semantic[kind[4:]][1](case, args)
        return
    path = case / m["file"]
    if kind in BYTE_KINDS:
        data = bytearray(path.read_bytes())
        edits = args["edits"] if kind == "edits" else [[kind, args["pos"], args.get("value", 0)]]
        path.write_bytes(apply_edits(bytes(data), edits))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "dir":
        path.unlink()
        path.mkdir()
    elif kind == "symlink-outside":  # a link to an identical copy outside the case: must load the same
        copy = outside / f"{case.name}-{path.name}"
        shutil.copy(path, copy)
        path.unlink()
        path.symlink_to(copy)
    elif kind == "symlink-dangling":
        path.unlink()
        path.symlink_to(outside / "no-such-file")
    elif kind == "symlink-loop":
        path.unlink()
        path.symlink_to(path.name)
    elif kind == "rename-nonutf8":
        os.rename(os.fsencode(path), os.fsencode(path.parent) + b"/\xff\xfe" + os.fsencode(path.name))


# -------------------------------------------------------------------------------------------------- classification

def differences(a: Snapshot, b: Snapshot) -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, list) and isinstance(y, list) and x and isinstance(x[0], np.ndarray):
            same = len(x) == len(y) and all(_same_array(p, q) for p, q in zip(x, y))
        elif isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            same = _same_array(x, y)
        else:
            same = x == y or (x != x and y != y)
        if not same:
            out.append(key)
    return out


def _same_array(x: Any, y: Any) -> bool:
    if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)) or x.shape != y.shape or x.dtype != y.dtype:
        return False
    return bool(np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"))


def judge(fmt: Format, m: Mutation, original: Snapshot, got: Snapshot) -> tuple[str, str]:
    """The class of a load that did not fail, and why."""
    diff = differences(original, got)
    if not diff:
        return "accepted-same", ""
    what = f"loaded changed: {', '.join(diff[:4])}"
    kind = m["kind"]
    if kind.startswith("sem:"):  # a structured edit is either one the format must refuse, or one it cannot see
        return ("silent-corrupt", f"{kind} accepted, {what}") if fmt.semantic[kind[4:]][2] else ("accepted-lax", what)
    if kind == "symlink-outside":
        return "silent-corrupt", f"a link to an identical copy {what}"
    if kind in FS_KINDS:
        if fmt.missing_files_ok:
            return "accepted-lax", f"{kind}: {m['file']} read as absent"
        removed = fmt.skips_non_files and kind != "empty" and _one_fewer(original, got)
        return ("accepted-lax", "a non-file is skipped") if removed else ("silent-corrupt", f"{kind}: {what}")
    if kind in BYTE_KINDS and fmt.protected(m["file"]):
        return "silent-corrupt", f"checksummed {m['file']} {what}"
    for key in diff:
        x, y = original.get(key), got.get(key)
        if isinstance(x, np.ndarray) and (not isinstance(y, np.ndarray) or x.shape != y.shape or x.dtype != y.dtype):
            shapes = f"{getattr(x, 'shape', x)} -> {getattr(y, 'shape', y)}"
            return "silent-corrupt", f"{key} changed shape or dtype: {shapes}"
    return "accepted-lax", what


def _one_fewer(original: Snapshot, got: Snapshot) -> bool:
    return len(got.get("labels", ())) == len(original.get("labels", ())) - 1


def _names(case: Path, m: Mutation) -> list[str]:
    """What an error may name: the mutated file, any folder between it and the case, the case itself."""
    path = case / m["file"] if m["file"] else case
    names = [path.name, str(case)]
    while path != case and case in path.parents:
        path = path.parent
        names.append(path.name)
    return [n for n in names if n]


def _error_class(exc: BaseException, case: Path, m: Mutation) -> tuple[str, str]:
    from visionbench.errors import VisionbenchError

    text = str(exc)
    if isinstance(exc, MemoryError) or "allocate" in text.lower() and "memory" in text.lower():
        return "memory", f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}"
    if isinstance(exc, VisionbenchError):
        if "\n" in text:
            return "traceback", f"{type(exc).__name__} on several lines: {text[:200]!r}"
        names = _names(case, m)
        if not any(n in text for n in names) and not any(repr(n)[1:-1] in text for n in names):
            return "traceback", f"{type(exc).__name__} does not name {m['file'] or case.name}: {text[:200]}"
        return "error", text[:300]
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {Path(where.filename).name}:{where.lineno}" if where else ""
    first = text.splitlines()[0][:200] if text else ""
    return "traceback", f"{type(exc).__name__}{at}: {first}"


def classify_in_process(fmt: Format, case: Path, m: Mutation, original: Snapshot) -> tuple[str, str]:
    try:
        got = fmt.load(case, m)
    except BaseException as exc:  # noqa: BLE001 - classifying every outcome is the point
        return _error_class(exc, case, m)
    return judge(fmt, m, original, got)


# ----------------------------------------------------------------------------------------------------- the child

@dataclass
class Limits:
    timeout: float = 20.0
    memory: int = 2 * 2**30  # bytes of address space over the parent's


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def run_child(fn: Callable[[], tuple[str, str]], cwd: Path, limits: Limits) -> tuple[str, str]:
    """``fn()`` in a forked child with an address-space limit and a timeout; its (class, reason), or what killed it."""
    read_fd, write_fd = os.pipe()
    cap = _vm_size() + limits.memory
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            import faulthandler

            faulthandler.disable()  # a crash is reported through the pipe, not as a dump on the parent's terminal
            os.close(read_fd)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            os.chdir(cwd)
            result = fn()
            os.write(write_fd, json.dumps(result).encode())
        except BaseException:  # noqa: BLE001
            code = 3
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks, deadline, killed = [], time.monotonic() + limits.timeout, False
    while True:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([read_fd], [], [], max(left, 0))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            killed = True
            break
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if killed:
        return "hang", f"still running after {limits.timeout:g} s"
    if os.WIFSIGNALED(status):
        return "crash", f"killed by signal {signal.Signals(os.WTERMSIG(status)).name}"
    if not chunks:
        return "crash", f"exited with status {os.WEXITSTATUS(status)} without a result"
    cls, reason = json.loads(b"".join(chunks))
    return cls, reason


# --------------------------------------------------------------------------------------------------- the harness

def _listing(*roots: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                p = os.path.join(folder, name)
                st_ = os.lstat(p)
                out[p] = (st_.st_size, st_.st_mtime_ns)
    return out


@dataclass
class Outcome:
    format: str
    mutation: Mutation
    cls: str
    reason: str

    def line(self) -> dict[str, Any]:
        return {"format": self.format, "class": self.cls, "mutation": self.mutation, "reason": self.reason}


@dataclass
class Harness:
    """Seeds written once into ``root/seeds``; each case is a copy under ``root/cases`` run in a child."""

    root: Path
    formats: list[Format]
    limits: Limits = field(default_factory=Limits)
    originals: dict[str, Snapshot] = field(default_factory=dict)
    sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    count: int = 0

    def __post_init__(self) -> None:
        from visionbench.data import _search

        for sub in ("seeds", "cases", "sentinel", "outside", "cwd"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for var in ("VISIONBENCH_DATA", "VISIONBENCH_MIRROR", "VISIONBENCH_MEMORY_BUDGET"):
            os.environ.pop(var, None)
        os.environ["VISIONBENCH_CACHE"] = str(self.root / "cache")
        _search.SYSTEM_PATHS[:] = []  # the machine's datasets must not stand in for a damaged case
        from PIL import Image

        Image.new("RGB", (20, 12), (9, 99, 199)).save(self.root / "sentinel" / "outside.png")
        (self.root / "sentinel" / "outside.bin").write_bytes(b"outside")
        for fmt in self.formats:
            seed = self.root / "seeds" / fmt.name
            fmt.build(seed)
            for resume in (False, True) if fmt.name.startswith("checkpoint") else (False,):
                self.originals[self._key(fmt, resume)] = fmt.load(seed, {"file": "", "kind": "none", "args": {},
                                                                         "resume": resume})
            self.sizes[fmt.name] = {rel: (seed / rel).stat().st_size for rel in fmt.files}

    @staticmethod
    def _key(fmt: Format, resume: Any) -> str:
        return fmt.name + ("/resume" if resume else "")

    def run_case(self, fmt: Format, m: Mutation) -> Outcome:
        self.count += 1
        case = self.root / "cases" / f"{self.count:05d}"
        shutil.copytree(self.root / "seeds" / fmt.name, case, symlinks=True)
        try:
            apply_mutation(fmt, case, m, self.root / "outside")
            watched = (self.root / "sentinel", self.root / "cwd", self.root / "seeds", self.root / "outside")
            before = _listing(*watched)
            original = self.originals[self._key(fmt, m.get("resume"))]
            cls, reason = run_child(lambda: classify_in_process(fmt, case, m, original), self.root / "cwd", self.limits)
            after = _listing(*watched)
            if before != after:
                changed = sorted(set(before) ^ set(after) | {p for p in before if before[p] != after.get(p)})
                cls, reason = "wrote-outside", f"{cls}, and changed {', '.join(changed[:3])}"
                self._restore(before, after)
        finally:
            shutil.rmtree(case, ignore_errors=True)
            for p in (self.root / "outside").iterdir():
                p.unlink()
        return Outcome(fmt.name, m, cls, reason)

    def _restore(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        for p in sorted(set(after) - set(before), reverse=True):
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)

    def run(self, cases: int, seed: int = 0, on_case: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """``cases`` cases, the formats in turn, each mutation drawn by Hypothesis (reproducible from ``seed``)."""
        outcomes: list[Outcome] = []
        for n, fmt in enumerate(self.formats):  # the formats share the cases evenly
            quota = cases // len(self.formats) + (n < cases % len(self.formats))
            outcomes += self.run_format(fmt, quota, seed, on_case)
        return outcomes

    def run_format(self, fmt: Format, quota: int, seed: int = 0,
                   on_case: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """``quota`` cases of one format."""
        strategy = mutation_strategy(fmt, self.sizes[fmt.name])
        outcomes: list[Outcome] = []

        def one(m: Mutation) -> None:
            if len(outcomes) < quota:
                outcomes.append(self.run_case(fmt, m))
                if on_case:
                    on_case(outcomes[-1])

        while len(outcomes) < quota:  # Hypothesis may stop a little early on its own accounting: draw again
            before = len(outcomes)
            drive = settings(max_examples=quota - before, database=None, deadline=None, phases=[Phase.generate],
                             suppress_health_check=list(HealthCheck))(given(strategy)(one))
            hypothesis_seed(seed)(drive)()
            seed += 1_000_003
            if len(outcomes) == before:
                break
        return outcomes


def counts(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter[str]] = {}
    for o in outcomes:
        table.setdefault(o.format, Counter())[o.cls] += 1
    return {fmt: {c: row.get(c, 0) for c in CLASSES} for fmt, row in table.items()}
