"""Fuzz every file format the product reads (issue 13): mutated data sets, configs, checkpoints, run directories.

Small valid seeds of each format are written into a temporary folder (a 1-epoch training on digits gives the
checkpoints and the run directory); Hypothesis draws mutations (truncation, bit flips, inserted, overwritten and
deleted bytes, wrong magic numbers, absurd dimensions, wrong dtypes, NaN pixels, labels out of range, mismatched
counts, empty files, directories and symlinks where files should be, non-UTF-8 names, wrong config types, unknown
and repeated keys, hostile pickles...). Each case runs the product's own loader in a forked child with an
address-space limit and a timeout and is classified (see tests/fuzz/_fuzz_runner.py):

    python benchmarks/fuzz.py --cases 2000 [--seed S] [--formats idx-raw,coco] [--json OUT]
    python benchmarks/fuzz.py --replay '{"format": "idx-raw", "mutation": {...}}'   # one case, with its traceback

Prints a table (formats x classes) and one JSON line (totals, cases, seconds, machine); ``--json`` also writes the
counts per format and every bad case with its format, mutation and reason (give that line to ``--replay``). Exits 1
when a bad class (silent-corrupt, traceback, hang, memory, crash, wrote-outside) is not zero.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fuzz"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))

from _fuzz_formats_io import all_formats  # noqa: E402
from _fuzz_runner import BAD, CLASSES, Harness, Limits, Outcome, counts  # noqa: E402


def table(outcomes: list[Outcome]) -> str:
    """Formats as rows, classes as columns, a total row."""
    rows = counts(outcomes)
    short = {"accepted-same": "same", "accepted-lax": "lax", "silent-corrupt": "silent", "wrote-outside": "outside"}
    heads = ["format", "cases", *(short.get(c, c) for c in CLASSES)]
    body = [[fmt, str(sum(row.values())), *(str(row[c]) for c in CLASSES)] for fmt, row in rows.items()]
    total = [sum(int(r[i]) for r in body) for i in range(1, len(heads))]
    body.append(["total", *map(str, total)])
    widths = [max(len(r[i]) for r in [heads, *body]) for i in range(len(heads))]
    fmt_row = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt_row(heads), *(fmt_row(r) for r in body)])


def replay(line: dict, root: Path) -> int:
    """Run one case in-process (the traceback shows), then classified in a child as the harness does."""
    formats = {f.name: f for f in all_formats()}
    fmt = formats[line["format"]]
    harness = Harness(root, [fmt])
    case = root / "replay"
    import shutil

    from _fuzz_runner import apply_mutation

    shutil.copytree(root / "seeds" / fmt.name, case, symlinks=True)
    apply_mutation(fmt, case, line["mutation"], root / "outside")
    try:
        fmt.load(case, line["mutation"])
        print("loaded without an exception")
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    outcome = harness.run_case(fmt, line["mutation"])
    print(json.dumps(outcome.line()))
    return int(outcome.cls in BAD)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed (the same seed draws the same cases)")
    parser.add_argument("--formats", help="comma-separated format names (default: all)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before a case is killed as a hang")
    parser.add_argument("--memory-gib", type=float, default=2.0, help="address space a case may add, GiB")
    parser.add_argument("--json", help="also write the JSON report to this file")
    parser.add_argument("--replay", help="one bad case's JSON (as printed) to run again")
    parser.add_argument("--quiet", action="store_true", help="no line per bad case while running")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="visionbench-fuzz-") as tmp:
        if args.replay:
            return replay(json.loads(args.replay), Path(tmp))
        formats = all_formats()
        if args.formats:
            wanted = args.formats.split(",")
            unknown = sorted(set(wanted) - {f.name for f in formats})
            if unknown:
                names = ", ".join(f.name for f in formats)
                parser.error(f"unknown format(s) {', '.join(unknown)}; choose from {names}")
            formats = [f for f in formats if f.name in wanted]
        start = time.perf_counter()
        harness = Harness(Path(tmp), formats, Limits(args.timeout, int(args.memory_gib * 2**30)))
        seeded = time.perf_counter() - start

        def report(o: Outcome) -> None:
            if o.cls in BAD and not args.quiet:
                print(json.dumps(o.line()), file=sys.stderr, flush=True)

        outcomes = harness.run(args.cases, args.seed, report)
        seconds = time.perf_counter() - start
    print(table(outcomes))
    bad = [o.line() for o in outcomes if o.cls in BAD]
    result = {"benchmark": "fuzz", "cases": len(outcomes), "seed": args.seed, "seconds": round(seconds, 1),
              "seed_seconds": round(seeded, 1), "counts": counts(outcomes),
              "totals": {c: sum(o.cls == c for o in outcomes) for c in CLASSES}, "bad": bad,
              "machine": {"python": platform.python_version(), "platform": platform.platform()}}
    print(json.dumps({k: v for k, v in result.items() if k not in ("bad", "counts")} | {"bad_cases": len(bad)}))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
