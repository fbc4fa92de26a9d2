"""Overhead of the visionbench pipeline over a bare PyTorch training loop (same model, data, batch size, process).

Both loops train the same architecture from the same initial weights on the same normalised tensors for the same
number of epochs; the bare loop does nothing else (no augmentation, no validation, no checkpoints, no progress bar),
the pipeline does everything it always does. Prints one JSON line per measurement and a final ratio line.

    python benchmarks/bench_pipeline.py                       # cnn on digits (embedded, no download)
    python benchmarks/bench_pipeline.py --dataset fashion-mnist --epochs 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch
from torch import nn

from visionbench import costs
from visionbench.data import load_dataset
from visionbench.data.splits import train_val_split
from visionbench.data.transforms import channel_stats, to_tensor_batch
from visionbench.models import create_model
from visionbench.train import TrainConfig, train


def bare_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, batch_size: int, lr: float) -> float:
    """A minimal AdamW loop over pre-normalised tensors; returns the seconds spent in the epochs.

    It uses the channels-last memory format like the pipeline does, so the ratio measures the pipeline's own cost.
    """
    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(epoch))
        for i in range(0, len(y), batch_size):
            idx = order[i : i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3, help="alternate bare/pipeline this many times, keep the best")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_dataset(args.dataset)
    train_split, _ = train_val_split(data.train, 0.1, 0)
    mean, std = channel_stats(train_split)
    x = to_tensor_batch(train_split.images, mean, std)
    y = torch.from_numpy(train_split.labels)
    env = {"machine": costs.machine(), "threads": args.threads, "model": args.model, "dataset": data.name,
           "epochs": args.epochs, "batch_size": args.batch_size, "train_images": len(y)}

    bare_times, pipe_times, wall_times = [], [], []
    for repeat in range(args.repeats):
        torch.manual_seed(0)
        model = create_model(args.model, num_classes=data.num_classes, in_chans=data.in_chans, img_size=data.img_size)
        bare_times.append(bare_loop(model, x, y, args.epochs, args.batch_size, 1e-3))
        with tempfile.TemporaryDirectory() as tmp:
            cfg = TrainConfig(model=args.model, dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size,
                              optimizer="adamw", lr=1e-3, schedule="constant", augment="none", label_smoothing=0.0,
                              output_dir=tmp, quiet=True, threads=args.threads)
            start = time.perf_counter()
            result = train(cfg)
            wall_times.append(time.perf_counter() - start)
            # The epochs' own time as the run records it: batch preparation from uint8, steps, progress.
            pipe_times.append(float(result.results["train_seconds"]))
        print(json.dumps({"repeat": repeat, "bare_seconds": round(bare_times[-1], 3),
                          "pipeline_epoch_seconds": round(pipe_times[-1], 3),
                          "pipeline_wall_seconds": round(wall_times[-1], 3)}))
    ratio = min(pipe_times) / min(bare_times)
    # The whole call also loads the data, validates every epoch, writes checkpoints and evaluates the test set.
    wall_ratio = min(wall_times) / min(bare_times)
    print(json.dumps({**env, "bare_seconds_best": round(min(bare_times), 3),
                      "pipeline_epoch_seconds_best": round(min(pipe_times), 3),
                      "pipeline_wall_seconds_best": round(min(wall_times), 3), "epoch_overhead_ratio": round(ratio, 3),
                      "wall_overhead_ratio": round(wall_ratio, 3), "target_ratio": 1.10,
                      "meets_target": ratio <= 1.10}))


if __name__ == "__main__":
    main()
