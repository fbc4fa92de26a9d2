"""AlexNet / VGG16 wrappers and the transfer-learning helpers: weights from a file, a run dir, ImageNet (offline),
freezing, parameter groups. Every checkpoint is created here; nothing touches the network."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
from copy import deepcopy
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from visionbench.errors import ConfigError, RunError, VisionbenchError
from visionbench.models import create_model
from visionbench.models._freeze import apply_freeze
from visionbench.models._weights import load_matching, load_state_dict_file
from visionbench.train.optim import param_groups

SMALL = dict(num_classes=10, in_chans=1, img_size=28, head_width=32)


def _one_line(exc: pytest.ExceptionInfo[VisionbenchError]) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def _small_torchvision_alexnet(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    # A torchvision AlexNet with its 1000-class head; the hidden layers shrunk to 32 to keep the file small.
    torch.manual_seed(123)
    net = torchvision.models.alexnet(weights=None)
    net.classifier[1] = nn.Linear(256 * 6 * 6, 32)
    net.classifier[4] = nn.Linear(32, 32)
    net.classifier[6] = nn.Linear(32, 1000)
    path = tmp_path / "alexnet_tv.pth"
    torch.save(net.state_dict(), path)
    return path, net.state_dict()


def _fake_run(tmp_path: Path, model_name: str, model: nn.Module, ckpt: str = "best.pt") -> Path:
    run = tmp_path / f"20260101-000000-{model_name}-fashion-mnist"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": model_name, "dataset": "fashion-mnist", "seed": 0}))
    torch.save({"model": model.state_dict(), "epoch": 3}, run / "checkpoints" / ckpt)
    return run


def test_parameter_counts_at_1000_classes() -> None:
    with torch.device("meta"):
        counts = {
            n: sum(p.numel() for p in create_model(n, num_classes=1000, in_chans=3, img_size=224).parameters())
            for n in ("alexnet", "vgg16", "vgg16_bn")
        }
    assert counts == {"alexnet": 61_100_840, "vgg16": 138_357_544, "vgg16_bn": 138_365_992}


@pytest.mark.parametrize("name,size,chans", [("alexnet", 28, 1), ("vgg16", 32, 3), ("vgg16_bn", 28, 1)])
def test_forward_backward_and_contract(name: str, size: int, chans: int) -> None:
    torch.manual_seed(0)
    m = create_model(name, num_classes=10, in_chans=chans, img_size=size, head_width=16)
    out = m(torch.randn(2, chans, size, size))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    feats = m.forward_features(torch.randn(2, chans, size, size))
    assert m.forward_head(feats, pre_logits=True).shape == (2, 16)
    m.reset_classifier(3)
    assert m.num_classes == 3 and m.get_classifier().out_features == 3
    assert m(torch.randn(1, chans, size, size)).shape == (1, 3)


def test_input_adapter_resizes_and_repeats() -> None:
    m = create_model("alexnet", **SMALL, input_size=70)
    x = m.adapter(torch.randn(2, 1, 28, 28))
    assert x.shape == (2, 3, 70, 70)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])
    conv = create_model("vgg16", num_classes=2, in_chans=4, img_size=32, head_width=8)
    assert conv.adapter.proj is not None and conv.adapter(torch.randn(1, 4, 32, 32)).shape == (1, 3, 32, 32)
    with pytest.raises(ConfigError, match="63"):
        create_model("alexnet", **SMALL, input_size=32)


def test_weights_from_torchvision_state_dict_replaces_head(tmp_path: Path) -> None:
    path, sd = _small_torchvision_alexnet(tmp_path)
    torch.manual_seed(0)
    m = create_model("alexnet", **SMALL, weights=str(path))
    own = m.state_dict()
    for key, value in sd.items():
        if key.startswith("classifier.6."):
            assert own[key].shape[0] == 10  # our new head
        else:
            assert torch.equal(own[key], value), key
    assert sorted(m.transfer_info["skipped"]) == ["classifier.6.bias", "classifier.6.weight"]
    assert m(torch.randn(1, 1, 28, 28)).shape == (1, 10)


def test_load_matching_reports_loaded_and_skipped() -> None:
    m = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    loaded, skipped = load_matching(m, {"0.weight": torch.ones(4, 3), "1.weight": torch.ones(5, 4), "x": torch.ones(1)})
    assert loaded == ["0.weight"] and sorted(skipped) == ["1.weight", "x"]
    assert torch.equal(m[0].weight, torch.ones(4, 3))


def test_bad_weight_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        create_model("alexnet", **SMALL, weights=str(tmp_path / "missing.pth"))
    assert "missing.pth" in _one_line(exc)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle\nat all")
    with pytest.raises(ConfigError) as exc:
        load_state_dict_file(junk)
    assert "junk.pth" in _one_line(exc)
    vit_file = tmp_path / "vit.pth"
    torch.save(create_model("vit_tutorial", num_classes=10, in_chans=1, img_size=28).state_dict(), vit_file)
    with pytest.raises(ConfigError) as exc:
        create_model("alexnet", **SMALL, weights=str(vit_file))
    assert "none of its" in _one_line(exc)


def test_init_from_run_dir(tmp_path: Path) -> None:
    torch.manual_seed(1)
    src = create_model("alexnet", **SMALL)
    run = _fake_run(tmp_path, "alexnet", src)
    torch.manual_seed(2)
    dst = create_model("alexnet", **SMALL, init_from=str(run))
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value), key
    # last.pt is the fallback when there is no best.pt
    run2 = _fake_run(tmp_path / "b", "alexnet", src, ckpt="last.pt")
    assert torch.equal(
        create_model("alexnet", **SMALL, init_from=str(run2)).classifier[6].weight, src.classifier[6].weight
    )


def test_init_from_errors(tmp_path: Path) -> None:
    run = _fake_run(tmp_path, "vgg16", nn.Linear(1, 1))
    with pytest.raises(ConfigError) as exc:
        create_model("alexnet", **SMALL, init_from=str(run))
    assert "'vgg16', not 'alexnet'" in _one_line(exc)
    with pytest.raises(RunError):
        create_model("alexnet", **SMALL, init_from=str(tmp_path / "nowhere"))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps({"model": "alexnet"}))
    with pytest.raises(RunError, match="best.pt"):
        create_model("alexnet", **SMALL, init_from=str(empty))
    with pytest.raises(ConfigError, match="pick one"):
        create_model("alexnet", **SMALL, init_from=str(run), weights="x.pth")


def test_imagenet_offline_fails_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def no_network(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    with pytest.raises(ConfigError) as exc:
        create_model("vgg16_bn", num_classes=10, in_chans=1, img_size=28, head_width=8, weights="imagenet")
    msg = _one_line(exc)
    assert "vgg16_bn-6c64b313.pth" in msg and str(tmp_path / "checkpoints") in msg
    with pytest.raises(ConfigError, match="no ImageNet weights"):
        create_model("vit_tutorial", num_classes=10, in_chans=1, img_size=28, weights="imagenet")


def test_imagenet_from_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, sd = _small_torchvision_alexnet(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    path.rename(tmp_path / "checkpoints" / "alexnet-owt-7be5be79.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", pytest.fail)
    m = create_model("alexnet", **SMALL, weights="imagenet")
    assert torch.equal(m.features[0].weight, sd["features.0.weight"])


def _step(model: nn.Module) -> dict[str, torch.Tensor]:
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.SGD(param_groups(model, lr=0.1, backbone_lr_scale=1.0), lr=0.1)
    model.train()
    size = 32
    loss = model(torch.randn(4, 1, size, size)).logsumexp(1).mean()
    loss.backward()
    opt.step()
    return before


def test_freeze_features_really_freezes() -> None:
    torch.manual_seed(0)
    m = create_model("alexnet", num_classes=5, in_chans=1, img_size=32, head_width=16, freeze="features")
    before = _step(m)
    for name, p in m.named_parameters():
        changed = not torch.equal(before[name], p.detach())
        assert changed == (not name.startswith("features.")), name


def test_freeze_all_but_last_k_and_frozen_batchnorm_stays_eval() -> None:
    torch.manual_seed(0)
    m = create_model("vgg16_bn", num_classes=5, in_chans=1, img_size=32, head_width=16, freeze="all-but-last-2")
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.3.weight", "classifier.3.bias", "classifier.6.weight", "classifier.6.bias"}
    bn = m.features[1]
    stats = bn.running_mean.clone()
    before = _step(m)
    assert torch.equal(bn.running_mean, stats) and not bn.training
    for name, p in m.named_parameters():
        assert (not torch.equal(before[name], p.detach())) == (name in trainable), name
    apply_freeze(m, "none")  # unfreezing restores training mode for BatchNorm
    m.train()
    m(torch.randn(2, 1, 32, 32))
    assert not torch.equal(bn.running_mean, stats)


def test_freezing_survives_a_deep_copy_and_undoes_on_it() -> None:
    torch.manual_seed(0)
    m = apply_freeze(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)),
                     "all-but-last-1")
    copy = deepcopy(m)
    bn = copy[1]
    stats = bn.running_mean.clone()
    copy.train()
    copy(torch.randn(4, 1, 6, 6))
    assert torch.equal(bn.running_mean, stats) and not bn.training  # the hook came along with the copy
    apply_freeze(copy, "none")
    copy.train()
    copy(torch.randn(4, 1, 6, 6))
    assert bn.training and not torch.equal(bn.running_mean, stats)


def test_param_groups_do_not_import_torch_or_the_models() -> None:
    code = "import sys, visionbench.train.optim; print('torch' in sys.modules, 'visionbench.models' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_bad_freeze_modes() -> None:
    with pytest.raises(ConfigError, match="unknown mode"):
        create_model("vit_tutorial", num_classes=10, in_chans=1, img_size=28, freeze="some")
    with pytest.raises(ConfigError, match="between 1 and"):
        create_model("vit_tutorial", num_classes=10, in_chans=1, img_size=28, freeze="all-but-last-999")


def test_param_groups_lrs_and_weight_decay() -> None:
    m = create_model("alexnet", **SMALL, freeze="features")
    groups = param_groups(m, lr=0.01, backbone_lr_scale=0.1)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"backbone", "head"}
    assert by_name["head"]["lr"] == 0.01 and by_name["backbone"]["lr"] == pytest.approx(0.001)
    assert {id(p) for p in by_name["head"]["params"]} == {id(p) for p in m.get_classifier().parameters()}
    assert all(p.requires_grad for g in groups for p in g["params"])
    assert len(by_name["backbone"]["params"]) == 4  # classifier.1 and .4 weights and biases; features frozen
    vit = create_model("vit_tutorial", num_classes=10, in_chans=1, img_size=28)
    groups = {g["name"]: g for g in param_groups(vit, lr=1e-3, backbone_lr_scale=1.0, weight_decay=0.05)}
    assert groups["backbone"]["weight_decay"] == 0.05 and groups["backbone_no_decay"]["weight_decay"] == 0.0
    assert any(p is vit.cls_token for p in groups["backbone_no_decay"]["params"])
    total = sum(p.numel() for g in groups.values() for p in g["params"])
    assert total == sum(p.numel() for p in vit.parameters())
    assert [g["lr"] for g in param_groups(nn.Linear(2, 2), lr=0.5, backbone_lr_scale=0.1)] == [0.5]


def test_vit_init_from_and_freeze(tmp_path: Path) -> None:
    torch.manual_seed(0)
    src = create_model("vit_tutorial", num_classes=10, in_chans=1, img_size=28)
    run = _fake_run(tmp_path, "vit_tutorial", src)
    dst = create_model("vit_tutorial", num_classes=10, in_chans=1, img_size=28, init_from=str(run), freeze="features")
    assert torch.equal(dst.blocks[1].mlp.fc2.weight, src.blocks[1].mlp.fc2.weight)
    assert {n for n, p in dst.named_parameters() if p.requires_grad} == {"head.weight", "head.bias"}
    with pytest.raises(ConfigError):
        create_model("vit_tiny_patch4", num_classes=10, in_chans=1, img_size=28, init_from=str(run))


def test_init_from_a_damaged_checkpoint_is_refused(tmp_path: Path) -> None:
    # --init-from reads a run's best.pt like --resume does: its members' CRCs and the weights' SHA-256 (which every
    # checkpoint of this program carries) are checked; it used to load a changed tensor without a word.
    from visionbench.models._weights import weights_digest

    src = create_model("alexnet", **SMALL)
    run = _fake_run(tmp_path, "alexnet", src)
    best = run / "checkpoints" / "best.pt"
    state = {"model": src.state_dict(), "digest": weights_digest(src.state_dict())}
    torch.save(state, best)
    create_model("alexnet", **SMALL, init_from=str(run))  # intact: loads
    first = next(iter(state["model"]))
    state["model"][first] = state["model"][first] + 1.0  # other weights under the old digest, a valid zip
    torch.save(state, best)
    with pytest.raises(RunError) as exc:
        create_model("alexnet", **SMALL, init_from=str(run))
    assert "do not match their checksum" in _one_line(exc)
    raw = bytearray(best.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # a flipped bit: a zip member fails its CRC, or the zip is unreadable
    best.write_bytes(bytes(raw))
    with pytest.raises(RunError) as exc:
        create_model("alexnet", **SMALL, init_from=str(run))
    assert "best.pt: unreadable checkpoint" in _one_line(exc)
