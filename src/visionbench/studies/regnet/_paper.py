"""What Xu et al. (arXiv 2101.00590) report, as data: Table III's CIFAR errors, the Fig. 1(b) probes, and which
baseline each regulated net is measured against."""

from __future__ import annotations

from visionbench.studies._study import Reference

__all__ = ["LABELS", "BASELINE", "TABLE3", "FIG1B", "PROBE_MODELS", "ABLATION_MODEL", "EXTRA_PAIRS", "CLAIM",
           "references"]

#: Readable names, in the order of Table III, then the deeper plain ResNets.
LABELS = {
    "resnet20": "ResNet-20",
    "regnet20_convrnn": "RegNet-20 (ConvRNN)",
    "regnet20_convgru": "RegNet-20 (ConvGRU)",
    "regnet20_convlstm": "RegNet-20 (ConvLSTM)",
    "seresnet20": "SE-ResNet-20",
    "seregnet20_convrnn": "SE-RegNet-20 (ConvRNN)",
    "seregnet20_convgru": "SE-RegNet-20 (ConvGRU)",
    "seregnet20_convlstm": "SE-RegNet-20 (ConvLSTM)",
    "resnet32": "ResNet-32",
    "resnet56": "ResNet-56",
}

#: Each regulated net and the network it regulates: the pairs of the claim.
BASELINE = {
    "regnet20_convrnn": "resnet20",
    "regnet20_convgru": "resnet20",
    "regnet20_convlstm": "resnet20",
    "seregnet20_convrnn": "seresnet20",
    "seregnet20_convgru": "seresnet20",
    "seregnet20_convlstm": "seresnet20",
}

#: Table III: test error (%) on CIFAR-10 and CIFAR-100, one run each.
TABLE3 = {
    "resnet20": (8.38, 31.72),
    "regnet20_convrnn": (7.60, 30.03),
    "regnet20_convgru": (7.42, 29.69),
    "regnet20_convlstm": (7.28, 29.81),
    "seresnet20": (8.02, 31.14),
    "seregnet20_convrnn": (7.55, 29.63),
    "seregnet20_convgru": (7.25, 29.08),
    "seregnet20_convlstm": (6.98, 29.02),
}

#: Fig. 1(b): linear-probe test accuracy (%) on the outputs of blocks 7, 8 and 9.
FIG1B = {
    "resnet20": {7: 55.6, 8: 67.9, 9: 91.6},
    "regnet20_convlstm": {7: 60.2, 8: 71.7, 9: 92.7},
}
#: The probed nets (the paper's "RegNet-20" is taken to be its main, ConvLSTM-regulated variant).
PROBE_MODELS = tuple(FIG1B)
#: The net of the position ablation.
ABLATION_MODEL = "regnet20_convlstm"

#: What the paired tests are about: the claim (each regulated net against its own baseline).
CLAIM = "the claim"
#: Further paired tests, for context: depth alone, and the regulator against depth at a similar cost.
EXTRA_PAIRS = (
    ("resnet32", "resnet20", "depth"),
    ("resnet56", "resnet20", "depth"),
    ("regnet20_convlstm", "resnet56", "regulator vs depth"),
)

_DATASETS = ("CIFAR-10", "CIFAR-100")


def references() -> tuple[Reference, ...]:
    """The paper's numbers under the keys our values use: errors, gains over the baseline, probe accuracies."""
    refs = [Reference(f"{model}_error", value, "%", "Table III", data, "test error, one run")
            for model, pair in TABLE3.items() for value, data in zip(pair, _DATASETS)]
    refs += [Reference(f"{model}_gain", round(TABLE3[base][i] - TABLE3[model][i], 2), "points", "Table III", data,
                       f"{LABELS[base]} error minus {LABELS[model]} error")
             for model, base in BASELINE.items() for i, data in enumerate(_DATASETS)]
    refs += [Reference(f"probe_block{block}_{model}", acc, "%", "Fig. 1(b)", "CIFAR (set not restated)",
                       f"linear probe on block {block}")
             for model, accs in FIG1B.items() for block, acc in accs.items()]
    return tuple(refs)
