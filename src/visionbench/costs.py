"""What a model costs: parameters, forward FLOPs, inference throughput, peak memory, and where it ran.

These numbers go into ``results.json`` next to the metrics. FLOPs come from PyTorch's own
:class:`torch.utils.flop_counter.FlopCounterMode`, which counts matrix products and convolutions (2 FLOPs per
multiply-add) and ignores element-wise work (activations, normalisation, pooling); that is the usual convention in
papers, and the same for every model, so comparisons stay fair. NumPy-engine models report their own counts.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from visionbench._env import package_version, processor_name, usable_cpus

__all__ = [
    "count_parameters",
    "flops_per_image",
    "measure_inference_throughput",
    "peak_memory_mb",
    "reset_peak_memory",
    "current_memory_mb",
    "versions",
    "machine",
    "environment",
]


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """Count a model's parameters (shared tensors once).

    Args:
        model: any module.

    Returns:
        (total, trainable), where trainable counts the parameters with ``requires_grad``.
    """
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return total, trainable


def flops_per_image(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Forward FLOPs for one image, counted by PyTorch's FLOP counter in eval mode without gradients.

    Args:
        model: the classifier; it is put in eval mode for the count and every submodule's train/eval flag is
            restored afterwards (so a frozen batch-norm inside a training model stays frozen).
        input_shape: (C, H, W) of one image.

    Returns:
        FLOPs for a batch of one (2 per multiply-add, as the counter reports).
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    modes = [(m, m.training) for m in model.modules()]
    x = torch.zeros((1, *input_shape), device=device, dtype=dtype)  # (1, C, H, W)
    try:
        model.eval()
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(x)
        return int(counter.get_total_flops())
    finally:
        for m, training in modes:
            m.training = training


def _sync_cuda() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def measure_inference_throughput(
    predict_fn: Callable[[Any], Any],
    images: Any,
    batch_size: int,
    max_seconds: float = 2.0,
    min_seconds: float = 0.25,
) -> float:
    """Images per second of ``predict_fn`` on batches of ``images``, time-bounded.

    One batch is run first as a warm-up (lazy initialisation, caches, cuDNN autotuning) and not timed. Timed
    batches then run until ``max_seconds`` have passed, or until one full pass over ``images`` is done and at
    least ``min_seconds`` have passed; small sets are cycled so the timing is not dominated by clock noise.

    Args:
        predict_fn: called with a slice ``images[i:i + batch_size]``; whatever it returns is ignored (CUDA work is
            synchronised before the clock is read).
        images: anything sliceable with a length: a NumPy array or a tensor of shape (N, C, H, W).
        batch_size: images per call, >= 1.
        max_seconds: time budget of the timed part.
        min_seconds: minimum timed duration when one pass finishes early.

    Returns:
        Images per second over the timed batches.
    """
    n = len(images)
    if n == 0:
        raise ValueError("measure_inference_throughput needs at least one image")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    starts = list(range(0, n, batch_size))
    predict_fn(images[0:batch_size])
    _sync_cuda()
    done = 0
    i = 0
    t0 = time.perf_counter()
    while True:
        s = starts[i % len(starts)]
        batch = images[s : s + batch_size]
        predict_fn(batch)
        _sync_cuda()
        done += len(batch)
        i += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= max_seconds or (done >= n and elapsed >= min_seconds):
            break
    return done / max(elapsed, 1e-9)


def _is_cuda(device: str | torch.device | None) -> bool:
    return device is not None and torch.device(device).type == "cuda" and torch.cuda.is_available()


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            match = re.search(rf"^{field}:\s+(\d+)\s+kB", f.read(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _vm_hwm_kib() -> int | None:
    return _status_kib("VmHWM")


def current_memory_mb(device: str | torch.device | None = None) -> float | None:
    """Memory in use now, in MiB: PyTorch's allocated tensors on a CUDA device, else the process's resident set
    (Linux ``VmRSS``; None where it cannot be read). Subtracted from :func:`peak_memory_mb` it gives what a run
    added on top of the interpreter and the libraries it had already loaded."""
    if _is_cuda(device):
        return torch.cuda.memory_allocated(device) / 2**20
    rss = _status_kib("VmRSS")
    return None if rss is None else rss / 1024


def reset_peak_memory(device: str | torch.device | None = None) -> None:
    """Start a new peak-memory window (best effort), so several runs in one process each get their own peak.

    On CUDA this resets PyTorch's allocator statistics. On Linux it resets the process's resident-set high-water
    mark (``/proc/self/clear_refs``); elsewhere the peak stays the process lifetime's.

    Args:
        device: the device the run uses; ``None`` or a CPU device resets the host peak only.
    """
    if _is_cuda(device):
        torch.cuda.reset_peak_memory_stats(device)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory_mb(device: str | torch.device | None = None) -> float:
    """Peak memory in MiB since the process started or the last :func:`reset_peak_memory`.

    Args:
        device: on a CUDA device, the peak of tensors allocated by PyTorch on it
            (``torch.cuda.max_memory_allocated``); otherwise the peak resident set size of the process
            (``VmHWM`` on Linux, else ``getrusage`` ``ru_maxrss``), which includes Python, the libraries and data.

    Returns:
        Mebibytes (2**20 bytes).
    """
    if _is_cuda(device):
        return torch.cuda.max_memory_allocated(device) / 2**20
    hwm = _vm_hwm_kib()
    if hwm is not None:
        return hwm / 1024
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in bytes on macOS and KiB on Linux and the BSDs.
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def versions() -> dict[str, str | None]:
    """Versions of Python and the libraries that shape the numbers (``None`` when a library is missing)."""
    return {
        "python": platform.python_version(),
        "visionbench": package_version("visionbench"),
        "numpy": package_version("numpy"),
        "torch": torch.__version__,
        "torchvision": package_version("torchvision"),
        "sklearn": package_version("scikit-learn"),
    }


def machine(device: str | torch.device | None = None) -> dict[str, Any]:
    """The machine a run used: OS, processor, CPU counts, torch threads and the device.

    Args:
        device: the device the run used; ``None`` means CPU.
    """
    usable = usable_cpus()
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": processor_name(),
        "cpu_count": os.cpu_count(),
        "cpu_count_usable": usable,
        "torch_threads": torch.get_num_threads(),
        "device": str(torch.device(device)) if device is not None else "cpu",
    }
    if _is_cuda(device):
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def environment(device: str | torch.device | None = None) -> dict[str, Any]:
    """:func:`versions` and :func:`machine` in one flat dict, for logs and quick prints.

    Args:
        device: the device the run used; ``None`` means CPU.
    """
    return {**versions(), **machine(device)}
