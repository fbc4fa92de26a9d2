"""Short Fashion-MNIST training of ResNet / RegNet variants; prints one JSON line per epoch and one per model.

``--table`` instead prints parameters and forward FLOPs (``FlopCounterMode``, 1 FLOP = 1 add or 1 multiply) of every
resnet/regnet variant, at 32x32x3 with 10 classes, and at 224x224x3 with 1000 classes for the ImageNet-style ones.

Reads the IDX files directly (no dependency on the data package) and runs a plain SGD loop with the models'
recipe-style settings: SGD + Nesterov, lr 0.1 with a linear warm-up then cosine decay, wd 5e-4, batch 128,
horizontal flips. Training seconds exclude the per-epoch test evaluation.

    .venv/bin/python benchmarks/bench_resnet_fmnist.py --model resnet20 --epochs 5 --threads 1
    .venv/bin/python benchmarks/bench_resnet_fmnist.py --table
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

from visionbench.models import create_model, get_entry, list_models

MEAN, STD = 0.2860, 0.3530


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (uint8 images or labels) from a .gz file."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(root / f"{split}-images-idx3-ubyte.gz")  # (N, 28, 28)
    labels = read_idx(root / f"{split}-labels-idx1-ubyte.gz")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28)
    return (x - MEAN) / STD, torch.from_numpy(labels.astype(np.int64))


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> tuple[float, float]:
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(x), batch):
        xb = x[i : i + batch].contiguous(memory_format=torch.channels_last)
        out = model(xb)
        loss += F.cross_entropy(out, y[i : i + batch], reduction="sum").item()
        correct += (out.argmax(1) == y[i : i + batch]).sum().item()
    return correct / len(x), loss / len(x)


def flops(model: torch.nn.Module, size: int) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, size, size))
    return counter.get_total_flops()


def table() -> None:
    """One JSON line per variant (and per cheap-regulator option of the CIFAR RegNets)."""
    torch.set_num_threads(1)
    r20 = create_model("resnet20", num_classes=10, in_chans=3, img_size=32)
    base = {"params_10": sum(p.numel() for p in r20.parameters()), "flops_32": flops(r20, 32)}
    for name in list_models("resnet*") + list_models("seresnet*") + list_models("*regnet*"):
        entry = get_entry(name)
        options: list[dict] = [{}]
        if entry.family == "regnet" and entry.kwargs["block"] == "basic" and name.endswith("20_" + entry.kwargs["rnn"]):
            options.append({"cheap_rnn": True})
        for opt in options:
            m = create_model(name, num_classes=10, in_chans=3, img_size=32, **opt)
            row = {"model": name, **opt, "params_10": sum(p.numel() for p in m.parameters()), "flops_32": flops(m, 32)}
            if entry.kwargs["stem"] == "cifar" and name != "resnet20":
                row["extra_params_vs_resnet20"] = row["params_10"] - base["params_10"]
                row["flops_ratio_vs_resnet20"] = round(row["flops_32"] / base["flops_32"], 2)
            if entry.kwargs["stem"] == "auto":
                big = create_model(name, num_classes=1000, in_chans=3, img_size=224, **opt)
                row["params_1000"] = sum(p.numel() for p in big.parameters())
                row["flops_224"] = flops(big, 224)
            print(json.dumps(row), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--warmup", type=float, default=0.5, help="warm-up epochs")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training images (smoke runs)")
    ap.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--table", action="store_true", help="print parameters and FLOPs of every variant, no training")
    args = ap.parse_args()
    if args.table:
        table()
        return

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    xtr, ytr = load(args.data, "train")
    xte, yte = load(args.data, "t10k")
    if args.limit:
        xtr, ytr = xtr[: args.limit], ytr[: args.limit]
    model = create_model(args.model, num_classes=10, in_chans=1, img_size=28).to(memory_format=torch.channels_last)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, momentum=0.9, nesterov=True,
    )
    steps_per_epoch = math.ceil(len(xtr) / args.batch)
    total, warm = args.epochs * steps_per_epoch, int(args.warmup * steps_per_epoch)

    def lr_at(step: int) -> float:
        if step < warm:
            return args.lr * (step + 1) / warm
        return 0.5 * args.lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    info = {
        "model": args.model, "params": sum(p.numel() for p in model.parameters()), "threads": args.threads,
        "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "wd": args.wd, "train_images": len(xtr),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
        "load_avg_start": os.getloadavg()[0], "torch": torch.__version__,
    }
    gen = torch.Generator().manual_seed(args.seed)
    step, train_s = 0, 0.0
    for epoch in range(args.epochs):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(len(xtr), generator=gen)
        run_loss, run_correct = 0.0, 0
        for i in range(0, len(xtr), args.batch):
            idx = perm[i : i + args.batch]
            xb, yb = xtr[idx], ytr[idx]
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb).contiguous(memory_format=torch.channels_last)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            run_loss += loss.item() * len(idx)
            run_correct += (out.argmax(1) == yb).sum().item()
        train_s += time.perf_counter() - t0
        acc, test_loss = evaluate(model, xte, yte)
        print(json.dumps({
            "model": args.model, "epoch": epoch + 1, "train_loss": round(run_loss / len(xtr), 4),
            "train_acc": round(run_correct / len(xtr), 4), "test_acc": round(acc, 4), "test_loss": round(test_loss, 4),
            "train_seconds": round(train_s, 1), "load_avg": os.getloadavg()[0],
        }), flush=True)
    print(json.dumps({**info, "test_acc": round(acc, 4), "test_loss": round(test_loss, 4),
                      "train_seconds": round(train_s, 1), "load_avg_end": os.getloadavg()[0]}), flush=True)


if __name__ == "__main__":
    main()
