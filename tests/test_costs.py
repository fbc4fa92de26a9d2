"""visionbench.costs: parameter and FLOP counts by hand, throughput loop logic, environment facts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from visionbench.costs import (
    count_parameters,
    environment,
    flops_per_image,
    machine,
    measure_inference_throughput,
    peak_memory_mb,
    reset_peak_memory,
    versions,
)


def test_count_parameters_total_and_trainable() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert count_parameters(model) == (3 * 4 + 4 + 4 * 2 + 2, 3 * 4 + 4 + 4 * 2 + 2)
    model[0].weight.requires_grad_(False)
    assert count_parameters(model) == (26, 26 - 12)


def test_shared_parameters_count_once() -> None:
    a = nn.Linear(5, 5, bias=False)
    model = nn.Sequential(a, a)
    assert count_parameters(model) == (25, 25)


def test_flops_match_hand_count() -> None:
    # conv: 2 * C_in * C_out * k * k * H_out * W_out; linear: 2 * in * out (bias adds are not counted).
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    expected = 2 * 3 * 8 * 9 * 6 * 6 + 2 * (8 * 6 * 6) * 10
    assert flops_per_image(model, (3, 6, 6)) == expected


def test_flops_restore_every_module_mode() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 2 * 2, 3))
    model.train()
    model[1].eval()  # a frozen batch-norm inside a training model must stay frozen
    stats = model[1].running_mean.clone()
    flops_per_image(model, (1, 4, 4))
    assert model.training and model[0].training and not model[1].training
    assert torch.equal(model[1].running_mean, stats)
    model.eval()
    flops_per_image(model, (1, 4, 4))
    assert not any(m.training for m in model.modules())


def test_flops_rejects_bad_shape() -> None:
    with pytest.raises(ValueError):
        flops_per_image(nn.Linear(2, 2), (2,))


def test_throughput_one_pass_when_budget_is_large() -> None:
    calls: list[int] = []
    images = np.zeros((10, 1, 2, 2), dtype=np.uint8)
    rate = measure_inference_throughput(lambda b: calls.append(len(b)), images, 4, max_seconds=1e9, min_seconds=0)
    # one warm-up batch, then exactly one pass: 4 + 4 + 2
    assert calls == [4, 4, 4, 2]
    assert rate > 0


def test_throughput_stops_on_time_budget() -> None:
    calls: list[int] = []
    images = torch.zeros((100, 1, 2, 2))
    measure_inference_throughput(lambda b: calls.append(len(b)), images, 10, max_seconds=0.0)
    assert calls == [10, 10]  # warm-up + one timed batch, never zero timed batches


def test_throughput_rejects_empty_or_bad_batch() -> None:
    with pytest.raises(ValueError):
        measure_inference_throughput(lambda b: None, np.zeros((0, 1, 2, 2)), 4)
    with pytest.raises(ValueError):
        measure_inference_throughput(lambda b: None, np.zeros((3, 1, 2, 2)), 0)


def test_peak_memory_sees_an_allocation() -> None:
    reset_peak_memory()
    before = peak_memory_mb()
    status = Path("/proc/self/status")
    if status.is_file():  # where the reset works, the peak restarts at the current resident size
        rss = next(int(ln.split()[1]) for ln in status.read_text().splitlines() if ln.startswith("VmRSS")) / 1024
        if before > rss + 100:
            pytest.skip("this kernel does not reset the resident high-water mark (/proc/self/clear_refs)")
    block = np.ones(300 * 2**20 // 8)  # 300 MiB touched
    after = peak_memory_mb()
    del block
    assert isinstance(after, float)
    # The process's resident peak: at least the interpreter plus the block, and far less than the machine.
    assert after - before >= 250, (before, after)
    assert after < 16 * 1024


def test_environment_facts_are_json() -> None:
    v = versions()
    assert v["torch"] == torch.__version__ and v["numpy"] == np.__version__
    m = machine()
    assert m["device"] == "cpu" and m["torch_threads"] == torch.get_num_threads()
    env = environment("cpu")
    for key in ("python", "numpy", "torch", "torchvision", "sklearn", "platform", "processor", "cpu_count"):
        assert key in env
    json.dumps(env)
