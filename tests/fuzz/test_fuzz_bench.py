"""The fuzz harness of benchmarks/fuzz.py, in the suite: a sample of cases over every format must have no bad outcome,
and the classifier itself must recognise each kind of defect (a broken loader is classified as what it does)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "data")]

from _fuzz_formats import Format  # noqa: E402
from _fuzz_formats_io import all_formats  # noqa: E402
from _fuzz_runner import BAD, CLASSES, Harness, Limits, counts  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _process_state_restored():
    """A Harness sets up its process for the benchmark (an empty data search path, its own cache folder): put the
    test process back as it was, or later tests would find no system dataset."""
    import os

    from visionbench.data import _search

    environ, paths = dict(os.environ), list(_search.SYSTEM_PATHS)
    yield
    os.environ.clear()
    os.environ.update(environ)
    _search.SYSTEM_PATHS[:] = paths


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    return Harness(tmp_path_factory.mktemp("fuzz"), all_formats(), Limits(timeout=20.0))


def test_a_sample_of_every_format_has_no_bad_outcome(harness: Harness) -> None:
    # 20 cases a format, 5 for run directories (each builds a whole report: a second apiece)
    outcomes = [o for f in harness.formats for o in harness.run_format(f, 5 if f.name == "run-dir" else 20, seed=13)]
    table = counts(outcomes)
    assert set(table) == {f.name for f in harness.formats}  # every format got cases
    assert sum(sum(row.values()) for row in table.values()) == 305
    assert sum(row["error"] for row in table.values()) > 100  # the mutations do break files
    bad = [o.line() for o in outcomes if o.cls in BAD]
    assert not bad, bad[:5]


# ---------------------------------------------------------------------------------------------- the classifier

@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Harness, Format]:
    """A one-file format whose loader each test replaces with a broken one."""

    def build(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "x.bin").write_bytes(bytes(range(16)))

    def load(case: Path, m: dict) -> dict:
        return {"x": np.frombuffer((case / "x.bin").read_bytes(), np.uint8)}

    fmt = Format("toy", build, load, ["x.bin"], (".bin",))
    return Harness(tmp_path_factory.mktemp("toy"), [fmt], Limits(timeout=2.0, memory=2**30)), fmt


FLIP = {"file": "x.bin", "kind": "flip", "args": {"pos": 3, "value": 0}}
SAME = {"file": "x.bin", "kind": "overwrite", "args": {"pos": 3, "value": 3}}


def _broken(kind: str):
    from visionbench.errors import DataError

    def load(case: Path, m: dict) -> dict:
        data = (case / "x.bin").read_bytes()
        if kind == "value-error":
            raise ValueError("cannot reshape")
        if kind == "sleep":
            time.sleep(60)
        if kind == "memory":
            return {"x": np.ones(3 * 2**30, np.uint8)}
        if kind == "write":
            (case.parent.parent / "sentinel" / "dropped").write_text("x")
        if kind == "two-lines":
            raise DataError(f"{case / 'x.bin'}: bad\nsecond line")
        if kind == "unnamed":
            raise DataError("something is wrong")
        if kind == "named":
            raise DataError(f"{case / 'x.bin'}: bad byte")
        if kind == "crash":
            import os
            import signal

            os.kill(os.getpid(), signal.SIGSEGV)
        return {"x": np.frombuffer(data, np.uint8)}

    return load


@pytest.mark.parametrize("kind, mutation, expected", [
    ("value-error", FLIP, "traceback"),
    ("sleep", FLIP, "hang"),
    ("memory", FLIP, "memory"),
    ("write", SAME, "wrote-outside"),
    ("none", FLIP, "silent-corrupt"),  # a checksummed (.bin here) file loaded with another byte
    ("none", SAME, "accepted-same"),
    ("two-lines", FLIP, "traceback"),
    ("unnamed", FLIP, "traceback"),
    ("named", FLIP, "error"),
    ("crash", FLIP, "crash"),
])
def test_the_classifier_names_each_defect(toy: tuple[Harness, Format], monkeypatch: pytest.MonkeyPatch, kind: str,
                                          mutation: dict, expected: str) -> None:
    harness, fmt = toy
    monkeypatch.setattr(fmt, "load", _broken(kind))
    outcome = harness.run_case(fmt, mutation)
    assert outcome.cls == expected, outcome.line()
    assert expected in CLASSES
    assert not list((harness.root / "sentinel").glob("dropped"))  # a stray file is removed after it is reported


def test_an_unprotected_change_is_lax(toy: tuple[Harness, Format], monkeypatch: pytest.MonkeyPatch) -> None:
    harness, fmt = toy
    monkeypatch.setattr(fmt, "checksummed", ())
    assert harness.run_case(fmt, FLIP).cls == "accepted-lax"
    truncated = {"file": "x.bin", "kind": "truncate", "args": {"pos": 8}}
    assert harness.run_case(fmt, truncated).cls == "silent-corrupt"  # a changed shape is never lax
