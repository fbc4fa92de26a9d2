"""Detection figures: boxes where the targets and predictions say, label-score texts, PR lines with their AP."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex

from visionbench.data.scenes import SceneConfig, load_scenes_dataset
from visionbench.detection.figures import GT_COLOR, PRED_COLOR, detections_figure, pr_figure
from visionbench.detection.metrics import evaluate_detections, precision_recall_curve


def _png(fig) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    return buf.getvalue()


def _by_gid(fig, gid: str) -> list:
    return fig.findobj(lambda a: a.get_gid() == gid)


@pytest.fixture(scope="module")
def scenes():
    cfg = SceneConfig(train_scenes=1, test_scenes=6, canvas=64, min_scale=14, max_scale=24, seed=2)
    return load_scenes_dataset("digits", cfg=cfg)


def test_detections_figure_draws_every_box_and_label(scenes) -> None:
    test = scenes.test
    preds = []
    for t in test.targets:  # the truth shifted by one pixel with score 0.9, plus one box under the threshold
        boxes = np.concatenate([t["boxes"] + 1, [[0, 0, 5, 5]]]).astype(np.float32)
        preds.append({"boxes": boxes, "labels": np.append(t["labels"], 0), "scores": np.append(
            np.full(len(t["labels"]), 0.9), 0.3)})
    fig = detections_figure(test.images, test.targets, preds, scenes.classes, max_images=4, cols=2)
    assert len(fig.axes) == 4
    n_gt = sum(len(t["labels"]) for t in test.targets[:4])
    gt = _by_gid(fig, "ground-truth")
    assert len(gt) == n_gt and all(to_hex(r.get_edgecolor()) == GT_COLOR and r.get_linestyle() == "--" for r in gt)
    pred = _by_gid(fig, "prediction")
    assert len(pred) == n_gt and all(to_hex(r.get_edgecolor()) == PRED_COLOR for r in pred)  # 0.3 < 0.5 not drawn
    x1, y1, x2, y2 = test.targets[0]["boxes"][0]
    first = [r for r in gt if r.axes is fig.axes[0]]
    assert any(r.get_xy() == (x1 - 0.5, y1 - 0.5) and r.get_width() == x2 - x1 and r.get_height() == y2 - y1
               for r in first)
    texts = sorted(t.get_text() for t in _by_gid(fig, "prediction-label") if t.axes is fig.axes[0])
    assert texts == sorted(f"{scenes.classes[k]} 0.90" for k in test.targets[0]["labels"])
    k0 = len(test.targets[0]["labels"])
    assert k0 > 1 and fig.axes[0].get_title() == f"{k0} objects, {k0} boxes"
    assert _png(fig).startswith(b"\x89PNG")
    low = detections_figure(test.images, test.targets, preds, scenes.classes, score_threshold=0.2, max_images=4)
    assert len(_by_gid(low, "prediction")) == n_gt + 4


def test_detections_figure_without_predictions_rgb_and_errors() -> None:
    images = [np.zeros((3, 20, 30), np.uint8), np.full((3, 10, 10), 255, np.uint8)]  # sizes differ
    targets = [{"boxes": [[2, 3, 10, 12]], "labels": [1]}, {"boxes": np.zeros((0, 4)), "labels": []}]
    fig = detections_figure(images, targets, None, ["a", "b"])
    assert len(fig.axes) == 2 and len(_by_gid(fig, "ground-truth")) == 1 and not _by_gid(fig, "prediction")
    assert [ax.get_title() for ax in fig.axes] == ["1 object, 0 boxes", "0 objects, 0 boxes"]
    assert _png(fig).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="at least one image"):
        detections_figure(np.zeros((0, 1, 8, 8), np.uint8), [], None, ["a"])
    with pytest.raises(ValueError, match="1 predictions for 2 images"):
        detections_figure(images, targets, [{}], ["a", "b"])
    with pytest.raises(ValueError, match="2 boxes, 1 labels, 1 scores"):
        detections_figure(images[:1], None, [{"boxes": np.zeros((2, 4)), "labels": [0], "scores": [1.0]}], ["a"])


def test_pr_figure_one_line_per_class_with_ground_truth_and_the_mean() -> None:
    classes = ["zero", "one", "two"]
    gt = [{"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "labels": [0, 1]}, {"boxes": [[5, 5, 15, 15]], "labels": [1]}]
    preds = [
        {"boxes": [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], "labels": [0, 1, 1],
         "scores": [0.9, 0.8, 0.95]},
        {"boxes": [[30, 30, 40, 40]], "labels": [1], "scores": [0.7]},  # one: a false positive on top, a miss
    ]
    curve = precision_recall_curve(gt, preds, classes)
    ev = evaluate_detections(gt, preds, classes)
    fig = pr_figure(curve, classes)
    ax = fig.axes[0]
    assert {line.get_gid() for line in ax.lines} == {"class:zero", "class:one", "mean", "no-ground-truth"}
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"zero (AP {ev.ap(0.5, k=0):.3f})" in labels and f"one (AP {ev.ap(0.5, k=1):.3f})" in labels
    assert f"mean (AP {ev.ap(0.5):.3f})" in labels and "no ground truth: two" in labels
    assert ev.ap(0.5, k=0) == pytest.approx(1.0) and ev.ap(0.5, k=1) < 0.6  # the curves differ
    mean = next(line for line in ax.lines if line.get_gid() == "mean")
    assert np.allclose(mean.get_ydata(), curve.precision) and ax.get_title() == "precision-recall at IoU 0.5"
    saved = json.loads(json.dumps(curve.to_dict()))  # as read back from a results file
    again = pr_figure(saved, classes)
    assert [t.get_text() for t in again.axes[0].get_legend().get_texts()] == labels
    assert _png(fig).startswith(b"\x89PNG")


def test_package_names_load_lazily_and_without_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, visionbench.detection as d; assert 'matplotlib' not in sys.modules; "
        "assert all(getattr(d, n) is not None for n in d.__all__); "
        "import visionbench.data; visionbench.data.load_dataset('scenes:digits', options={'train_scenes': 1, "
        "'test_scenes': 1}); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
