"""One run in one process against the same run in N data-parallel processes (torchrun, gloo on the CPU): training
seconds, images per second and the test numbers, per model. The global batch, the data order and the budget are the
same; the single process gets all N threads, each of the N processes one. The N processes run twice: with
BatchNorm synchronised (the default) and with ``--no-sync-bn``.

One JSON line for the machine, one per (model, processes), one summary per model:

    .venv/bin/python benchmarks/distributed.py [--models mlp_small,resnet20] [--dataset fashion-mnist]
        [--max-train-samples 5000] [--epochs 2] [--nproc 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from visionbench import costs


def _run(argv: list[str], nproc: int, out: Path, name: str) -> dict:
    common = ["train", *argv, "--output-dir", str(out), "--run-name", name, "--quiet"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if nproc == 1:
        cmd = [sys.executable, "-m", "visionbench", *common, "--threads", str(os.cpu_count() or 1)]
    else:
        torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
        cmd = [torchrun, "--standalone", "--nproc-per-node", str(nproc), "-m", "visionbench", *common]
        env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return json.loads((out / name / "results.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="mlp_small,resnet20")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--max-train-samples", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps({"machine": costs.machine(), "dataset": args.dataset, "max_train_samples": args.max_train_samples,
                      "epochs": args.epochs, "batch_size": args.batch_size, "nproc": args.nproc}), flush=True)
    with tempfile.TemporaryDirectory(prefix="ddp-bench-") as root:
        for model in args.models.split(","):
            argv = ["--model", model, "--dataset", args.dataset, "--epochs", str(args.epochs), "--batch-size",
                    str(args.batch_size), "--max-train-samples", str(args.max_train_samples), "--seed", str(args.seed)]
            rows = {}
            for nproc, sync in ((1, True), (args.nproc, True), (args.nproc, False)):
                key = f"{nproc}{'' if sync else '-local-bn'}"
                r = _run(argv + ([] if sync else ["--no-sync-bn"]), nproc, Path(root), f"{model}-{key}")
                rows[key] = {"model": model, "processes": nproc, "sync_bn": sync, "train_seconds": r["train_seconds"],
                             "train_images_per_second": round(r["train_images_per_second"], 1),
                             "test_accuracy": r["test_accuracy"], "test_loss": round(r["test_loss"], 5),
                             "steps": r["steps"]}
                print(json.dumps(rows[key]), flush=True)
            one = rows["1"]
            print(json.dumps({"model": model, **{
                f"speedup_{key}": round(one["train_seconds"] / row["train_seconds"], 3)
                for key, row in rows.items() if key != "1"}, **{
                f"test_accuracy_difference_{key}": round(row["test_accuracy"] - one["test_accuracy"], 5)
                for key, row in rows.items() if key != "1"}}), flush=True)


if __name__ == "__main__":
    main()
