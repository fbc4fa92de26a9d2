"""Data-parallel training under ``torchrun``: one model, N processes, the same run as one process would train.

``torchrun --nproc-per-node N -m visionbench train ...`` starts N copies of the command; each finds its rank in the
environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``...) and :func:`setup` joins
the process group: ``gloo`` on the CPU, NCCL for CUDA tensors (``cpu:gloo,cuda:nccl``) on GPUs.

What makes N processes train the run one process would:

- **Data order.** Every rank draws the same per-epoch permutation from ``(seed, epoch)`` and builds the same global
  batch (augmentation included, so its random draws are the single-process ones); rank ``r`` keeps rows
  ``r, r + N, ...`` of it. Over a step the ranks see exactly the global batch, as with torch's
  ``DistributedSampler`` (which also strides one permutation), but without its padding: the last, short batch of an
  epoch is split unevenly and each rank's loss is weighted by its share (:meth:`Dist.loss_weight`), so the averaged
  gradient is the global batch's mean gradient.
- **BatchNorm.** Trainable BatchNorm layers normalise with the statistics of the global batch:
  ``torch.nn.SyncBatchNorm`` on GPUs, :class:`CpuSyncBatchNorm` on the CPU (torch's refuses CPU tensors). Frozen
  BatchNorm layers (fine-tuning) keep their stored statistics and are left alone.
- **Gradients.** ``DistributedDataParallel`` averages them, so every rank takes the same optimiser step.
- **Evaluation.** Each rank predicts a contiguous share of the validation or test split; the predictions are
  gathered, so every rank scores the whole split and takes the same decisions (best epoch, early stop).
- **Writes.** Only rank 0 touches the run directory (config, history, checkpoints, results, logs, trackers); a
  resumed run's checkpoint is read by rank 0 and sent to the others, so several machines need no shared folder.

What differs from one process: the order of floating-point sums (gradient all-reduce, BatchNorm statistics), and
dropout masks (each rank draws its own). Resuming with another number of processes is allowed: the data order does
not depend on it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as tdist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from visionbench._env import torchrun_world
from visionbench.errors import ConfigError, VisionbenchError
from visionbench.errors import first_line as errors_first_line

__all__ = ["Dist", "SINGLE", "setup", "teardown", "check_engine", "peer_lost", "first_line", "CpuSyncBatchNorm",
           "sync_batchnorm", "to_cpu", "world_from_env"]

T = TypeVar("T")


def world_from_env() -> int:
    """The number of processes torchrun started (1 when not under torchrun)."""
    return torchrun_world()


@dataclass
class Dist:
    """This process's place among the processes that train one run (one process: rank 0 of 1, every method a
    no-op)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str = ""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    #: Set after an interruption: rank 0 finishes alone (test evaluation, results) without collectives, since the
    #: other ranks may have stopped anywhere.
    alone: bool = False

    @property
    def enabled(self) -> bool:
        """Collectives are in use (several processes, none stopped)."""
        return self.world > 1 and not self.alone

    @property
    def writer(self) -> bool:
        """This process writes the run directory (rank 0)."""
        return self.rank == 0

    def shard(self, batch: Any) -> Any:
        """This rank's rows of a global batch (a tensor or a list): ``r, r + N, ...``."""
        return batch[self.rank :: self.world] if self.enabled else batch

    def loss_weight(self, n_local: int, n_global: int) -> float:
        """The factor on this rank's mean loss so that DDP's average of the ranks' gradients is the global batch's
        mean gradient (1 when the batch splits evenly)."""
        return n_local * self.world / n_global if self.enabled else 1.0

    def span(self, n: int) -> tuple[int, int]:
        """This rank's contiguous share ``[start, stop)`` of ``n`` examples to evaluate."""
        if not self.enabled:
            return 0, n
        return n * self.rank // self.world, n * (self.rank + 1) // self.world

    def global_step(self, loss: float, stats: dict[str, float], n_local: int,
                    n_global: int) -> tuple[float, dict[str, float]]:
        """A step's loss (mean over the global batch) and statistics (summed over it) from every rank's share; the
        same numbers on every rank, so all ranks see a divergence at the same step."""
        if not self.enabled:
            return loss, stats
        keys = sorted(stats)
        total = self.sum([loss * n_local, *(stats[k] for k in keys)])
        return total[0] / n_global, dict(zip(keys, total[1:], strict=True))

    def check_batches(self, n_train: int, batch: int) -> None:
        """Every step must give each process at least one image: a one-line error naming a batch size that does."""
        if self.world == 1:
            return
        if batch < self.world:
            raise ConfigError(f"--batch-size {batch}: fewer images per step than the {self.world} processes "
                              f"torchrun started; use --batch-size {self.world} or more (it is the global batch, "
                              f"split across them)")
        last = n_train % batch
        if 0 < last < self.world:
            good = next(b for b in range(batch + 1, n_train + 2) if n_train % b == 0 or n_train % b >= self.world)
            raise ConfigError(f"--batch-size {batch}: an epoch of {n_train} training images ends with a batch of "
                              f"{last}, fewer than the {self.world} processes; pick a batch size that divides "
                              f"{n_train} or leaves at least {self.world} (e.g. --batch-size {good})")

    def sum(self, values: list[float]) -> list[float]:
        """``values`` summed over the ranks (in float64)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        tdist.all_reduce(t)
        return t.tolist()

    def max(self, value: float) -> float:
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
        return float(t.item())

    def gather(self, items: list[T]) -> list[T]:
        """Every rank's ``items`` concatenated in rank order, on every rank."""
        if not self.enabled:
            return items
        out: list[Any] = [None] * self.world
        tdist.all_gather_object(out, items)
        return [x for part in out for x in part]

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` on every rank."""
        if not self.enabled:
            return value
        box = [value if self.writer else None]
        tdist.broadcast_object_list(box, src=0)
        return box[0]  # type: ignore[return-value]

    @property
    def info(self) -> dict[str, Any]:
        """What config.json and results.json record of the launch."""
        return {"world_size": self.world, "backend": self.backend}

    def launcher(self) -> str:
        """The torchrun launch of these processes, as a command prefix (its rendezvous flags on several machines
        are not known here: ``--nnodes N --nproc-per-node M`` stands for them)."""
        try:
            local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", self.world)))
        except ValueError:
            local = self.world
        nodes = max(1, self.world // local)
        shape = "--standalone" if nodes == 1 else f"--nnodes {nodes}"
        return f"torchrun {shape} --nproc-per-node {local} -m"

    def on_writer(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0 and hand its result to every rank; an exception it raises is raised on every rank
        (so a bad ``--resume`` folder stops all processes with rank 0's message instead of leaving them waiting)."""
        if not self.enabled:
            return fn()
        outcome: tuple[bool, Any] = (True, None)
        if self.writer:
            try:
                outcome = (True, fn())
            except Exception as exc:  # noqa: BLE001 - sent to the other ranks, then raised here as it is
                self.broadcast((False, exc))
                raise
        ok, value = self.broadcast(outcome)
        if not ok:
            if isinstance(value, VisionbenchError):
                value.every_rank = True  # rank 0's error, which rank 0 reports
            raise value
        return value  # type: ignore[no-any-return]


#: One process, no torchrun.
SINGLE = Dist()


def check_engine(model: str) -> None:
    """A model of the NumPy engine cannot train under torchrun: one line, before any data is read."""
    from visionbench.models import get_entry

    engine = get_entry(model).engine
    if engine != "torch":
        raise ConfigError(f"torchrun: --model {model} runs on the {engine} engine, which trains in one process; "
                          f"run it without torchrun (or pick a torch model: visionbench models)")


def peer_lost(exc: BaseException) -> bool:
    """``exc`` says that another process of the launch went away in the middle of a collective (killed, crashed,
    stopped by torchrun). A timeout is not that: it is what a rank waiting for a collective that another, live rank
    never entered gets (a bug), or a very slow peer."""
    if not isinstance(exc, RuntimeError):  # DistBackendError is one
        return False
    text = str(exc)
    if any(mark in text.lower() for mark in ("timed out", "timeout", "watchdog")):
        return False
    return any(mark in text for mark in _PEER_GONE)


#: What gloo and NCCL say when the other end of a collective has gone.
_PEER_GONE = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "remote process exited",
              "ncclRemoteError")


def first_line(exc: BaseException, limit: int = 160) -> str:
    """The first line of an error, without the ``[source/file.cc:123]`` that gloo and NCCL put in front."""
    return re.sub(r"^\[[^\]]*\]\s*", "", errors_first_line(exc))[:limit]


def setup(device: str | None) -> Dist:
    """Join the process group torchrun prepared (when ``WORLD_SIZE`` > 1), else :data:`SINGLE`.

    Args:
        device: the run's ``--device`` (``auto``, ``cpu``, ``cuda``; None: ``auto``). With CUDA, each process takes
            the GPU of its ``LOCAL_RANK``.
    """
    world = world_from_env()
    if world == 1:
        return SINGLE
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and device in (None, "auto", "cuda")
    if cuda:
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"torchrun: LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s) here; "
                              f"use --nproc-per-node {torch.cuda.device_count()} or --device cpu")
        torch.cuda.set_device(local_rank)
    backend = "cpu:gloo,cuda:nccl" if cuda else "gloo"
    if not tdist.is_initialized():
        try:
            tdist.init_process_group(backend)
        except ValueError as exc:  # WORLD_SIZE set by hand, without the rest of torchrun's environment
            raise ConfigError(f"WORLD_SIZE={world} but the process group cannot start ({exc}); launch with torchrun "
                              f"(or unset WORLD_SIZE)") from None
    return Dist(rank=tdist.get_rank(), world=tdist.get_world_size(), local_rank=local_rank,
                backend="nccl" if cuda else "gloo",
                device=torch.device("cuda", local_rank) if cuda else torch.device("cpu"))


def teardown(dist: Dist) -> None:
    """Leave the process group (after the run's last collective)."""
    if dist.world > 1 and tdist.is_initialized():
        tdist.destroy_process_group()


class _SumOverRanks(torch.autograd.Function):
    """A tensor summed over the ranks, differentiable: the gradient of a sum that every rank uses is the sum of the
    ranks' gradients (torch.distributed.nn's version of this is deprecated)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = tensor.clone(memory_format=torch.contiguous_format)
        tdist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _SumOverRanks.apply(grad)


def _sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    return _SumOverRanks.apply(tensor)  # type: ignore[no-any-return]


class CpuSyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are those of the global batch, on any device (torch's SyncBatchNorm
    takes GPU tensors only: its kernels have no CPU version). Each rank computes its count, mean and sum of squared
    deviations; one differentiable all-reduce puts every rank's three side by side, and they are combined as in
    Chan et al.'s parallel variance (as torch's SyncBatchNorm combines them), which is as exact as one pass over the
    global batch. Same parameters, buffers and state-dict keys as ``nn.BatchNorm*d``; evaluation uses the running
    statistics, as BatchNorm does."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {input.dim()}-D)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and tdist.is_initialized() and tdist.get_world_size() > 1):
            return super().forward(input)
        world, rank, channels = tdist.get_world_size(), tdist.get_rank(), input.shape[1]
        dims = [0, *range(2, input.dim())]
        count = input.numel() // channels
        var_r, mean_r = torch.var_mean(input, dim=dims, correction=0)
        mine = torch.cat([input.new_full((1,), float(count)), mean_r, var_r * count])  # n, mean, M2 of this rank
        table = input.new_zeros(world, 1 + 2 * channels).index_copy(0, torch.tensor([rank]), mine[None])
        table = _sum_over_ranks(table)  # every rank's row (a differentiable all-gather)
        counts, means, m2s = table[:, :1], table[:, 1 : 1 + channels], table[:, 1 + channels :]
        n = counts.sum()
        mean = (counts * means).sum(0) / n
        var = (m2s + counts * (means - mean) ** 2).sum(0) / n  # biased, as BatchNorm normalises with
        scale = torch.rsqrt(var + self.eps)
        shift = -mean * scale
        if self.affine:
            scale, shift = scale * self.weight, shift * self.weight + self.bias
        shape = [1, -1] + [1] * (input.dim() - 2)
        out = torch.addcmul(shift.view(shape), input, scale.view(shape))
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)  # type: ignore[union-attr, operator]
                m = (1.0 / float(self.num_batches_tracked) if self.momentum is None  # type: ignore[arg-type]
                     else self.momentum)
                unbiased = var.detach() * (n / (n - 1).clamp(min=1))
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased, alpha=m)
        return out


def _frozen(module: nn.Module) -> bool:
    own = list(module.parameters(recurse=False))
    return bool(module._forward_pre_hooks) or (bool(own) and not any(p.requires_grad for p in own))


def sync_batchnorm(model: nn.Module, device: torch.device) -> int:
    """Swap ``model``'s trainable BatchNorm layers, in place, for ones that normalise with the global batch's
    statistics (:class:`torch.nn.SyncBatchNorm` on CUDA, :class:`CpuSyncBatchNorm` elsewhere). The parameter and
    buffer tensors are moved over as they are, so an optimiser built on the model keeps working. Returns the number
    of layers swapped."""
    kinds = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) not in kinds or _frozen(child):
                continue
            assert isinstance(child, _BatchNorm)
            kind = nn.SyncBatchNorm if device.type == "cuda" else CpuSyncBatchNorm
            new: _BatchNorm = kind(child.num_features, child.eps, child.momentum, child.affine,
                                   child.track_running_stats)
            if child.affine:
                new.weight, new.bias = child.weight, child.bias
            new.running_mean, new.running_var = child.running_mean, child.running_var
            new.num_batches_tracked = child.num_batches_tracked
            new.train(child.training)
            setattr(parent, name, new)
            swapped += 1
    return swapped


def to_cpu(obj: Any) -> Any:
    """Tensors of a nested state (model or optimiser state dict) moved to the CPU, to send to other ranks."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj
