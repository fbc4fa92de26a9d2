"""Train a registered ViT on Fashion-MNIST with the model's recipe, standalone (no pipeline needed).

Prints one JSON line per epoch and a final one: test accuracy, training wall-clock and CPU seconds (CPU time stays
meaningful when other processes share the machine), threads, load average.
Usage: python benchmarks/vit_fashion_mnist.py --model vit_tiny_patch4 --epochs 6 --threads 1 --no-augment

The recipe's optimizer settings are used (AdamW, warm-up + cosine per step, label smoothing, weight decay off for
biases, norms, positions and class token); augmentation is a random 2-pixel shift and a horizontal flip unless
--no-augment. It reads the IDX files with numpy so that it runs without the training pipeline.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from visionbench.models import create_model, get_entry
from visionbench.train.optim import param_groups


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = read_idx(root / f"{split}-images-idx3-ubyte.gz")[:, None]  # (N, 1, 28, 28)
    y = read_idx(root / f"{split}-labels-idx1-ubyte.gz").astype(np.int64)
    return torch.from_numpy(x.copy()), torch.from_numpy(y)


def augment(x: torch.Tensor, pad: int = 2) -> torch.Tensor:
    # Random translation by up to `pad` pixels and a random horizontal flip, per sample.
    b, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,))
    dx = torch.randint(0, 2 * pad + 1, (b,))
    out = torch.stack([xp[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])
    flip = torch.rand(b) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="vit_tiny_patch4")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--lr", type=float, default=None, help="override the recipe's learning rate")
    ap.add_argument("--warmup", type=float, default=None, help="override the recipe's warm-up epochs")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    recipe = get_entry(args.model).recipe.for_dataset("fashion-mnist", 28)
    epochs = args.epochs or recipe.epochs
    lr = args.lr or recipe.lr
    warmup = recipe.warmup_epochs if args.warmup is None else args.warmup
    xtr, ytr = load(Path(args.data), "train")
    xte, yte = load(Path(args.data), "t10k")
    mean, std = xtr.float().mean() / 255, xtr.float().std() / 255
    norm = lambda x: (x.float() / 255 - mean) / std  # noqa: E731
    model = create_model(args.model, num_classes=10, in_chans=1, img_size=28)
    opt = torch.optim.AdamW(param_groups(model, lr, 1.0, recipe.weight_decay), lr=lr)
    steps_per_epoch = math.ceil(len(xtr) / recipe.batch_size)
    total, warm = epochs * steps_per_epoch, int(warmup * steps_per_epoch)

    def lr_at(step: int) -> float:
        if step < warm:  # linear warm-up
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    train_seconds, train_cpu, step = 0.0, 0.0, 0
    for epoch in range(1, epochs + 1):
        model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(len(xtr))
        tot_loss = 0.0
        for i in range(0, len(xtr), recipe.batch_size):
            idx = perm[i : i + recipe.batch_size]
            xb = xtr[idx]
            if not args.no_augment:
                xb = augment(xb)
            loss = F.cross_entropy(model(norm(xb)), ytr[idx], label_smoothing=recipe.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            tot_loss += loss.item() * len(idx)
        train_seconds += time.perf_counter() - t0
        train_cpu += time.process_time() - c0
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(xte), 500):
                correct += (model(norm(xte[i : i + 500])).argmax(1) == yte[i : i + 500]).sum().item()
        print(
            json.dumps(
                {
                    "epoch": epoch,
                    "train_loss": round(tot_loss / len(xtr), 4),
                    "test_acc": correct / len(xte),
                    "train_seconds": round(train_seconds, 1),
                    "train_cpu_seconds": round(train_cpu, 1),
                    "load1": os.getloadavg()[0],
                }
            ),
            flush=True,
        )
    print(
        json.dumps(
            {
                "model": args.model,
                "epochs": epochs,
                "test_acc": correct / len(xte),
                "train_seconds": round(train_seconds, 1),
                "train_cpu_seconds": round(train_cpu, 1),
                "threads": args.threads,
                "params": sum(p.numel() for p in model.parameters()),
                "machine": platform.processor() or platform.machine(),
                "torch": torch.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
