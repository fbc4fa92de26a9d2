"""``main``: the main job, one model of each family on the embedded ``digits``, each with its own recipe.

This is what ``visionbench compare`` with no argument and ``make demo`` run: two PyTorch baselines (an MLP and a
small CNN), the NumPy engine's MLP and CNN, a CIFAR-style ResNet-20 and a small Vision Transformer, trained under
the comparison rules (each run in its own worker process, budgets in optimiser steps from each model's recipe for
digits), about 40 seconds on a 2-core CPU. The comparison (runs, tables, plots, comparison.md/.html) is in the
study directory's ``comparison/`` folder.
"""

from __future__ import annotations

from visionbench.studies._study import Part, Study, StudyRun

#: The main job's models: one of each family, in the order the report lists them before sorting.
MODELS = ("mlp", "cnn", "scratch_mlp", "scratch_cnn2d", "resnet20", "vit_tutorial")
#: The main job's data.
DATASET = "digits"
#: ``--quick``: two cheap models, a few steps each, in this process (the tests use it).
QUICK_MODELS = ("mlp_small", "scratch_linear")
QUICK_STEPS = 30
#: Where the comparison goes inside the study directory.
COMPARISON = "comparison"


def _run(study: StudyRun) -> None:
    from visionbench.studies.compare import CompareConfig, run_comparison

    def compare(p: Part) -> None:
        target = study.out_dir / COMPARISON
        cc = CompareConfig(dataset=DATASET, models=QUICK_MODELS if study.quick else MODELS, seeds=study.seeds,
                           steps=QUICK_STEPS if study.quick else None, output_dir=str(study.out_dir),
                           name=COMPARISON, isolate=not study.quick, train_overrides={"quiet": study.quiet})

        def announce(model: str, seed: int, i: int, total: int) -> None:
            study.echo(f"[{i}/{total}] {model} (seed {seed})")

        result = run_comparison(cc, resume=target if (target / "plan.json").is_file() else None, on_run=announce)
        for row in result.report["rows"]:
            if row.get("counted", True):
                p.value(f"{row['model']}_test_accuracy", row["test_accuracy"], unit="accuracy", dataset=DATASET,
                        seed=row["seed"], label=f"{row['model']}: test accuracy")
        table = []
        for a in result.report["summary"]:
            table.append([a["label"], a.get("test_accuracy_mean"), a.get("test_accuracy_std"),
                          a.get("test_macro_f1_mean"), a.get("train_seconds_mean"), a.get("steps_completed_mean"),
                          a.get("params_total_mean"), a.get("flops_per_image_mean"), a["n_seeds"]])
        p.table("Models on digits", ["Model", "Test accuracy", "± std", "Macro-F1", "Train time (s)", "Steps",
                                     "Params", "FLOPs/image", "Seeds"], table,
                caption=f"Mean over seeds; the full comparison (paired tests, per-class F1, every run) is in "
                        f"`{COMPARISON}/comparison.html`.")
        from visionbench.report.build import PLOTS

        for name, caption in PLOTS:
            if (target / "plots" / name).is_file():
                p.attach(f"{COMPARISON}/plots/{name}", caption)
        p.data["comparison"] = COMPARISON

    study.part("comparison", compare, title="The comparison")


STUDY = Study(
    name="main",
    title="The main job: one model of each family on digits",
    description="MLP, CNN, NumPy MLP and CNN, ResNet-20 and a small ViT on the embedded digits, each with its recipe.",
    document="visionbench",
    section="the main job (no seed document reports numbers on digits)",
    references=(),
    run=_run,
    seconds=38.0,
    seconds_quick=4.2,
    seeds=(0,),
    differences=("No document reports these models on the 8x8 digits: this study has no reference column; the "
                 "DIY, LAB 2 and RegNet studies carry the documents' numbers.",),
)
