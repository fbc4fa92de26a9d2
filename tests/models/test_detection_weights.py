"""Initial weights of the detectors, offline: COCO and ImageNet files from the torch hub cache (made here, in the
torchvision format), an earlier run (--init-from), freezing the backbone, and one-line refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from visionbench.errors import ConfigError
from visionbench.models import create_model

SMALL = {"num_classes": 3, "in_chans": 1, "img_size": 64}


def _hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enum: object, state: dict[str, torch.Tensor]) -> None:
    """Put ``state`` where torch hub keeps ``enum``'s file, and forbid any download."""
    cache = tmp_path / "checkpoints"
    cache.mkdir(exist_ok=True)
    torch.save(state, cache / Path(enum.url).name)  # type: ignore[attr-defined]
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", pytest.fail)


def test_coco_weights_load_all_but_the_class_predictor(tmp_path, monkeypatch):
    tvd = torchvision.models.detection
    coco = tvd.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=91).state_dict()
    _hub(tmp_path, monkeypatch, tvd.FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1, coco)
    model = create_model("fasterrcnn_mobilenet_v3_large_fpn", **SMALL, weights="coco")
    mine = model.state_dict()
    for key in ("backbone.body.0.0.weight", "rpn.head.conv.0.0.weight", "roi_heads.box_head.fc6.weight"):
        assert torch.equal(mine[key], coco[key]), key
    skipped = set(model.transfer_info["skipped"])
    assert {"roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.bbox_pred.weight"} <= skipped
    assert mine["roi_heads.box_predictor.cls_score.weight"].shape[0] == 4  # our 3 classes and the background


def test_imagenet_weights_go_into_the_backbone_body(tmp_path, monkeypatch):
    net = torchvision.models.mobilenet_v3_large(weights=None).state_dict()
    _hub(tmp_path, monkeypatch, torchvision.models.MobileNet_V3_Large_Weights.IMAGENET1K_V1, net)
    model = create_model("fasterrcnn_mobilenet_v3_large_fpn", **SMALL, weights="imagenet", freeze="features")
    assert torch.equal(model.backbone.body["0"][0].weight, net["features.0.0.weight"])
    assert model.transfer_info["source"] == "imagenet"
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.roi_heads.parameters())


def test_small_detector_from_an_earlier_run_and_frozen(tmp_path):
    from visionbench.train import TrainConfig, train

    tiny = {"widths": [8, 16, 16], "out_channels": 16, "representation": 32}
    run = train(TrainConfig(model="digit_frcnn", dataset="scenes:digits", steps=2, batch_size=4, threads=1,
                            dataset_options={"canvas": 64, "min_scale": 16, "max_scale": 32, "train_scenes": 12,
                                             "test_scenes": 4},
                            model_kwargs=tiny, output_dir=str(tmp_path), quiet=True, device="cpu"))
    saved = torch.load(run.run_dir / "checkpoints" / "best.pt", weights_only=True)["model"]
    model = create_model("digit_frcnn", num_classes=10, in_chans=1, img_size=64, init_from=str(run.run_dir),
                         freeze="features", **tiny)
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert any(p.requires_grad for p in model.rpn.parameters())


def test_refusals_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="digit_frcnn' has no ImageNet weights") as err:
        create_model("digit_frcnn", **SMALL, weights="imagenet")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="no COCO weights for 'vgg16'"):
        create_model("vgg16", num_classes=3, in_chans=1, img_size=32, weights="coco")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ConfigError) as err:
        create_model("fasterrcnn_resnet50_fpn", **SMALL, weights="coco")
    msg = str(err.value)
    assert "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth" in msg and str(tmp_path / "checkpoints") in msg
    assert "\n" not in msg
