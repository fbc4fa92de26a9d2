"""Default recipes on a small training set: every registered model trained as `visionbench train` would train it.

Each model trains with its default recipe (a budget in optimiser steps, see visionbench/train/budget.py) on a
stratified subset of the training set (8,000 images by default) and is tested on the whole test set. Each run goes
through the library's own pipeline in its own worker process (as `visionbench compare` runs it), so the wall time
and the peak memory are that run's alone. One JSON line per model:

    python benchmarks/small_data.py                                   # Fashion-MNIST from its system path
    python benchmarks/small_data.py --models cnn,vit_tiny_patch4 --data-dir ~/data/mnist --dataset mnist
    python benchmarks/small_data.py --engine scratch --threads 2

Keys: model, engine, dataset, train_samples, test_samples, test_accuracy, macro_f1, steps, epochs,
train_seconds (the step loop only), wall_seconds (the whole run: data, model, validation, checkpoints, test),
peak_memory_mb (the worker's peak resident set), run_memory_mb (what the run added on top of the loaded
interpreter), status, run_dir, machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from visionbench import costs
from visionbench.models import get_entry, list_models
from visionbench.runs import read_run
from visionbench.studies.compare import CompareConfig, run_comparison


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--data-dir")
    parser.add_argument("--max-train-samples", type=int, default=8000)
    parser.add_argument("--models", help="comma-separated (default: every registered model)")
    parser.add_argument("--engine", choices=["torch", "scratch"], help="only this engine's models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output-dir", help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args(argv)

    models = args.models.split(",") if args.models else list_models(engine=args.engine, task="classification")
    out = Path(args.output_dir) if args.output_dir else Path(tempfile.mkdtemp(prefix="vb-small-data-"))
    machine = costs.machine("cpu")
    for model in models:
        overrides = {"max_train_samples": args.max_train_samples, "threads": args.threads, "quiet": True}
        if args.data_dir:
            overrides["data_dir"] = args.data_dir
        cc = CompareConfig(dataset=args.dataset, models=[model], seeds=[args.seed], output_dir=str(out),
                           name=f"{model}-{args.dataset}", isolate=True, train_overrides=overrides)
        start = time.perf_counter()
        result = run_comparison(cc)
        wall = time.perf_counter() - start
        run = read_run(result.runs[0] if isinstance(result.runs[0], Path) else result.runs[0].run_dir)
        r, c = run.results or {}, run.config
        print(json.dumps({
            "model": model, "engine": get_entry(model).engine, "dataset": run.dataset,
            "train_samples": (c.get("dataset_info") or {}).get("train_size"),
            "test_samples": (c.get("dataset_info") or {}).get("test_size"),
            "test_accuracy": r.get("test_accuracy"), "macro_f1": r.get("test_macro_f1"),
            "steps": r.get("steps"), "epochs": r.get("epochs"), "batch_size": c.get("batch_size"),
            "train_seconds": r.get("train_seconds"), "wall_seconds": round(wall, 1),
            "peak_memory_mb": r.get("peak_memory_mb"), "run_memory_mb": r.get("run_memory_mb"),
            "status": run.status, "message": r.get("message"), "run_dir": str(run.path),
            "threads": args.threads, "machine": machine,
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
