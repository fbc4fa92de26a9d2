"""Engine adapters: the training loop talks to one interface whether the model is PyTorch or the NumPy engine.

A backend owns the model, its optimizer and its loss. The loop hands it the batches its task makes
(``train/tasks.py``): for classifiers normalised float32 NCHW torch tensors (the NumPy backend converts them to its
own layout) and integer labels, for detectors lists of [0, 1] images and box/label targets. It gets back the batch's
mean loss and a few statistics summed over the batch (``{"correct": n}`` for classifiers, the loss terms for
detectors).
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from visionbench.errors import RunError
from visionbench.models._weights import weights_digest, zip_damage
from visionbench.runs import atomic_write_bytes
from visionbench.train._checkpoint import flatten, loading, parse_meta, unflatten, unreadable
from visionbench.train.config import TrainConfig

__all__ = ["Backend", "TorchBackend", "DetectionBackend", "ScratchBackend", "make_backend"]


class Backend:
    """The interface the training loop uses (both engines implement it)."""

    engine: str = ""
    checkpoint_suffix: str = ""

    def set_lr(self, lr: float) -> None:
        raise NotImplementedError

    def train_step(self, x: Any, y: Any, weight: float = 1.0) -> tuple[float, dict[str, float]]:
        """One optimisation step on a batch; returns (mean loss, statistics summed over the batch's examples).

        ``weight`` multiplies the loss before the backward pass (under torchrun: this process's share of the global
        batch, see :meth:`visionbench.train.distributed.Dist.loss_weight`); the returned loss is not weighted.
        """
        raise NotImplementedError

    def distribute(self, dist: Any, *, sync_bn: bool = True) -> None:
        """Train data-parallel from now on (under torchrun): see :mod:`visionbench.train.distributed`. Only the
        torch engine does (``distributed.check_engine`` refuses the others before any data is read)."""
        raise NotImplementedError

    def share(self, dist: Any, *, weights_only: bool = False) -> None:
        """Copy rank 0's weights (and optimizer state) to every rank, e.g. after rank 0 read a checkpoint (one
        process: nothing to do)."""

    def state(self, *, weights_only: bool = False) -> dict[str, Any]:
        """The training state: ``model`` (and ``optimizer``, and mixed precision's ``scaler`` when there is one)."""
        raise NotImplementedError

    def set_state(self, state: dict[str, Any], *, weights_only: bool = False) -> None:
        """Load a :meth:`state` (its model only, with ``weights_only``)."""
        raise NotImplementedError

    def predict(self, x: Any) -> Any:
        """Classifiers: logits (B, K) as a float32 NumPy array; detectors: one prediction dict per image."""
        raise NotImplementedError

    def train_mode(self) -> None:
        raise NotImplementedError

    def eval_mode(self) -> None:
        raise NotImplementedError

    def reseed(self, seed: int) -> None:
        """Reset the randomness used inside the model (dropout) from ``seed``, so each epoch is reproducible."""
        raise NotImplementedError

    def weights(self) -> Any:
        """A copy of the model's weights (to keep the best epoch's)."""
        raise NotImplementedError

    def load_weights(self, weights: Any) -> None:
        raise NotImplementedError

    def save(self, path: Path, meta: dict[str, Any], weights: Any | None = None) -> None:
        """Write a checkpoint atomically: the weights (current ones unless given), optimizer state and ``meta``."""
        raise NotImplementedError

    def load(self, path: Path, *, weights_only: bool = False) -> dict[str, Any]:
        """Load a checkpoint written by :meth:`save`; returns its ``meta``."""
        raise NotImplementedError

    def parameter_counts(self) -> tuple[int, int]:
        raise NotImplementedError

    def flops_per_image(self, input_shape: tuple[int, int, int]) -> int | None:
        raise NotImplementedError


def _resolved(cfg: TrainConfig, *names: str) -> tuple[Any, ...]:
    """The values of hyper-parameters that :meth:`TrainConfig.resolve` must have filled from the model's recipe.

    A backend has no defaults of its own: a ``None`` here means the config was not resolved, which is a bug of the
    caller, not something to paper over with a second set of defaults.
    """
    missing = [name for name in names if getattr(cfg, name) is None]
    if missing:
        raise ValueError(
            f"TrainConfig.{', '.join(missing)} is None: resolve the config against the model's recipe "
            f"(cfg.resolve(get_entry(cfg.model).recipe, dataset)) before building a backend"
        )
    return tuple(getattr(cfg, name) for name in names)


def _param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Parameter groups: the classifier head at full lr, the rest scaled by ``backbone_lr_scale``; no weight decay
    on biases, normalisation parameters and the model's ``no_weight_decay()`` names (see train/optim.py)."""
    from visionbench.train.optim import param_groups

    lr, weight_decay = (float(v) for v in _resolved(cfg, "lr", "weight_decay"))
    groups = param_groups(model, lr, cfg.backbone_lr_scale, weight_decay=weight_decay)
    for group in groups:
        group["lr_scale"] = group["lr"] / lr  # the schedule sets lr * lr_scale at every step
    return groups


class TorchBackend(Backend):
    """Adapter for PyTorch ``nn.Module`` classifiers."""

    engine = "torch"
    checkpoint_suffix = ".pt"
    #: Channels-last (NHWC) convolutions run 1.4-2x faster on the CPU (oneDNN) and on tensor cores; 2-D weights
    #: and non-convolutional models are unaffected.
    channels_last = True

    def __init__(self, model: nn.Module, cfg: TrainConfig, device: torch.device) -> None:
        self.model = model.to(device, memory_format=torch.channels_last) if self.channels_last else model.to(device)
        self.device = device
        self.amp = bool(cfg.amp and device.type == "cuda")
        groups = _param_groups(model, cfg)
        if not groups:
            raise RunError(f"model {cfg.model!r} has no trainable parameter (check --freeze)")
        optimizer, lr, momentum, nesterov, label_smoothing = _resolved(
            cfg, "optimizer", "lr", "momentum", "nesterov", "label_smoothing"
        )
        if optimizer == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
                groups, lr=lr, momentum=momentum, nesterov=bool(nesterov and momentum)
            )
        elif optimizer == "adam":
            self.optimizer = torch.optim.Adam(groups, lr=lr)
        else:
            self.optimizer = torch.optim.AdamW(groups, lr=lr)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None
        #: What a training step calls: the model, or its DistributedDataParallel wrapper under torchrun.
        self.train_model: nn.Module = self.model

    def distribute(self, dist: Any, *, sync_bn: bool = True) -> None:
        from torch.nn.parallel import DistributedDataParallel

        from visionbench.train.distributed import sync_batchnorm

        if sync_bn:
            sync_batchnorm(self.model, self.device)
        self.train_model = DistributedDataParallel(
            self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def share(self, dist: Any, *, weights_only: bool = False) -> None:
        from visionbench.train.distributed import to_cpu

        if not dist.enabled:
            return
        state = dist.broadcast(to_cpu(self.state(weights_only=weights_only)) if dist.writer else None)
        if not dist.writer:
            self.set_state(state, weights_only=weights_only)

    def state(self, *, weights_only: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model.state_dict()}
        if not weights_only:
            out["optimizer"] = self.optimizer.state_dict()
            if self.scaler is not None:
                out["scaler"] = self.scaler.state_dict()
        return out

    def set_state(self, state: dict[str, Any], *, weights_only: bool = False) -> None:
        self.model.load_state_dict(state["model"])
        if not weights_only:
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scaler is not None and isinstance(state.get("scaler"), dict):
                self.scaler.load_state_dict(state["scaler"])

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, weight: float = 1.0) -> tuple[float, dict[str, float]]:
        x = x.contiguous(memory_format=torch.channels_last)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, enabled=self.amp):
            logits = self.train_model(x)
            loss = self.loss_fn(logits, y)
        self._step(loss, weight)
        return float(loss.detach()), {"correct": float((logits.detach().argmax(1) == y).sum())}

    def _step(self, loss: torch.Tensor, weight: float = 1.0) -> None:
        if weight != 1.0:
            loss = loss * weight
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> np.ndarray:
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, enabled=self.amp):
            logits = self.model(x)
        return logits.float().cpu().numpy()

    def train_mode(self) -> None:
        # Frozen BatchNorm layers keep their running statistics: a forward pre-hook set by the freezing
        # (models/_freeze.py) puts them back in eval mode, whoever calls train().
        self.model.train()

    def eval_mode(self) -> None:
        self.model.eval()

    def reseed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def weights(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def load_weights(self, weights: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(weights)

    def save(self, path: Path, meta: dict[str, Any], weights: Any | None = None) -> None:
        state = self.state()
        if weights is not None:
            state["model"] = weights
        state.update(meta=json.dumps(meta),
                     digest=weights_digest(state["model"]))  # torch keeps no checksum of its own: a flipped bit loads
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(path, buf.getvalue())

    def load(self, path: Path, *, weights_only: bool = False) -> dict[str, Any]:
        damage = zip_damage(path)  # torch.load checks no CRC: a flipped bit in the optimizer state would load
        if damage:
            raise unreadable(path, damage)
        try:  # weights_only: tensors and containers only, no code runs from the file
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - unpickling refusals, zip and I/O errors of a damaged file
            raise unreadable(path, exc) from None
        if not isinstance(state, dict) or not isinstance(state.get("model"), dict) or (
                not weights_only and not isinstance(state.get("optimizer"), dict)):
            raise unreadable(path, "not a checkpoint of this program: expected a dict with 'model' and 'optimizer'")
        meta = parse_meta(state.get("meta", "{}"), path)
        try:
            intact = "digest" not in state or state["digest"] == weights_digest(state["model"])
        except (TypeError, RuntimeError) as exc:
            raise unreadable(path, f"its weights are not tensors: {exc}") from None
        if not intact:
            raise unreadable(path, "its weights do not match their checksum: the file is damaged")
        with loading(path):
            self.set_state(state, weights_only=weights_only)
        return meta

    def parameter_counts(self) -> tuple[int, int]:
        from visionbench.costs import count_parameters

        return count_parameters(self.model)

    def flops_per_image(self, input_shape: tuple[int, int, int]) -> int | None:
        from visionbench.costs import flops_per_image

        try:
            return int(flops_per_image(self.model, input_shape))
        except Exception:  # a model the FLOP counter cannot trace: report no number rather than a wrong one
            return None


class DetectionBackend(TorchBackend):
    """Adapter for torchvision-style detectors: ``model(images, targets)`` returns a dict of losses in training
    mode, ``model(images)`` one ``{"boxes", "labels", "scores"}`` per image in evaluation mode.

    The loss is the sum of the loss terms; each term is reported summed over the batch's images. Predicted labels
    come back shifted from torchvision's 1..K (0 is its background) to the dataset's 0..K-1.
    """

    channels_last = False  # images of any size go through the detector's own transform

    def train_step(self, x: list[torch.Tensor], y: list[dict[str, torch.Tensor]],
                   weight: float = 1.0) -> tuple[float, dict[str, float]]:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, enabled=self.amp):
            losses = self.train_model(x, y)
            loss = sum(losses.values())
        self._step(loss, weight)  # type: ignore[arg-type]
        n = float(len(x))
        return float(loss.detach()), {k: float(v.detach()) * n for k, v in losses.items()}

    @torch.no_grad()
    def predict(self, x: list[torch.Tensor]) -> list[dict[str, np.ndarray]]:
        with torch.autocast(self.device.type, enabled=self.amp):
            out = self.model(x)
        return [{"boxes": o["boxes"].float().cpu().numpy(), "labels": o["labels"].cpu().numpy() - 1,
                 "scores": o["scores"].float().cpu().numpy()} for o in out]

    def flops_per_image(self, input_shape: tuple[int, int, int]) -> int | None:
        from visionbench.costs import flops_per_image

        try:  # the detector takes a list of images; counted on one blank image (few proposals survive on it)
            return int(flops_per_image(_ListInput(self.model), input_shape))
        except Exception:  # the FLOP counter cannot trace every detector: no number rather than a wrong one
            return None


class _ListInput(nn.Module):
    """Presents a detector, which takes a list of images, to the FLOP counter, which passes one batch tensor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> Any:
        return self.model(list(x))


class ScratchBackend(Backend):
    """Adapter for models of the NumPy engine (``visionbench.scratch``).

    Its optimiser follows the same rule as :class:`TorchBackend`'s parameter groups: the classifier head (the
    model's ``get_classifier()``, else its last layer with parameters) at full lr, every other parameter at
    ``lr * backbone_lr_scale``, and no weight decay on biases and normalisation parameters.
    """

    engine = "scratch"
    checkpoint_suffix = ".npz"

    def __init__(self, model: Any, cfg: TrainConfig) -> None:
        from visionbench import scratch

        self.model = model
        self.layout = getattr(model, "input_layout", "flat")
        self.dtype = np.float64 if getattr(model, "dtype", None) in ("float64", np.float64) else np.float32
        optimizer, lr, momentum, nesterov, weight_decay, label_smoothing = _resolved(
            cfg, "optimizer", "lr", "momentum", "nesterov", "weight_decay", "label_smoothing"
        )
        options = scratch.param_options(model, cfg.backbone_lr_scale)  # lr_scale and no_decay, as the torch groups
        if optimizer == "sgd":
            self.optimizer: scratch.Optimizer = scratch.SGDOptimizer(
                model, lr=lr, momentum=momentum, nesterov=bool(nesterov and momentum), weight_decay=weight_decay,
                **options,
            )
        else:
            self.optimizer = scratch.AdamOptimizer(
                model, lr=lr, weight_decay=weight_decay, decoupled=optimizer == "adamw", **options
            )
        self.loss = scratch.CELogSoftmax(label_smoothing=label_smoothing)

    def _to_layout(self, x: torch.Tensor) -> np.ndarray:
        arr = x.detach().cpu().numpy().astype(self.dtype, copy=False)
        b = arr.shape[0]
        if self.layout == "flat":
            return arr.reshape(b, -1)  # (B, C*H*W)
        if self.layout == "seq":
            return arr.reshape(b, -1, 1)  # (B, C*H*W, 1)
        if self.layout == "nhwc":
            return np.ascontiguousarray(arr.transpose(0, 2, 3, 1))  # (B, H, W, C)
        raise ValueError(f"unknown input_layout {self.layout!r}")

    def set_lr(self, lr: float) -> None:
        self.optimizer.lr = lr

    def train_step(self, x: torch.Tensor, y: torch.Tensor, weight: float = 1.0) -> tuple[float, dict[str, float]]:
        xb = self._to_layout(x)
        yb = y.cpu().numpy()
        self.optimizer.zero_grad()
        logits = self.model.forward(xb)
        losses = self.loss.forward(yb, logits)
        # The engine's losses return per-example gradients: average over the batch like torch's 'mean'.
        delta = self.loss.backward(yb, logits) / len(yb)
        if weight != 1.0:
            delta = delta * weight
        self.model.backward(delta)
        self.optimizer.step()
        return float(np.mean(losses)), {"correct": float((logits.argmax(1) == yb).sum())}

    def predict(self, x: torch.Tensor) -> np.ndarray:
        return np.asarray(self.model.forward(self._to_layout(x)), dtype=np.float32)

    def train_mode(self) -> None:
        self.model.train()

    def eval_mode(self) -> None:
        self.model.eval()

    def reseed(self, seed: int) -> None:
        self.model.set_rng(np.random.default_rng(seed))

    def weights(self) -> dict[str, np.ndarray]:
        return copy.deepcopy(self.model.state_dict())

    def load_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.model.load_state_dict(weights)

    def save(self, path: Path, meta: dict[str, Any], weights: Any | None = None) -> None:
        arrays = {f"model/{k}": v for k, v in (weights if weights is not None else self.model.state_dict()).items()}
        opt_state = self.optimizer.state_dict()
        arrays.update({f"optim/{k}": np.asarray(v) for k, v in flatten(opt_state).items()})
        arrays["meta"] = np.array(json.dumps(meta))
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())

    def load(self, path: Path, *, weights_only: bool = False) -> dict[str, Any]:
        try:  # allow_pickle=False: arrays only; reading each member whole checks its CRC (zipfile.BadZipFile)
            with np.load(path, allow_pickle=False) as data:
                if not hasattr(data, "files"):
                    raise ValueError("a single .npy array, not an .npz archive")
                arrays = {k: data[k] for k in data.files}
        except Exception as exc:  # noqa: BLE001 - zip, CRC, pickle refusals and I/O errors of a damaged file
            raise unreadable(path, exc) from None
        if "meta" not in arrays or arrays["meta"].ndim != 0:
            raise unreadable(path, "no 'meta' entry: not a checkpoint of this program")
        meta = parse_meta(str(arrays["meta"]), path)
        with loading(path):
            self.model.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("model/")})
            if not weights_only:
                opt = {k[6:]: v for k, v in arrays.items() if k.startswith("optim/")}
                self.optimizer.load_state_dict(unflatten(opt))
        return meta

    def parameter_counts(self) -> tuple[int, int]:
        n = sum(int(p.size) for _, p, _ in self.model.named_parameters())
        return n, n

    def flops_per_image(self, input_shape: tuple[int, int, int]) -> int | None:
        fn = getattr(self.model, "flops_per_example", None)
        return int(fn()) if fn else None


def make_backend(engine: str, model: Any, cfg: TrainConfig, device: torch.device, *,
                 task: str = "classification") -> Backend:
    """The backend for ``engine`` ("torch" or "scratch") and ``task`` ("classification" or "detection")."""
    if engine == "scratch":
        return ScratchBackend(model, cfg)
    if task == "detection":
        return DetectionBackend(model, cfg, device)
    return TorchBackend(model, cfg, device)
