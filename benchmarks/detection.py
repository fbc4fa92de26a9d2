"""The detector target of issue 11: Faster R-CNN (``digit_frcnn``) on digit scenes through the library's pipeline.

Targets on 128x128 scenes of 1-5 objects of 20-48 px, 4,000 training scenes, on this 2-core CPU: AP50 >= 0.97 and
mAP@[.5:.95] >= 0.80 within 20 minutes of training, >= 100 test images/s at inference, and >= 98.5 % accuracy
through detection on MNIST-like digits. Prints one JSON line per epoch (minutes of training so far, validation mAP)
and a final line with the test numbers and whether each target was met.

    .venv/bin/python benchmarks/detection.py --dataset scenes:fashion-mnist --minutes 20
    .venv/bin/python benchmarks/detection.py --dataset scenes:digits --minutes 5 --keep runs-bench
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

from visionbench.train import TrainConfig, train

TARGETS = {"test_map50": 0.97, "test_map": 0.80, "inference_images_per_second": 100.0, "test_accuracy": 0.985}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="digit_frcnn")
    ap.add_argument("--dataset", default="scenes:fashion-mnist")
    ap.add_argument("--minutes", type=float, default=20.0, help="training time budget (validation not counted)")
    ap.add_argument("--steps", type=int, help="a step budget instead of --minutes")
    ap.add_argument("--train-scenes", type=int, default=4000)
    ap.add_argument("--test-scenes", type=int, default=1000)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir")
    ap.add_argument("--keep", metavar="DIR", help="keep the run directory under DIR (default: a temporary folder)")
    args = ap.parse_args()
    options = {"train_scenes": args.train_scenes, "test_scenes": args.test_scenes}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(model=args.model, dataset=args.dataset, dataset_options=options, steps=args.steps,
                          time_budget=None if args.steps else args.minutes * 60, threads=args.threads,
                          seed=args.seed, data_dir=args.data_dir, quiet=True, output_dir=args.keep or tmp)
        result = train(cfg)
        run_dir = Path(result.run_dir)
        minutes = 0.0
        with open(run_dir / "history.csv", newline="") as f:
            for row in csv.DictReader(f):
                minutes += float(row["seconds"]) / 60
                print(json.dumps({"epoch": int(row["epoch"]), "minutes": round(minutes, 2),
                                  "steps": int(row["steps"]), "train_loss": float(row["train_loss"]),
                                  "val_map": float(row["val_map"]), "val_map50": float(row["val_map50"])}),
                      flush=True)
        r = result.results
        final = {k: r.get(k) for k in ("status", "model", "dataset", "seed", "steps_completed", "epochs_completed",
                                       "train_seconds", "test_map", "test_map50", "test_map75", "test_accuracy",
                                       "test_macro_f1", "test_no_box", "inference_images_per_second",
                                       "train_images_per_second", "params_total", "flops_per_image")}
        final["minutes"] = round((r.get("train_seconds") or 0.0) / 60, 2)
        final["targets_met"] = {k: (r.get(k) is not None and r[k] >= v) for k, v in TARGETS.items()}
        final["run_dir"] = str(run_dir) if args.keep else None
        print(json.dumps(final), flush=True)


if __name__ == "__main__":
    main()
