"""Transfer learning shared by the model families: load weights, freeze parts, build optimizer parameter groups.

Weights come from three places, all optional and never needed by a test:

- ``weights="imagenet"``: torchvision's ImageNet weights (``AlexNet_Weights.IMAGENET1K_V1`` ...), read from the torch
  hub cache (``torch.hub.get_dir()/checkpoints``) or downloaded there; offline, one line says which file to put where.
- ``weights=PATH``: a torchvision-format state dict file (``torch.save(model.state_dict(), PATH)``); a visionbench
  checkpoint (a dict with key ``"model"``) is accepted too.
- ``init_from=RUN_DIR``: an earlier visionbench run of the same architecture (``checkpoints/best.pt``, else
  ``last.pt``), e.g. pre-trained on Fashion-MNIST and fine-tuned on digits.

Tensors whose name or shape does not match the model (the 1000-class ImageNet head against ours, a shrunk
classifier) are skipped and keep their fresh initialisation; the skipped names are logged and kept on the model
in ``model.transfer_info``.

Freezing (``freeze``): ``"none"``; ``"features"`` freezes the convolutional ``features`` block of torchvision-style
models (their fully connected classifier trains) and, for a model without a ``features`` block, every parameter
except ``get_classifier()``'s; ``"all-but-last-K"`` trains only the last K parameterised layers (modules owning
parameters, in registration order, which is execution order for our models). Frozen parameters get
``requires_grad=False`` and a BatchNorm layer whose parameters are frozen stays in eval mode even under
``model.train()`` (its running statistics stay the pretrained ones), through a forward pre-hook.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from visionbench.errors import ConfigError, RunError

__all__ = [
    "load_state_dict_file",
    "load_run_weights",
    "imagenet_state_dict",
    "load_matching",
    "apply_freeze",
    "param_groups",
    "init_pretrained",
    "InputAdapter",
    "build_torchvision_net",
    "reset_all",
    "TorchvisionClassifier",
]

logger = logging.getLogger(__name__)

# Registered name -> torchvision weight enum class holding IMAGENET1K_V1.
IMAGENET_WEIGHTS = {"alexnet": "AlexNet_Weights", "vgg16": "VGG16_Weights", "vgg16_bn": "VGG16_BN_Weights"}

_FREEZE_RE = re.compile(r"^all-but-last-(\d+)$")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


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


def load_run_weights(run_dir: str | os.PathLike[str], expected_model: str) -> dict[str, Tensor]:
    """The weights of an earlier visionbench run of the same architecture.

    Args:
        run_dir: a run directory (``config.json`` and ``checkpoints/best.pt`` or ``last.pt``).
        expected_model: the registered name of the model being built; the run must have trained the same one.

    Returns:
        The run's state dict (``checkpoints/best.pt``, else ``last.pt``, key ``"model"``).

    Raises:
        RunError: not a run directory, or no checkpoint in it.
        ConfigError: the run trained another architecture.
    """
    run = Path(run_dir)
    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        raise RunError(
            f"--init-from {run}: not a run directory (no config.json); give a folder made by `visionbench train`"
        )
    try:
        config = json.loads(cfg_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(
            f"--init-from {cfg_path}: unreadable ({_first_line(exc)}); the run directory is damaged"
        ) from None
    model = config.get("model")
    if isinstance(model, dict):
        model = model.get("name")
    if model != expected_model:
        raise ConfigError(
            f"--init-from {run}: that run trained {model!r}, not {expected_model!r}; "
            f"give a run of {expected_model!r} or use --model {model}"
        )
    for name in ("best.pt", "last.pt"):
        ckpt = run / "checkpoints" / name
        if ckpt.is_file():
            try:
                obj = torch.load(ckpt, map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001
                raise RunError(
                    f"--init-from {ckpt}: unreadable checkpoint ({_first_line(exc)}); re-run the training"
                ) from None
            return _as_state_dict(obj, f"--init-from {ckpt}")
    raise RunError(
        f"--init-from {run}: no checkpoints/best.pt or checkpoints/last.pt; give a run that saved its weights"
    )


def imagenet_state_dict(arch: str) -> dict[str, Tensor]:
    """torchvision's ImageNet weights of ``arch`` from the torch hub cache, downloaded there when possible.

    Raises:
        ConfigError: no ImageNet weights for ``arch``, or the file is not cached and cannot be downloaded (one line
            naming the expected file and the cache folder).
    """
    import torchvision

    if arch not in IMAGENET_WEIGHTS:
        raise ConfigError(
            f"--weights imagenet: no ImageNet weights for {arch!r} (only {', '.join(IMAGENET_WEIGHTS)}); "
            "use --weights PATH or --init-from RUN_DIR"
        )
    url = getattr(torchvision.models, IMAGENET_WEIGHTS[arch]).IMAGENET1K_V1.url
    file_name = os.path.basename(url)
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    if (cache / file_name).is_file():
        return load_state_dict_file(cache / file_name)
    try:
        obj = torch.hub.load_state_dict_from_url(
            url, model_dir=str(cache), map_location="cpu", progress=False, file_name=file_name, weights_only=True
        )
    except Exception as exc:  # noqa: BLE001 - URLError, socket errors, HTTP errors, partial files...
        raise ConfigError(
            f"--weights imagenet: {file_name} is not in {cache} and the download failed ({_first_line(exc)}); "
            f"offline, copy {file_name} (from {url}) into {cache}"
        ) from None
    return _as_state_dict(obj, f"--weights imagenet ({cache / file_name})")


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


def _parameterised_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]


def _stay_eval(module: nn.Module, args: Any) -> None:
    # Runs before every forward: a frozen BatchNorm normalises with its stored statistics and never updates them.
    module.training = False


def apply_freeze(model: nn.Module, mode: str) -> nn.Module:
    """Freeze part of ``model`` in place (see the module docstring for the modes).

    Args:
        model: a classifier with ``get_classifier()`` (needed for ``"features"`` when it has no ``features`` block).
        mode: ``"none"``, ``"features"`` or ``"all-but-last-K"`` with K >= 1.

    Returns:
        ``model``.

    Raises:
        ConfigError: unknown mode, or K larger than the number of parameterised layers.
    """
    for p in model.parameters():
        p.requires_grad_(True)
    for m in model.modules():
        handle = m.__dict__.pop("_vb_freeze_hook", None)
        if handle is not None:
            handle.remove()
    if mode == "none":
        return model
    if mode == "features":
        features = getattr(model, "features", None)
        if isinstance(features, nn.Module):
            frozen = list(features.parameters())
        else:
            head = {id(p) for p in model.get_classifier().parameters()}  # type: ignore[operator]
            frozen = [p for p in model.parameters() if id(p) not in head]
    elif (match := _FREEZE_RE.match(mode)) is not None:
        k = int(match.group(1))
        layers = _parameterised_layers(model)
        if not 1 <= k <= len(layers):
            raise ConfigError(
                f"--freeze {mode}: K must be between 1 and {len(layers)} (the model's parameterised layers)"
            )
        keep = {id(p) for m in layers[-k:] for p in m.parameters(recurse=False)}
        frozen = [p for p in model.parameters() if id(p) not in keep]
    else:
        raise ConfigError(
            f"--freeze {mode!r}: unknown mode; use none, features or all-but-last-K (e.g. all-but-last-2)"
        )
    for p in frozen:
        p.requires_grad_(False)
    for m in model.modules():
        own = list(m.parameters(recurse=False))
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and own and not any(p.requires_grad for p in own):
            m.eval()
            m.__dict__["_vb_freeze_hook"] = m.register_forward_pre_hook(_stay_eval)
    return model


def _no_decay_names(model: nn.Module) -> set[str]:
    fn = getattr(model, "no_weight_decay", None)
    return set(fn()) if callable(fn) else set()


def param_groups(
    model: nn.Module, lr: float, backbone_lr_scale: float = 1.0, weight_decay: float | None = None
) -> list[dict[str, Any]]:
    """Optimizer parameter groups: the head at ``lr``, the rest at ``lr * backbone_lr_scale``; frozen ones left out.

    Args:
        model: any module; the head is ``model.get_classifier()`` when the model has it, else there is no head and
            every parameter gets ``lr``.
        lr: learning rate of the head.
        backbone_lr_scale: multiplier of ``lr`` for every other trainable parameter (e.g. 0.1 when fine-tuning).
        weight_decay: when given, each group is split in two: weight decay on matrices/kernels, none on biases,
            norm weights and the names in ``model.no_weight_decay()`` (positional embeddings, class token).
            When None, the groups carry no ``weight_decay`` key and the optimizer's default applies.

    Returns:
        A list of dicts with keys ``params``, ``lr``, ``name`` (``backbone``/``head``, ``_no_decay`` suffix) and
        ``weight_decay`` when asked; empty groups are omitted. Extra keys are kept by torch optimizers.
    """
    get_classifier = getattr(model, "get_classifier", None)
    head_ids = {id(p) for p in get_classifier().parameters()} if callable(get_classifier) else None
    skip_decay = _no_decay_names(model)
    groups: dict[tuple[str, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        part = "head" if head_ids is None or id(p) in head_ids else "backbone"
        no_decay = weight_decay is not None and (p.ndim <= 1 or name in skip_decay)
        groups.setdefault((part, no_decay), []).append(p)
    out: list[dict[str, Any]] = []
    for part in ("backbone", "head"):
        for no_decay in (False, True):
            params = groups.get((part, no_decay))
            if not params:
                continue
            group: dict[str, Any] = {
                "params": params,
                "lr": lr if part == "head" else lr * backbone_lr_scale,
                "name": part + ("_no_decay" if no_decay else ""),
            }
            if weight_decay is not None:
                group["weight_decay"] = 0.0 if no_decay else weight_decay
            out.append(group)
    return out


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
        weights: None, ``"imagenet"`` or a state dict file.
        init_from: a visionbench run directory.
        freeze: see :func:`apply_freeze`.
        imagenet: whether ``weights="imagenet"`` is possible for this family.

    Returns:
        ``model``, with ``model.transfer_info`` = {"source", "loaded", "skipped"} when weights were loaded.
    """
    if weights and init_from:
        raise ConfigError("--weights and --init-from both given; pick one source of initial weights")
    state: dict[str, Tensor] | None = None
    if weights:
        if weights.lower() == "imagenet":
            if not imagenet:
                raise ConfigError(
                    f"--weights imagenet: {arch!r} has no ImageNet weights; use --weights PATH or --init-from"
                )
            state, source = imagenet_state_dict(arch), "imagenet"
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


class InputAdapter(nn.Module):
    """Make any image batch fit a torchvision ImageNet architecture: 3 channels, ``input_size`` pixels a side.

    Grayscale is repeated to 3 channels (what ImageNet weights expect: R = G = B), 3 channels pass unchanged,
    any other count goes through a learnable 1x1 convolution (``channels="conv"`` forces it for 1 channel too).
    The side is resized bilinearly to ``input_size`` when it differs. Intensities are left as the pipeline
    normalised them (per-dataset mean/std): a standardised input has the same first and second moments the
    ImageNet-normalised inputs had, which is what the pretrained first layer is calibrated for.
    """

    def __init__(self, in_chans: int, input_size: int, channels: str = "repeat") -> None:
        super().__init__()
        if channels not in ("repeat", "conv"):
            raise ConfigError(f"channel_adapter={channels!r}: use 'repeat' or 'conv'")
        self.in_chans = in_chans
        self.input_size = input_size
        use_conv = in_chans not in (1, 3) or (channels == "conv" and in_chans != 3)
        self.proj = nn.Conv2d(in_chans, 3, kernel_size=1) if use_conv else None
        if self.proj is not None:
            # Start as the channel mean copied to R, G, B: the repeat adapter generalised.
            nn.init.constant_(self.proj.weight, 1.0 / in_chans)
            nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.proj is not None:
            x = self.proj(x)
        elif x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # (B, 3, H, W)
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = nn.functional.interpolate(
                x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False
            )
        return x


def _rebuild_classifier(classifier: nn.Sequential, width: int) -> nn.Sequential:
    # Same layer layout (so indices and names stay torchvision's), hidden Linear widths set to `width`.
    linears = [i for i, m in enumerate(classifier) if isinstance(m, nn.Linear)]
    layers = list(classifier)
    for i in linears:
        m = layers[i]
        in_f = m.in_features if i == linears[0] else width
        out_f = m.out_features if i == linears[-1] else width
        layers[i] = nn.Linear(in_f, out_f)
    return nn.Sequential(*layers)


def reset_all(net: nn.Module) -> None:
    """PyTorch's default initialisation of every layer (weights and BatchNorm running statistics)."""
    for m in net.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()


def build_torchvision_net(
    factory: Callable[..., nn.Module],
    *,
    num_classes: int,
    head_width: int,
    dropout: float,
    init: Callable[[nn.Module], None] = reset_all,
) -> nn.Module:
    """A torchvision network with ``weights=None``, its classifier's hidden width set to ``head_width``.

    The network is built on the meta device, resized, then materialised on the current default device and
    initialised by ``init``: the 4096-wide layers a smaller head replaces are never allocated (VGG16's first one
    alone holds 102 M parameters), which keeps small models and tests fast.
    """
    device = torch.empty(0).device
    with torch.device("meta"):
        net = factory(weights=None, num_classes=num_classes, dropout=dropout)
        if head_width != net.classifier[-1].in_features:
            net.classifier = _rebuild_classifier(net.classifier, head_width)
    net = net.to_empty(device=device)
    with torch.no_grad():
        init(net)
    return net


class TorchvisionClassifier(nn.Module):
    """A torchvision ``features`` / ``avgpool`` / ``classifier`` network (AlexNet, VGG) behind an input adapter.

    The submodules keep torchvision's names, so torchvision state dicts load key for key.
    ``forward_features`` = adapter + features + avgpool + flatten; ``forward_head`` = the classifier, whose last
    Linear is ``get_classifier()`` (the new head when fine-tuning).

    Args:
        net: a torchvision AlexNet or VGG (see :func:`build_torchvision_net`).
        in_chans: input channels.
        input_size: side the adapter resizes to.
        channel_adapter: ``"repeat"`` or ``"conv"`` (see :class:`InputAdapter`).
    """

    def __init__(self, net: nn.Module, *, in_chans: int, input_size: int, channel_adapter: str = "repeat") -> None:
        super().__init__()
        self.adapter = InputAdapter(in_chans, input_size, channel_adapter)
        self.features = net.features
        self.avgpool = net.avgpool
        self.classifier = net.classifier
        self.head_in = self.classifier[-1].in_features
        self.num_classes = self.classifier[-1].out_features

    def get_classifier(self) -> nn.Module:
        return self.classifier[-1]

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier[-1] = nn.Linear(self.head_in, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: Tensor) -> Tensor:
        """Images (B, C, H, W) -> flattened pooled features (B, 256*6*6 for AlexNet, 512*7*7 for VGG)."""
        x = self.avgpool(self.features(self.adapter(x)))
        return torch.flatten(x, 1)  # (B, C*h*w)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Features -> logits, or the last hidden activations if ``pre_logits``."""
        x = self.classifier[:-1](x)
        return x if pre_logits else self.classifier[-1](x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))
