"""Initial weights for the torch model families: read them, copy the matching tensors, then freeze.

Weights come from three places, all optional and never needed by a test:

- ``weights="imagenet"``: torchvision's ImageNet weights (``AlexNet_Weights.IMAGENET1K_V1`` ...), read from the torch
  hub cache (``torch.hub.get_dir()/checkpoints``) or downloaded there; offline, one line says which file to put where.
- ``weights=PATH``: a torchvision-format state dict file (``torch.save(model.state_dict(), PATH)``); a visionbench
  checkpoint (a dict with key ``"model"``) is accepted too.
- ``init_from=RUN_DIR``: an earlier visionbench run of the same architecture (``checkpoints/best.pt``, else
  ``last.pt``), e.g. pre-trained on Fashion-MNIST and fine-tuned on digits.

Tensors whose name or shape does not match the model (the 1000-class ImageNet head against ours, a shrunk
classifier) are skipped and keep their fresh initialisation; the skipped names are logged and kept on the model
in ``model.transfer_info``. Freezing is :mod:`visionbench.models._freeze`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from visionbench.errors import ConfigError, RunError, first_line
from visionbench.models._freeze import apply_freeze
from visionbench.runs import CHECKPOINT_NAMES, checkpoint_path, read_run

__all__ = [
    "IMAGENET_WEIGHTS",
    "RUN_CHECKPOINTS",
    "load_state_dict_file",
    "load_run_weights",
    "weights_digest",
    "zip_damage",
    "hub_state_dict",
    "HUB_WEIGHTS",
    "load_matching",
    "init_pretrained",
]

logger = logging.getLogger(__name__)

# Registered name -> torchvision weight enum class holding IMAGENET1K_V1.
IMAGENET_WEIGHTS = {"alexnet": "AlexNet_Weights", "vgg16": "VGG16_Weights", "vgg16_bn": "VGG16_BN_Weights"}
# (registered name, --weights word) -> (torchvision weight enum class, member, (key prefix in the file, key prefix in
# our model)): the detectors take COCO weights (the whole detector but its class-specific predictor) or ImageNet
# weights of their backbone network (its body in the detector).
HUB_WEIGHTS: dict[tuple[str, str], tuple[str, str, tuple[str, str]]] = {
    **{(arch, "imagenet"): (enum, "IMAGENET1K_V1", ("", "")) for arch, enum in IMAGENET_WEIGHTS.items()},
    ("fasterrcnn_resnet50_fpn", "coco"): ("FasterRCNN_ResNet50_FPN_Weights", "COCO_V1", ("", "")),
    ("fasterrcnn_resnet50_fpn", "imagenet"): ("ResNet50_Weights", "IMAGENET1K_V1", ("", "backbone.body.")),
    ("fasterrcnn_mobilenet_v3_large_fpn", "coco"): ("FasterRCNN_MobileNet_V3_Large_FPN_Weights", "COCO_V1", ("", "")),
    ("fasterrcnn_mobilenet_v3_large_fpn", "imagenet"): ("MobileNet_V3_Large_Weights", "IMAGENET1K_V1",
                                                        ("features.", "backbone.body.")),
}

# The checkpoints of a run directory that hold its weights, preferred first (the layout is visionbench.runs's).
RUN_CHECKPOINTS = tuple(f"checkpoints/{checkpoint_path('.', n).name}" for n in CHECKPOINT_NAMES)


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {first_line(exc)}" if str(exc).strip() else type(exc).__name__


def _as_state_dict(obj: Any, where: str) -> dict[str, Tensor]:
    # Unwrap visionbench checkpoints ({"model": sd}) and the common {"state_dict": sd} layout.
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ConfigError(f"{where}: not a state dict of tensors; save one with torch.save(model.state_dict(), path)")
    # DataParallel / DDP checkpoints prefix every key with "module.".
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a state dict saved with ``torch.save`` (``weights_only=True``: no code runs from the file).

    Args:
        path: a ``.pth``/``.pt`` file holding a state dict, or a checkpoint dict with key ``"model"``.

    Returns:
        The state dict, tensors on the CPU.

    Raises:
        ConfigError: the file is missing, unreadable or not a state dict.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--weights {p}: no such file; give a torchvision-format state dict file or 'imagenet'")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise ConfigError(
            f"--weights {p}: not a readable PyTorch state dict ({_first_line(exc)}); "
            "save one with torch.save(model.state_dict(), path)"
        ) from None
    return _as_state_dict(obj, f"--weights {p}")


def weights_digest(state: dict[str, Any]) -> str:
    """SHA-256 of a state dict's names, dtypes, shapes and bytes, in name order (what a checkpoint of this program
    stores under ``digest``: torch keeps no checksum of its own, so a flipped bit would load as other weights)."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(state, key=str):
        value = state[name]
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name!r} is a {type(value).__name__}, not a tensor")
        t = value.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")
    return h.hexdigest()


def zip_damage(path: str | os.PathLike[str]) -> str | None:
    """Why a zip-format torch file fails its members' CRC-32 checks (which torch.load never makes), or None when it
    passes them or is not a zip at all (torch.load then says what it is)."""
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    try:
        with archive:
            bad = archive.testzip()
    except Exception as exc:  # noqa: BLE001 - damaged headers or streams raise zipfile, zlib and value errors
        return _first_line(exc)
    return None if bad is None else f"member {bad} fails its CRC check: the file is damaged"


def load_run_weights(run_dir: str | os.PathLike[str], expected_model: str) -> dict[str, Tensor]:
    """The weights of an earlier visionbench run of the same architecture.

    Args:
        run_dir: a run directory (read by :func:`visionbench.runs.read_run`, weights in one of ``RUN_CHECKPOINTS``).
        expected_model: the registered name of the model being built; the run must have trained the same one.

    Returns:
        The run's state dict (``checkpoints/best.pt``, else ``last.pt``, key ``"model"``).

    Raises:
        RunError: not a run directory, or no checkpoint in it.
        ConfigError: the run trained another architecture.
    """
    try:
        run = read_run(run_dir)
    except RunError as exc:
        raise RunError(f"--init-from {exc}") from None
    model = run.config.get("model")
    if isinstance(model, dict):
        model = model.get("name")
    if model != expected_model:
        raise ConfigError(
            f"--init-from {run.path}: that run trained {model!r}, not {expected_model!r}; "
            f"give a run of {expected_model!r} or use --model {model}"
        )
    for name in RUN_CHECKPOINTS:
        ckpt = run.path / name
        if ckpt.is_file():
            damage = zip_damage(ckpt)
            try:
                if damage:
                    raise ValueError(damage)
                obj = torch.load(ckpt, map_location="cpu", weights_only=True)
                if isinstance(obj, dict) and isinstance(obj.get("model"), dict) and "digest" in obj and \
                        obj["digest"] != weights_digest(obj["model"]):
                    raise ValueError("its weights do not match their checksum: the file is damaged")
            except Exception as exc:  # noqa: BLE001
                raise RunError(
                    f"--init-from {ckpt}: unreadable checkpoint ({_first_line(exc)}); re-run the training"
                ) from None
            return _as_state_dict(obj, f"--init-from {ckpt}")
    raise RunError(
        f"--init-from {run.path}: no {' or '.join(RUN_CHECKPOINTS)}; give a run that saved its weights"
    )


def hub_state_dict(arch: str, word: str) -> dict[str, Tensor]:
    """torchvision's weights named ``word`` (``imagenet``, ``coco``) for ``arch``, from the torch hub cache,
    downloaded there when possible, with their keys renamed to ``arch``'s (see :data:`HUB_WEIGHTS`).

    Raises:
        ConfigError: no such weights for ``arch``, or the file is not cached and cannot be downloaded (one line
            naming the expected file and the cache folder).
    """
    import torchvision

    if (arch, word) not in HUB_WEIGHTS:
        have = sorted({a for a, w in HUB_WEIGHTS if w == word})
        raise ConfigError(
            f"--weights {word}: no {_WORDS.get(word, word)} weights for {arch!r} (only {', '.join(have)}); "
            "use --weights PATH or --init-from RUN_DIR"
        )
    enum, member, (prefix_from, prefix_to) = HUB_WEIGHTS[(arch, word)]
    url = getattr(getattr(torchvision.models, enum, None) or getattr(torchvision.models.detection, enum),
                  member).url
    file_name = os.path.basename(url)
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    if (cache / file_name).is_file():
        state = load_state_dict_file(cache / file_name)
    else:
        try:
            obj = torch.hub.load_state_dict_from_url(
                url, model_dir=str(cache), map_location="cpu", progress=False, file_name=file_name,
                weights_only=True,
            )
        except Exception as exc:  # noqa: BLE001 - URLError, socket errors, HTTP errors, partial files...
            raise ConfigError(
                f"--weights {word}: {file_name} is not in {cache} and the download failed ({_first_line(exc)}); "
                f"offline, copy {file_name} (from {url}) into {cache}"
            ) from None
        state = _as_state_dict(obj, f"--weights {word} ({cache / file_name})")
    return {prefix_to + k[len(prefix_from):]: v for k, v in state.items() if k.startswith(prefix_from)}


_WORDS = {"imagenet": "ImageNet", "coco": "COCO"}


def load_matching(model: nn.Module, state_dict: dict[str, Tensor]) -> tuple[list[str], list[str]]:
    """Copy into ``model`` every tensor of ``state_dict`` whose name and shape match.

    Args:
        model: the model to initialise; tensors that do not match keep their current values.
        state_dict: source tensors.

    Returns:
        (loaded, skipped): names of ``state_dict`` copied, and names ignored (unknown to the model or of another
        shape, such as a 1000-class head).
    """
    own = model.state_dict()
    matching: dict[str, Tensor] = {}
    skipped: list[str] = []
    for name, tensor in state_dict.items():
        if name in own and own[name].shape == tensor.shape:
            matching[name] = tensor
        else:
            skipped.append(name)
    model.load_state_dict(matching, strict=False)
    return list(matching), skipped


def init_pretrained(
    model: nn.Module,
    arch: str,
    *,
    weights: str | None = None,
    init_from: str | None = None,
    freeze: str = "none",
    imagenet: bool = True,
) -> nn.Module:
    """Load weights into ``model`` from one source, then freeze: what every builder's ``weights``/``init_from``/
    ``freeze`` arguments do.

    Args:
        model: the freshly built model.
        arch: its registered name (checked against an ``init_from`` run).
        weights: None, ``"imagenet"``, ``"coco"`` (detectors) or a state dict file.
        init_from: a visionbench run directory.
        freeze: see :func:`visionbench.models._freeze.apply_freeze`.
        imagenet: whether ``weights="imagenet"`` is possible for this family.

    Returns:
        ``model``, with ``model.transfer_info`` = {"source", "loaded", "skipped"} when weights were loaded.
    """
    if weights and init_from:
        raise ConfigError("--weights and --init-from both given; pick one source of initial weights")
    state: dict[str, Tensor] | None = None
    if weights:
        if weights.lower() in _WORDS:
            word = weights.lower()
            if word == "imagenet" and not imagenet:
                raise ConfigError(
                    f"--weights imagenet: {arch!r} has no ImageNet weights; use --weights PATH or --init-from"
                )
            state, source = hub_state_dict(arch, word), word
        else:
            state, source = load_state_dict_file(weights), str(weights)
    elif init_from:
        state, source = load_run_weights(init_from, arch), str(init_from)
    if state is not None:
        loaded, skipped = load_matching(model, state)
        if not loaded:
            raise ConfigError(
                f"{source}: none of its {len(state)} tensors matches {arch!r} (first: {next(iter(state))!r}); "
                f"give weights saved from {arch!r}"
            )
        if skipped:
            logger.warning("%s: %d tensors kept their fresh initialisation: %s", source, len(skipped), _short(skipped))
        model.transfer_info = {"source": source, "loaded": len(loaded), "skipped": skipped}
    return apply_freeze(model, freeze)


def _short(names: Iterable[str], n: int = 6) -> str:
    names = list(names)
    return ", ".join(names[:n]) + (f" ... (+{len(names) - n})" if len(names) > n else "")
