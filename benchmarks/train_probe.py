"""One training run through the library's pipeline (``visionbench.train.train``), summarised as one JSON line:
test accuracy, training seconds, seconds per step, images per second, parameters, FLOPs and peak memory.

It replaces the private training loops that used to live here: every number comes from the same code path as
``visionbench train``, with the model's recipe for the dataset unless a budget is given.

    .venv/bin/python benchmarks/train_probe.py --model resnet20 --dataset fashion-mnist --epochs 1 \
        --max-train-samples 12000
    .venv/bin/python benchmarks/train_probe.py --model scratch_cnn2d --dataset digits --seed 1
"""

from __future__ import annotations

import argparse
import json
import tempfile

from visionbench.train import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--time-budget", type=float)
    ap.add_argument("--max-train-samples", type=int)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir")
    ap.add_argument("--keep", metavar="DIR", help="keep the run directory under DIR (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(model=args.model, dataset=args.dataset, epochs=args.epochs, steps=args.steps,
                          time_budget=args.time_budget, max_train_samples=args.max_train_samples,
                          threads=args.threads, seed=args.seed, data_dir=args.data_dir, quiet=True,
                          output_dir=args.keep or tmp)
        result = train(cfg)
        r = result.results
        steps = r.get("steps_completed") or 0
        print(json.dumps({
            "model": args.model, "dataset": args.dataset, "seed": args.seed, "status": result.status,
            "steps": steps, "epochs": r.get("epochs_completed"), "test_accuracy": r.get("test_accuracy"),
            "test_macro_f1": r.get("test_macro_f1"), "train_seconds": r.get("train_seconds"),
            "seconds_per_step": round(r["train_seconds"] / steps, 4) if steps and r.get("train_seconds") else None,
            "train_images_per_second": r.get("train_images_per_second"), "params_total": r.get("params_total"),
            "flops_per_image": r.get("flops_per_image"), "peak_memory_mb": r.get("peak_memory_mb"),
            "run_dir": str(result.run_dir) if args.keep else None,
        }), flush=True)


if __name__ == "__main__":
    main()
