"""NumPy engine vs its PyTorch twin: time per training step, achieved GFLOP/s, and loss agreement after 100 steps.

Each scratch model is copied into an equivalent ``torch.nn.Sequential`` with the same weights (layouts converted), and
both are trained on the same batches, in float32, in this process, with the same SGD update. One JSON line per
result on stdout, the machine first.

    .venv/bin/python benchmarks/bench_scratch.py [--models scratch_mlp,scratch_cnn2d] [--batch 128] [--steps 20] \
        [--threads 1] [--lr 0.002] [--dtype float32]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from visionbench import scratch
from visionbench.models import create_model

SHAPES = {"scratch_mlp": (1, 28), "scratch_cnn2d": (1, 28), "scratch_cnn1d": (1, 16), "scratch_linear": (1, 28)}


class _ChannelsLastFlatten(nn.Module):
    """Flatten (B, C, H, W) or (B, C, L) in the engine's channels-last order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1) if x.dim() == 4 else x.permute(0, 2, 1)  # (B, H, W, C) or (B, L, C)
        return x.reshape(x.shape[0], -1)  # (B, H*W*C)


def torch_twin(model: scratch.Sequential) -> nn.Sequential:
    """A torch copy of a scratch Sequential (channels-first tensors, same weights)."""
    out: list[nn.Module] = []
    for m in model.layers:
        p = {k: torch.from_numpy(v.copy()) for k, v in m._parameters.items()}
        if isinstance(m, scratch.Linear):
            t: nn.Module = nn.Linear(m.input, m.output, bias=m.has_bias)
            t.weight.data = p["weight"].T.contiguous()  # (out, in)
        elif isinstance(m, scratch.Conv2D):
            t = nn.Conv2d(m.chan_in, m.chan_out, m.kernel, m.stride, m.padding, bias=m.has_bias)
            t.weight.data = p["weight"].permute(3, 2, 0, 1).contiguous()  # (Cout, Cin, kh, kw)
        elif isinstance(m, scratch.Conv1D):
            t = nn.Conv1d(m.chan_in, m.chan_out, m.k_size, m.stride, m.padding, bias=m.has_bias)
            t.weight.data = p["weight"].permute(2, 1, 0).contiguous()  # (Cout, Cin, k)
        elif isinstance(m, scratch.MaxPool2D):
            t = nn.MaxPool2d(m.kernel, m.stride_hw)
        elif isinstance(m, scratch.MaxPool1D):
            t = nn.MaxPool1d(m.kernel[1], m.stride_hw[1])
        elif isinstance(m, scratch.ReLU):
            t = nn.ReLU()
        elif isinstance(m, scratch.Flatten):
            t = _ChannelsLastFlatten() if model.input_layout != "flat" else nn.Flatten()
        else:
            raise TypeError(f"no torch twin for {type(m).__name__}")
        if "bias" in p:
            t.bias.data = p["bias"]
        out.append(t)
    return nn.Sequential(*out)


def _layouts(layout: str, x: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
    b = x.shape[0]
    if layout == "flat":
        return x.reshape(b, -1), torch.from_numpy(x.reshape(b, -1))  # (B, C*H*W)
    if layout == "seq":
        return x.reshape(b, -1, 1), torch.from_numpy(x.reshape(b, 1, -1))  # (B, L, 1) and (B, 1, L)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)), torch.from_numpy(x)  # (B, H, W, C) and (B, C, H, W)


def _median_time(fn: Callable[[], object], steps: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _matmul_gflops(m: int, k: int, n: int) -> float:
    a = np.random.default_rng(0).standard_normal((m, k)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((k, n)).astype(np.float32)
    t = _median_time(lambda: a @ b, 10)
    return 2 * m * k * n / t / 1e9


def bench(name: str, batch: int, steps: int, lr: float = 0.002, dtype: str = "float32") -> dict[str, object]:
    c, s = SHAPES[name]
    # Dropout masks cannot match between engines: compare the deterministic architecture.
    kwargs = {"dropout": 0.0} if name in ("scratch_mlp", "scratch_cnn2d") else {}
    model = create_model(name, num_classes=10, in_chans=c, img_size=s, seed=0, dtype=dtype, **kwargs)
    twin = torch_twin(model).to(getattr(torch, dtype))
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((batch, c, s, s)).astype(dtype) for _ in range(4)]
    ys = [rng.integers(0, 10, batch) for _ in range(4)]
    loss = scratch.CELogSoftmax()
    opt = scratch.SGDOptimizer(model, lr, momentum=0.9)
    topt = torch.optim.SGD(twin.parameters(), lr=lr, momentum=0.9)
    data = [(*_layouts(model.input_layout, x), y, torch.from_numpy(y)) for x, y in zip(xs, ys)]

    def np_step(i: int) -> float:
        xn, _, y, _ = data[i % 4]
        opt.zero_grad()
        out = model.forward(xn)
        model.backward(loss.backward(y, out) / out.dtype.type(batch))
        opt.step()
        return float(loss.forward(y, out).mean())

    def torch_step(i: int) -> float:
        _, xt, _, yt = data[i % 4]
        topt.zero_grad()
        lt = nn.functional.cross_entropy(twin(xt), yt)
        lt.backward()
        topt.step()
        return float(lt.detach())

    # Loss agreement first (from identical weights), then timing.
    np_losses = [np_step(i) for i in range(100)]
    t_losses = [torch_step(i) for i in range(100)]
    # Alternate the two engines step by step so that both see the same machine load.
    t_np_all, t_torch_all = [], []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        np_step(i)
        t1 = time.perf_counter()
        torch_step(i)
        t2 = time.perf_counter()
        if i >= 2:
            t_np_all.append(t1 - t0)
            t_torch_all.append(t2 - t1)
    t_np, t_torch = float(np.median(t_np_all)), float(np.median(t_torch_all))
    flops_step = 3 * model.flops_per_example() * batch  # forward + two backward products per layer
    # The largest GEMM of the model, timed bare, as the ceiling the engine can reach.
    biggest = max((_gemm(m, shape, batch) for m, shape in _layer_shapes(model)), key=lambda g: g[0] * g[1] * g[2])
    return {
        "model": name,
        "batch": batch,
        "dtype": dtype,
        "lr": lr,
        "input": [c, s, s],
        "numpy_ms_per_step": round(1e3 * t_np, 3),
        "torch_ms_per_step": round(1e3 * t_torch, 3),
        "ratio_numpy_over_torch": round(t_np / t_torch, 3),
        "numpy_gflops": round(flops_step / t_np / 1e9, 2),
        "torch_gflops": round(flops_step / t_torch / 1e9, 2),
        "bare_matmul_gemm": list(biggest),
        "bare_matmul_gflops": round(_matmul_gflops(*biggest), 2),
        "loss_step1": [round(np_losses[0], 6), round(t_losses[0], 6)],
        "loss_step100": [round(np_losses[-1], 6), round(t_losses[-1], 6)],
        "max_abs_loss_diff_100_steps": float(np.max(np.abs(np.array(np_losses) - np.array(t_losses)))),
    }


def _gemm(m: scratch.Module, shape: tuple[int, ...], batch: int) -> tuple[int, int, int]:
    # (M, K, N) of a layer's forward product: im2col rows x (kernel * chan_in) x chan_out for convolutions.
    if isinstance(m, scratch.Linear):
        return batch, m.input, m.output
    if isinstance(m, scratch.Conv1D | scratch.Conv2D):
        k = m.chan_in * int(np.prod(m.kernel))
        return batch * m.macs((1, *shape)) // (k * m.chan_out), k, m.chan_out
    return 0, 0, 0


def _layer_shapes(model: scratch.Sequential) -> list[tuple[scratch.Module, tuple[int, ...]]]:
    x = np.zeros((1, *model.example_shape), np.float32)
    out = []
    for m in model.layers:
        out.append((m, x.shape[1:]))
        x = m.forward(x)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="scratch_mlp,scratch_cnn2d,scratch_cnn1d")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=0.002, help="SGD lr (momentum 0.9) of the 100-step loss check")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: libraries' own)")
    args = ap.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        torch.set_num_threads(args.threads)
    print(json.dumps({
        "machine": platform.machine(), "processor": platform.processor() or platform.uname().machine,
        "cpus": os.cpu_count(), "threads": args.threads or "default", "torch_threads": torch.get_num_threads(),
        "load_avg_1min": os.getloadavg()[0], "numpy": np.__version__,
        "torch": torch.__version__, "square_matmul_1024_gflops": round(_matmul_gflops(1024, 1024, 1024), 2),
    }), flush=True)  # fmt: skip
    for name in args.models.split(","):
        print(json.dumps(bench(name, args.batch, args.steps, args.lr, args.dtype)), flush=True)


if __name__ == "__main__":
    main()
