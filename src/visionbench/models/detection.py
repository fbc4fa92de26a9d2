"""Faster R-CNN detectors on torchvision's detection framework: a small one sized for digit scenes on a CPU, and
torchvision's standard builders for users with a GPU.

The contract (torchvision's ``FasterRCNN``): the input is a list of ``[C, H, W]`` float tensors in [0, 1] (sizes may
differ); in training mode ``model(images, targets)`` takes one dict per image with ``boxes`` (float ``[k, 4]``,
``x1, y1, x2, y2`` in pixels, ``x1 < x2`` and ``y1 < y2``) and ``labels`` (int64 ``[k]``, **1..num_classes**; 0 is
the background) and returns a dict of losses (``loss_classifier``, ``loss_box_reg``, ``loss_objectness``,
``loss_rpn_box_reg``); in evaluation mode ``model(images)`` returns one dict per image with ``boxes``, ``labels``
(1..num_classes) and ``scores``. A degenerate box raises ``AssertionError`` in training mode (torchvision's).
The pipeline's detection task shifts the dataset's labels 0..K-1 to 1..K and back.

``digit_frcnn``: nothing is upscaled (``min_size = max_size =`` the canvas, where torchvision's default resizes a
128-px scene to 800 px), a stride-8 backbone of 0.3 M parameters (2.1 M in all, mostly the box head), one feature
map, anchors of 16-48 px with aspect ratios (height / width) 1, 1.5 and 2 (digits are taller than wide), few
proposals, 64 sampled regions per image and ``sampling_ratio=1`` in RoIAlign (its backward runs on one CPU thread
and dominated the step otherwise), and a small two-layer box head.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

from visionbench.models._registry import register_model
from visionbench.recipe import Recipe

__all__ = ["SmallBackbone", "build_digit_frcnn", "build_torchvision_frcnn"]


def _conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallBackbone(nn.Sequential):
    """Stride-8 convolutional feature extractor: (B, C, H, W) -> (B, out_channels, H / 8, W / 8).

    Args:
        in_chans: input channels.
        widths: channels of the three stride-2 stages (a stride-1 stem of ``widths[0]`` comes first).
        out_channels: channels of the feature map the RPN and the RoI heads read.
    """

    def __init__(self, in_chans: int, widths: tuple[int, int, int] = (32, 64, 128), out_channels: int = 128) -> None:
        layers = _conv(in_chans, widths[0])
        prev = widths[0]
        for w in widths:
            layers += _conv(prev, w, stride=2) + _conv(w, w)
            prev = w
        if prev != out_channels:
            layers += _conv(prev, out_channels)
        super().__init__(*layers)
        self.out_channels = out_channels


def build_digit_frcnn(
    *,
    num_classes: int,
    in_chans: int,
    img_size: int,
    widths: tuple[int, int, int] = (32, 64, 128),
    out_channels: int = 128,
    anchor_sizes: tuple[int, ...] = (16, 24, 32, 48),
    aspect_ratios: tuple[float, ...] = (1.0, 1.5, 2.0),
    representation: int = 256,
    proposals_train: int = 300,
    proposals_test: int = 100,
    rois_per_image: int = 64,
    image_mean: float = 0.1,
    image_std: float = 0.25,
) -> FasterRCNN:
    """The small Faster R-CNN for digit scenes (see the module docstring); ``num_classes`` excludes the background.

    Args:
        num_classes: object classes (the background is added).
        in_chans: image channels.
        img_size: canvas side; images are neither up- nor down-scaled at this size.
        widths, out_channels: the backbone's stages and feature channels.
        anchor_sizes: anchor sides in pixels (one feature map, so all sizes at each position).
        aspect_ratios: anchor height / width ratios.
        representation: width of the box head's two layers.
        proposals_train, proposals_test: RPN proposals kept after NMS per image.
        rois_per_image: regions sampled per image to train the box head.
        image_mean, image_std: normalisation the model applies to every channel of its [0, 1] inputs.
    """
    backbone = SmallBackbone(in_chans, widths, out_channels)
    anchors = AnchorGenerator(sizes=(tuple(anchor_sizes),), aspect_ratios=(tuple(aspect_ratios),))
    pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=1)
    head = TwoMLPHead(out_channels * 7 * 7, representation)
    return FasterRCNN(
        backbone, num_classes=None, min_size=img_size, max_size=img_size,
        image_mean=[image_mean] * in_chans, image_std=[image_std] * in_chans,
        rpn_anchor_generator=anchors, box_roi_pool=pool, box_head=head,
        box_predictor=FastRCNNPredictor(representation, num_classes + 1),
        rpn_pre_nms_top_n_train=1000, rpn_pre_nms_top_n_test=500,
        rpn_post_nms_top_n_train=proposals_train, rpn_post_nms_top_n_test=proposals_test,
        rpn_batch_size_per_image=128, box_batch_size_per_image=rois_per_image,
    )


def build_torchvision_frcnn(*, num_classes: int, in_chans: int, img_size: int, arch: str,
                            min_size: int | None = None, max_size: int | None = None, **kwargs: Any) -> FasterRCNN:
    """torchvision's ``fasterrcnn_mobilenet_v3_large_fpn`` or ``fasterrcnn_resnet50_fpn``, without downloading
    anything (pretrained weights come through the pipeline's ``--weights``), sized for ``img_size`` by default.

    Grey images need no conversion: the model's normalisation broadcasts a 1-channel image against the three
    ImageNet means and standard deviations, so the backbone receives three channels.
    """
    from torchvision.models import detection as tvd

    builders = {"mobilenet_v3_large_fpn": tvd.fasterrcnn_mobilenet_v3_large_fpn,
                "resnet50_fpn": tvd.fasterrcnn_resnet50_fpn}
    model = builders[arch](weights=None, weights_backbone=None, num_classes=num_classes + 1,
                           min_size=min_size or img_size, max_size=max_size or img_size, **kwargs)
    return model


def _create_detector(*, num_classes: int, in_chans: int, img_size: int, arch: str, registered: str,
                     weights: str | None = None, init_from: str | None = None, freeze: str = "none",
                     **kwargs: Any) -> FasterRCNN:
    """Build a variant, then load its initial weights (``weights``: ``coco``, ``imagenet`` for the backbone, or a
    state dict file; ``init_from``: an earlier run) and freeze (``features``: the backbone), as the classifiers do
    (``models/_weights.py``): tensors of another shape, such as COCO's 91-class predictor, keep their fresh values."""
    from visionbench.models._weights import init_pretrained

    if arch == "digit":
        model = build_digit_frcnn(num_classes=num_classes, in_chans=in_chans, img_size=img_size, **kwargs)
    else:
        model = build_torchvision_frcnn(num_classes=num_classes, in_chans=in_chans, img_size=img_size, arch=arch,
                                        **kwargs)
    return init_pretrained(model, registered, weights=weights, init_from=init_from, freeze=freeze,
                           imagenet=arch != "digit")


# Scenes of a few thousand 128-px canvases: small batches, AdamW with a warm-up, no flips (digits).
_DIGIT_RECIPE = Recipe(steps=3000, min_epochs=3, max_epochs=40, batch_size=8, optimizer="adamw", lr=1e-3,
                       weight_decay=1e-4, schedule="cosine", warmup_steps=200, augment="none")
# torchvision's reference schedule (SGD 0.02 for 16 images on 8 GPUs) scaled to batches of 4.
_TV_RECIPE = Recipe(steps=3000, min_epochs=3, batch_size=4, optimizer="sgd", lr=0.005, momentum=0.9,
                    weight_decay=1e-4, schedule="cosine", warmup_steps=500, augment="none")

# name -> (recipe, description, builder kwargs).
_VARIANTS: dict[str, tuple[Recipe, str, dict[str, Any]]] = {
    "digit_frcnn": (_DIGIT_RECIPE, "Faster R-CNN (torchvision) with a 0.3 M-parameter stride-8 backbone, sized for "
                                   "digit scenes on a CPU", {"arch": "digit"}),
    "fasterrcnn_mobilenet_v3_large_fpn": (_TV_RECIPE, "torchvision's fasterrcnn_mobilenet_v3_large_fpn (for a GPU)",
                                          {"arch": "mobilenet_v3_large_fpn"}),
    "fasterrcnn_resnet50_fpn": (_TV_RECIPE, "torchvision's fasterrcnn_resnet50_fpn (for a GPU)",
                                {"arch": "resnet50_fpn"}),
}
for _variant, (_recipe, _description, _kwargs) in _VARIANTS.items():
    register_model(_variant, _create_detector, family="detection", task="detection", recipe=_recipe, min_img_size=32,
                   description=_description, registered=_variant, **_kwargs)
