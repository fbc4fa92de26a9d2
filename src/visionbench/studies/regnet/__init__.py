"""``regnet``: does a ConvRNN regulator make a ResNet better, at what cost, and where should it sit?

Xu et al., "RegNet: Self-Regulated Network for Image Classification" (arXiv 2101.00590), the seed document
``004_ebb2ccd4dc94042f.txt`` (its Table III and Fig. 1(b), through issue 12). Parts, in order:

- ``epochs``: Table III re-run, the eight nets plus ResNet-32 and ResNet-56, at equal epochs (the paper's protocol),
  over seeds; error mean ± std and 95 % interval, top-5, params, FLOPs, time, images/s; paired tests (scipy, over
  shared seeds, Holm-corrected) of each regulated net against its baseline;
- ``time``: the same at equal training time (every run gets ResNet-20's seconds);
- ``ablation``: RegNet-20 (ConvLSTM) with the regulator in one stage only, for each stage;
- ``probe``: Fig. 1(b), linear probes on the outputs of blocks 7, 8 and 9 of ResNet-20 and RegNet-20;
- ``efficiency``: error against parameters and FLOPs, and the two views side by side;
- ``answer``: one sentence from the paired tests, and one on the position.

Tiers (``_tiers.py``): ``--quick`` (digits, one seed, two models), the default (a Fashion-MNIST subset, about two
hours on 2 CPU cores), and ``--full`` (the paper's protocol on CIFAR-10, or ``--dataset cifar100``; for a GPU).
Every view is a comparison directory inside the study directory (``table3-epochs/``, ``table3-time/``,
``ablation-stage1/``...), so ``--resume`` redoes no finished run.
"""

from __future__ import annotations

from visionbench.studies._study import Study, StudyRun
from visionbench.studies.regnet._paper import references
from visionbench.studies.regnet._tiers import CIFAR, choose_tier

__all__ = ["STUDY"]


def _run(study: StudyRun) -> None:
    from visionbench.studies.regnet import _parts
    from visionbench.studies.regnet._views import Context

    tier, dataset = choose_tier(study.quick, study.full, study.dataset)
    ctx = Context(study, tier, dataset, tuple(study.seeds))
    study.part("epochs", lambda p: _parts.epochs_part(p, ctx), title="Table III re-run at equal epochs")
    study.part("time", lambda p: _parts.time_part(p, ctx), title="Equal training time")
    study.part("ablation", lambda p: _parts.ablation_part(p, ctx), title="Where the regulator sits")
    study.part("probe", lambda p: _parts.probe_part(p, ctx), title="Fig. 1(b): linear probes on blocks 7, 8, 9")
    study.part("efficiency", lambda p: _parts.efficiency_part(p, ctx), title="Parameter and compute efficiency")
    study.part("answer", lambda p: _parts.answer_part(p, ctx), title="The answer")


STUDY = Study(
    name="regnet",
    title="RegNet: does a ConvRNN regulator make ResNet-20 better, at what cost, and where?",
    description=("Table III re-run (eight nets and deeper ResNets, seeds, paired tests) at equal epochs and equal "
                 "time, the regulator-position ablation, parameter/FLOP efficiency and the Fig. 1(b) probes."),
    document="RegNet (Xu et al. 2021, arXiv 2101.00590), seed 004",
    section="Table III, Fig. 1(b), the regulator-position remark",
    references=references(),
    run=_run,
    # The default tier, measured here on 2026-12-01 (docs/studies.md): 7,243 s, one torch thread per run.
    seconds=7243.0,
    seconds_quick=23.0,
    seeds=(0, 1, 2),
    seeds_quick=(0,),
    full=("the paper's protocol: CIFAR-10 (or --dataset cifar100), 64,000 steps per run, for a GPU (see "
          "docs/studies.md for the estimated time)"),
    datasets=("fashion-mnist", "digits", *CIFAR),
    differences=(
        "The paper trains on CIFAR-10/100 (one run per net, no spread); the default tier trains on a Fashion-MNIST "
        "subset for a few epochs and --quick on 8x8 digits, so only the direction and size of the differences "
        "compare, not the errors themselves. `--full` runs the paper's protocol on CIFAR-10 (`--dataset "
        "cifar100` for CIFAR-100).",
        "Recipe: SGD + Nesterov, lr 0.1 with a short warm-up and a cosine decay, weight decay 5e-4 (the project's "
        "CIFAR recipe, which reaches the usual accuracy in fewer steps); the full tier uses the paper's step "
        "schedule (lr / 10 at 50 % and 75 %), weight decay 1e-4, no Nesterov.",
        "The regulator's state starts at zero in each stage (the paper leaves the stage boundary open) and the "
        "fused hidden map goes through its own BN + ReLU in every block (docs/models.md).",
        "The paper's Fig. 1(b) RegNet-20 is taken to be the ConvLSTM variant; the probe is a logistic regression "
        "on the average-pooled block output, fitted on the run's training split.",
        "--quick runs one seed unless --seeds names more: the paired tests then cannot tell anything, and the "
        "answer says so.",
    ),
)
