"""lab2: the quick study end to end (references beside ours, the detector, the rollout figure, the fine-tuning
weights), attention rollout against hand values, the hooks against the model's own attention, and the helpers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from visionbench.errors import ConfigError
from visionbench.runs import Run, checkpoint_path, read_run
from visionbench.studies._lab2_attention import attention_rollout, capture_attention, rollout_maps
from visionbench.studies._lab2_runs import head_free_weights, parse_user_weights
from visionbench.studies._runner import run_study
from visionbench.studies.lab2 import VARIANTS

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    return run_study("lab2", quick=True, out=tmp_path_factory.mktemp("study"))


def _summary(out) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"summary.json holds {name}")

    return json.loads((out / "summary.json").read_text(), parse_constant=refuse)


def test_rows_and_references(quick_run):
    summary = _summary(quick_run.out_dir)
    assert summary["status"] == "completed" and summary["quick"] is True
    rows = summary["rows"]
    by_key: dict[str, list[dict]] = {}
    for r in rows:
        by_key.setdefault(r["key"], []).append(r)
    # The published numbers sit beside ours, each with its source and caveat.
    assert [r["reference"] for r in by_key["cnn_test_accuracy"]] == [0.992]
    assert sorted(r["reference"] for r in by_key["vit_tutorial_test_accuracy"]) == [0.76, 0.97]
    assert sorted(r["reference"] for r in by_key["frcnn_test_accuracy"]) == [0.1135, 0.948, 0.9875]
    assert by_key["vgg16_frozen_test_accuracy"][0]["reference"] == 0.968
    assert by_key["vgg16_frozen_train_seconds"][0]["reference"] == 1068.0
    assert by_key["alexnet_frozen_test_accuracy"][0]["reference"] == 0.951
    for r in rows:
        if r["reference"] is not None:
            assert r["source"] and r["reference_dataset"].startswith("MNIST") and r["reference_note"], r["key"]
    # Every model was measured (one seed), and the CNN beats chance (0.1) by far even with 40 steps.
    for v in VARIANTS:
        acc = by_key[f"{v.key}_test_accuracy"][0]
        assert acc["n"] == 1 and acc["ours"] is not None and 0.0 <= acc["ours"] <= 1.0, v.key
    assert by_key["cnn_test_accuracy"][0]["ours"] > 0.7
    assert by_key["cnn_test_accuracy"][0]["difference"] == pytest.approx(by_key["cnn_test_accuracy"][0]["ours"]
                                                                          - 0.992)


def test_detector_part(quick_run):
    out = quick_run.out_dir
    part = json.loads((out / "parts" / "detector.json").read_text())
    values = {v["key"]: v["ours"] for v in part["values"]}
    for key in ("frcnn_test_map", "frcnn_test_map50", "frcnn_test_map75", "frcnn_test_accuracy"):
        assert values[key] is not None and 0.0 <= values[key] <= 1.0, key
    assert values["frcnn_test_map50"] >= values["frcnn_test_map75"]
    assert values["frcnn_test_loss"] is None  # no class-probability loss through detection
    no_box = values["frcnn_test_no_box"]
    assert no_box is not None and no_box == int(no_box) and 0 <= no_box <= 450
    run = read_run(out / part["data"]["runs"]["frcnn"]["0"])
    assert run.config["dataset"] == "scenes:digits" and run.config["dataset_options"]["canvas"] == 64
    assert run.results["task"] == "detection"
    summary = json.loads((out / "parts" / "summary.json").read_text())
    tables = {t["title"]: t for t in summary["tables"]}
    det = tables["Faster R-CNN: detection and classification through detection"]["rows"]
    # one seed: the mean as text with 3 decimals, no "±"
    assert len(det) == 1 and det[0][2] == f"{values['frcnn_test_map']:.3f}"
    main = tables["Every model on digits"]
    assert [r[0] for r in main["rows"]][-1].startswith("Faster R-CNN") and main["rows"][-1][4] == "n/a"
    assert len(main["rows"]) == len(VARIANTS) + 1
    assert all(r[-1] == 1 for r in main["rows"])  # one completed seed per row


def test_attention_figure_and_rollout(quick_run):
    from PIL import Image

    out = quick_run.out_dir
    fig = out / "figures" / "attention-rollout-seed0.png"
    assert fig.read_bytes()[:8] == PNG
    with Image.open(fig) as img:
        img.load()
        assert img.width > 600 and img.height > 300
    data = json.loads((out / "parts" / "attention.json").read_text())["data"]
    assert set(data) == {"vit_tutorial", "vit_tiny_patch4"}
    for key, d in data.items():
        maps = np.asarray(d["maps"])
        assert maps.shape == (8, 4, 4), key  # 8x8 digits at 16 px in 4x4 patches
        assert maps.min() >= 0 and np.allclose(maps.sum(axis=(1, 2)), 1, atol=1e-3), key
        assert d["min_entry"] >= 0 and d["max_row_sum_error"] < 1e-9, key
        assert sorted(d["labels"]) == list(range(8))  # one test image of each of the first 8 classes
    assert data["vit_tutorial"]["class_token"] and not data["vit_tiny_patch4"]["class_token"]
    html = (out / "report.html").read_text()
    assert "Abnar" in html and "0.992" in html and "data:image/png;base64," in html


def test_finetuning_starts_from_our_pretraining(quick_run):
    out = quick_run.out_dir
    pre = json.loads((out / "parts" / "pretrain.json").read_text())["data"]["sources"]
    assert set(pre) == {"alexnet", "vgg16"}
    finetune = json.loads((out / "parts" / "finetune.json").read_text())["data"]["runs"]
    for arch, model in (("alexnet", "alexnet"), ("vgg16", "vgg16_bn")):
        pre_run = read_run(out / pre[arch]["run"])
        assert pre_run.config["dataset"].startswith("imagefolder:") and pre_run.config["img_size"] == 8
        assert pre_run.config["dataset_info"]["test_size"] == 50
        weights = torch.load(out / pre[arch]["weights"], weights_only=True)
        # Only the head (classifier.6) is dropped: the two hidden Linear layers and the features stay.
        assert "classifier.6.weight" not in weights and "features.0.weight" in weights
        assert sum(k.startswith("classifier.") for k in weights) == 4
        frozen = read_run(out / finetune[f"{arch}_frozen"]["0"])
        unfrozen = read_run(out / finetune[f"{arch}_finetuned"]["0"])
        for run, freeze in ((frozen, "features"), (unfrozen, "none")):
            assert run.model == model and run.config["model_kwargs"]["freeze"] == freeze
            assert run.config["transfer"]["loaded"] == len(weights) and run.config["transfer"]["skipped"] == []
        assert frozen.results["params_trainable"] < frozen.results["params_total"]
        assert unfrozen.results["params_trainable"] == unfrozen.results["params_total"]


def test_resume_reuses_finished_runs(quick_run, tmp_path):
    # Copy without the checkpoints (large): a finished run is reused from its results, never retrained.
    copy = tmp_path / "copy"
    shutil.copytree(quick_run.out_dir, copy, ignore=shutil.ignore_patterns("*.pt"))
    (copy / "parts" / "scratch.json").unlink()
    (copy / "parts" / "summary.json").unlink()
    before = sorted(p.name for p in (copy / "runs").iterdir())
    result = run_study("lab2", resume=copy)
    assert sorted(p.name for p in (copy / "runs").iterdir()) == before
    ours = {r["key"]: r["ours"] for r in result.summary["rows"]}
    first = {r["key"]: r["ours"] for r in _summary(quick_run.out_dir)["rows"]}
    assert ours == first


def test_rollout_hand_values():
    # One layer, one head: (A + I) with rows renormalised.
    a = np.array([[[[1.0, 0.0], [0.5, 0.5]]]])  # (B=1, h=1, 2, 2)
    np.testing.assert_allclose(attention_rollout([a])[0], [[1.0, 0.0], [0.25, 0.75]])
    # Two heads are averaged first; two layers multiply later-on-the-left.
    b = np.array([[[[0.0, 1.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]]])  # mean [[0, 1], [0.5, 0.5]]
    b_hat = np.array([[0.5, 0.5], [0.25, 0.75]])
    a_hat = np.array([[1.0, 0.0], [0.25, 0.75]])
    r = attention_rollout([a, b])[0]
    np.testing.assert_allclose(r, b_hat @ a_hat)
    assert not np.allclose(r, a_hat @ b_hat)  # the order matters
    np.testing.assert_allclose(r.sum(axis=1), 1.0)


def test_rollout_maps():
    rng = np.random.default_rng(0)
    raw = rng.random((2, 5, 5))
    rollout = raw / raw.sum(axis=-1, keepdims=True)
    with_cls = rollout_maps(rollout, 1, 2)
    np.testing.assert_allclose(with_cls[0].ravel(), rollout[0, 0, 1:] / rollout[0, 0, 1:].sum())
    mean_rows = rollout_maps(rollout[:, 1:, 1:], 0, 2)
    expected = rollout[1, 1:, 1:].mean(axis=0)
    np.testing.assert_allclose(mean_rows[1].ravel(), expected / expected.sum())
    with pytest.raises(ValueError):
        rollout_maps(rollout, 0, 3)


@pytest.mark.parametrize("name", ["vit_tutorial", "vit_tiny_patch4"])
def test_hooks_read_the_models_attention(name):
    from visionbench.models import create_model

    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_chans=1, img_size=16).train()
    x = torch.randn(3, 1, 16, 16)
    out, maps = capture_attention(model, x)
    model.eval()
    with torch.no_grad():
        expected = model.forward_attention(x)
        plain = model(x)
    assert len(maps) == len(expected) == len(model.blocks)
    for got, want in zip(maps, expected, strict=True):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(out, plain)  # the hooks do not change the output
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())  # hooks removed


def test_capture_restores_training_mode():
    from visionbench.models import create_model

    model = create_model("vit_tutorial", num_classes=10, in_chans=1, img_size=16).train()
    capture_attention(model, torch.randn(1, 1, 16, 16))
    assert model.training
    with pytest.raises(ValueError, match="no attention module"):
        capture_attention(torch.nn.Linear(2, 2), torch.randn(1, 2))


def test_head_free_weights(tmp_path):
    from visionbench.models import create_model

    model = create_model("alexnet", num_classes=10, in_chans=1, img_size=8, head_width=16)
    run_dir = tmp_path / "run"
    ckpt = checkpoint_path(run_dir, "best")
    ckpt.parent.mkdir(parents=True)
    torch.save({"model": model.state_dict(), "optimizer": {}, "meta": {}}, ckpt)
    out = head_free_weights(Run(run_dir, {}, [], {}), tmp_path / "w.pt")
    kept = torch.load(out, weights_only=True)
    head = {f"classifier.6.{n}" for n, _ in model.get_classifier().named_parameters()}
    assert set(kept) == set(model.state_dict()) - head


def test_parse_user_weights():
    assert parse_user_weights(None) == {}
    assert parse_user_weights("imagenet") == {"alexnet": "imagenet", "vgg16": "imagenet"}
    assert parse_user_weights("vgg16=/w/vgg.pth") == {"vgg16": "/w/vgg.pth"}
    assert parse_user_weights("alexnet=a.pt, vgg16=b.pt") == {"alexnet": "a.pt", "vgg16": "b.pt"}
    for bad in ("resnet=a.pt", "a.pt", "alexnet="):
        with pytest.raises(ConfigError, match="--weights"):
            parse_user_weights(bad)


def test_finetuning_skipped_without_starting_weights(tmp_path):
    from visionbench.studies._study import Part, StudyRun
    from visionbench.studies.lab2 import STUDY, _finetune_kwargs, _train_variants

    study = StudyRun(STUDY, tmp_path, quick=True, seeds=[0], dataset=None, data_dir=None)
    study.parts.append({"name": "pretrain", "data": {"sources": {}}})  # both pre-trainings failed
    part = Part(study, "finetune", "finetune")
    _train_variants(study, "finetune", "digits", _finetune_kwargs(study))(part)
    assert not (tmp_path / "runs").exists() and part.values == []
    assert len(part.notes) == 4 and all("starting weights are missing" in n for n in part.notes)


def test_missing_dataset_is_one_line(tmp_path):
    from visionbench.data import dataset_status
    from visionbench.errors import DataError

    if dataset_status("mnist").found:
        pytest.skip("MNIST is on this machine")
    with pytest.raises(DataError, match=r"--dataset mnist: not found") as info:
        run_study("lab2", quick=True, dataset="mnist", out=tmp_path)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.glob("*/runs"))
