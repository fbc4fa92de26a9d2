"""Parameters and forward FLOPs of every ResNet / SE-ResNet / RegNet variant (no training); one JSON line each.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (one multiply-add = 2 FLOPs) at 32x32x3 with 10
classes, and at 224x224x3 with 1000 classes for the ImageNet-style variants. For the CIFAR-style ones, the extra
parameters and the FLOP ratio over ResNet-20.

    .venv/bin/python benchmarks/model_costs.py
"""

from __future__ import annotations

import json

import torch

from visionbench.costs import count_parameters, flops_per_image
from visionbench.models import create_model, get_entry, list_models


def main() -> None:
    torch.set_num_threads(1)
    r20 = create_model("resnet20", num_classes=10, in_chans=3, img_size=32)
    base_params, base_flops = count_parameters(r20)[0], flops_per_image(r20, (3, 32, 32))
    for name in list_models("resnet*") + list_models("seresnet*") + list_models("*regnet*"):
        entry = get_entry(name)
        options: list[dict] = [{}]
        if entry.family == "regnet" and entry.kwargs["block"] == "basic" and name.endswith("20_" + entry.kwargs["rnn"]):
            options.append({"cheap_rnn": True})
        for opt in options:
            m = create_model(name, num_classes=10, in_chans=3, img_size=32, **opt)
            row = {"model": name, **opt, "params_10": count_parameters(m)[0],
                   "flops_32": flops_per_image(m, (3, 32, 32))}
            if entry.kwargs["stem"] == "cifar" and name != "resnet20":
                row["extra_params_vs_resnet20"] = row["params_10"] - base_params
                row["flops_ratio_vs_resnet20"] = round(row["flops_32"] / base_flops, 2)
            if entry.kwargs["stem"] == "auto":
                big = create_model(name, num_classes=1000, in_chans=3, img_size=224, **opt)
                row["params_1000"] = count_parameters(big)[0]
                row["flops_224"] = flops_per_image(big, (3, 224, 224))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
