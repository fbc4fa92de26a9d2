"""Train a NumPy-engine model the way the pipeline would (90/10 train/val split, per-channel normalisation, the model's
Recipe: AdamW + cosine schedule) and report test accuracy, using only the engine's own optimiser and losses.

One JSON line per epoch and a final line with the test accuracy and the wall-clock training time.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/accuracy_scratch.py --model scratch_mlp --dataset digits
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/accuracy_scratch.py --model scratch_cnn2d \
        --dataset fashion-mnist --max-seconds 600
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from visionbench import scratch
from visionbench.data import load_dataset
from visionbench.models import create_model, get_entry
from visionbench.train.budget import plan_from_recipe


def _layout(x: np.ndarray, layout: str) -> np.ndarray:
    b = x.shape[0]
    if layout == "flat":
        return x.reshape(b, -1)  # (B, C*H*W)
    if layout == "seq":
        return x.reshape(b, -1, 1)  # (B, C*H*W, 1)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # (B, H, W, C)


def _accuracy(model: scratch.Module, x: np.ndarray, y: np.ndarray, batch: int = 1000) -> float:
    model.eval()
    hits = 0
    for i in range(0, len(x), batch):
        hits += int((model.forward(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
    model.train()
    return hits / len(x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="scratch_mlp")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--epochs", type=int, default=None, help="default: the model's recipe")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--max-seconds", type=float, default=None, help="stop after the epoch that crosses this budget")
    ap.add_argument("--weight-decay", type=float, default=None)
    ap.add_argument("--label-smoothing", type=float, default=None)
    ap.add_argument("--model-kwargs", default="{}", help="JSON, e.g. '{\"dropout\": 0.2}'")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    ds = load_dataset(args.dataset)
    recipe = get_entry(args.model).recipe.for_dataset(ds.name, ds.img_size)
    lr = args.lr or recipe.lr
    bs = args.batch_size or recipe.batch_size
    rng = np.random.default_rng(args.seed)
    n = len(ds.train.labels)
    # The recipe's budget in steps (see visionbench/train/budget.py), as whole epochs for this loop.
    planned = plan_from_recipe(recipe, n - n // 10, batch_size=bs)
    epochs = args.epochs or planned.epochs
    order = rng.permutation(n)
    n_val = n // 10
    val_idx, tr_idx = order[:n_val], order[n_val:]
    x_all = ds.train.images.astype(np.float32) / 255.0
    mean = x_all[tr_idx].mean(axis=(0, 2, 3), keepdims=True)
    std = x_all[tr_idx].std(axis=(0, 2, 3), keepdims=True)
    model = create_model(args.model, num_classes=ds.num_classes, in_chans=ds.in_chans, img_size=ds.img_size,
                         seed=args.seed, **json.loads(args.model_kwargs))  # fmt: skip
    norm = (x_all - mean) / std
    x_tr, y_tr = _layout(norm[tr_idx], model.input_layout), ds.train.labels[tr_idx]
    x_val, y_val = _layout(norm[val_idx], model.input_layout), ds.train.labels[val_idx]
    x_te = _layout((ds.test.images.astype(np.float32) / 255.0 - mean) / std, model.input_layout)
    y_te = ds.test.labels

    wd = recipe.weight_decay if args.weight_decay is None else args.weight_decay
    smoothing = recipe.label_smoothing if args.label_smoothing is None else args.label_smoothing
    opt = scratch.AdamOptimizer(model, lr, weight_decay=wd, decoupled=recipe.optimizer == "adamw")
    loss = scratch.CELogSoftmax(label_smoothing=smoothing)
    steps_per_epoch = math.ceil(len(y_tr) / bs)
    total_steps, step = epochs * steps_per_epoch, 0
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.set_rng(np.random.default_rng(args.seed * 1000 + epoch))
        perm = rng.permutation(len(y_tr))
        run = 0.0
        for i in range(0, len(y_tr), bs):
            idx = perm[i : i + bs]
            opt.lr = 0.5 * lr * (1 + math.cos(math.pi * step / total_steps))  # cosine to 0 over the planned run
            opt.zero_grad()
            out = model.forward(x_tr[idx])
            model.backward(loss.backward(y_tr[idx], out) / np.float32(len(idx)))
            opt.step()
            run += float(loss.forward(y_tr[idx], out).sum())
            step += 1
        elapsed = time.perf_counter() - t0
        print(json.dumps({"epoch": epoch + 1, "train_loss": round(run / len(y_tr), 4),
                          "val_acc": round(_accuracy(model, x_val, y_val), 4), "seconds": round(elapsed, 1)}),
              flush=True)  # fmt: skip
        if args.max_seconds and elapsed > args.max_seconds:
            break
    train_seconds = time.perf_counter() - t0
    print(json.dumps({"model": args.model, "dataset": ds.name, "epochs_run": epoch + 1, "lr": lr, "batch_size": bs,
                      "test_acc": round(_accuracy(model, x_te, y_te), 4), "train_seconds": round(train_seconds, 1)}),
          flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
