"""Kill-and-resume trials (issue 13, item 3): for each engine, an uninterrupted run, then ``--trials`` runs that are
SIGKILLed once inside a checkpoint write and ``--kills`` times at seeded random moments, resumed after each kill until
they complete. A trial passes when every tensor of its checkpoints, its history (but the seconds column) and its test
metrics equal the uninterrupted run's, bit for bit, and nothing is left behind (temporary file, lock, second folder).

One JSON line for the machine, one per trial, one summary per engine:

    taskset -c 1 .venv/bin/python benchmarks/kill_resume.py [--trials 5] [--kills 3] [--engines numpy,torch]

The harness is ``tests/train/kill_harness.py`` (the suite runs two trials per engine with it).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "train"))

import kill_harness as kh  # noqa: E402 - found through the path above

from visionbench import costs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--kills", type=int, default=3, help="random kills per trial, after the one inside a write")
    parser.add_argument("--engines", default="numpy,torch")
    parser.add_argument("--seed", type=int, default=0, help="first kill seed (trial i uses seed + i)")
    args = parser.parse_args()
    print(json.dumps({"machine": costs.machine(), "trials": args.trials, "kills": args.kills,
                      "command": kh.COMMON}), flush=True)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="kill-resume-") as root:
        for engine in args.engines.split(","):
            ref, lifetime = kh.reference(engine, Path(root) / engine / "uninterrupted")
            totals: collections.Counter[str] = collections.Counter()
            landed: collections.Counter[str] = collections.Counter()
            t0 = time.perf_counter()
            for i in range(args.trials):
                t = kh.trial(engine, Path(root) / engine / f"trial{i}", ref, lifetime, seed=args.seed + i,
                             kills=args.kills)
                ok = not t.differences and not t.errors
                totals.update(identical=ok, kills=t.kills, kills_in_write=t.kills_in_write,
                              fresh_starts=t.fresh_starts, children=t.children)
                landed.update(t.landed)
                print(json.dumps({"engine": engine, "trial": i, "identical": ok, "kills": t.kills,
                                  "kills_in_write": t.kills_in_write, "landed": t.landed,
                                  "differences": t.differences, "errors": t.errors}), flush=True)
            failed += args.trials - totals["identical"]
            print(json.dumps({"engine": engine, "model": kh.ENGINES[engine][1], "trials": args.trials,
                              "identical": totals["identical"], "kills": totals["kills"],
                              "kills_in_write": totals["kills_in_write"], "fresh_starts": totals["fresh_starts"],
                              "children": totals["children"], "landed": dict(landed),
                              "uninterrupted_child_seconds": round(lifetime, 2),
                              "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
