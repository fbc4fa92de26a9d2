"""The ``lab2`` study's later parts: attention rollout, the detector, and the tables built from the run directories."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from visionbench.report.tables import mean_std_text as mean_std
from visionbench.runs import Run
from visionbench.studies._lab2_runs import metric, record_run, runs_of, train_run
from visionbench.studies._study import Part, StudyRun

__all__ = ["attention_part", "detector_part", "summary_part", "DETECTOR_KEY"]

DETECTOR_KEY = "frcnn"
DETECTOR_MODEL = "digit_frcnn"
_VITS = (("vit_tutorial", "tutorial ViT"), ("vit_tiny_patch4", "small ViT"))
_INIT_TEXT = {"scratch": "from scratch", "frozen": "pre-trained, features frozen",
              "unfrozen": "pre-trained, every layer trained"}


def attention_part(study: StudyRun, n_images: int = 8) -> Callable[[Part], None]:
    def fn(p: Part) -> None:
        from visionbench.studies._lab2_attention import rollout_figure, run_rollout

        seed = str(study.seeds[0])
        runs = study.data_of("vit").get("runs", {})
        results = []
        for key, label in _VITS:
            path = runs.get(key, {}).get(seed)
            if path is None or (run := runs_of(study, {seed: path})[seed]).status != "completed":
                p.note(f"Attention rollout: the {label} run (seed {seed}) did not complete; no map for it.")
                continue
            res = run_rollout(run.path, label, n_images)
            results.append(res)
            p.data[key] = res.to_data()  # the maps and the checks (entries >= 0, rows summing to 1)
        if results:
            grids = ", ".join(f"{r.label} {r.maps.shape[1]}x{r.maps.shape[2]} patches "
                              f"({'class token' if r.class_token else 'mean of the patch tokens'})" for r in results)
            p.figure(rollout_figure(results, "attention rollout on test images"), f"attention-rollout-seed{seed}",
                     f"Attention rollout (Abnar & Zuidema 2020: heads averaged, identity added for the residual, "
                     f"rows renormalised, layers multiplied) of each ViT (seed {seed}) on test images, one of each "
                     f"class, over the image: how much of what the head reads comes from each patch; {grids}. "
                     f"Predictions in red are wrong.")
    return fn


def detector_part(study: StudyRun, dataset: str, budget: Any, scenes: dict[str, Any],
                  config: Callable[..., Any]) -> Callable[[Part], None]:
    def fn(p: Part) -> None:
        where = f"scenes:{dataset}"
        for seed in study.seeds:
            study.echo(f"Faster R-CNN on {where} (seed {seed})")
            cfg = config(study, DETECTOR_MODEL, where, seed, budget, dataset_options=dict(scenes))
            run = train_run(study, f"{DETECTOR_KEY}-seed{seed}", cfg)
            record_run(p, study, DETECTOR_KEY, "Faster R-CNN (through detection)", seed, run, dataset)
            res = (run.results or {}) if run.status == "completed" else {}
            for key in ("test_map", "test_map50", "test_map75"):
                p.value(f"{DETECTOR_KEY}_{key}", res.get(key), unit="AP", dataset=where, seed=seed,
                        label=f"Faster R-CNN on {where}: {key[5:]}")
            p.value(f"{DETECTOR_KEY}_test_no_box", res.get("test_no_box"), unit="images", dataset=dataset,
                    seed=seed, label="Faster R-CNN as a classifier: test images with no box")
            if seed == study.seeds[0] and run.status == "completed":
                _detection_figures(p, run)
        p.data["scenes"] = scenes
    return fn


def _detection_figures(p: Part, run: Run) -> None:
    from visionbench.report.detection import detection_figures

    for name, fig, caption in detection_figures(run.path):
        p.figure(fig, f"detector-{name}", caption)


def _row(runs: dict[str, Run], key: str) -> list[Any]:
    return [metric(r, key) for r in runs.values()]


def _first(runs: dict[str, Run], key: str) -> Any:
    values = [v for v in _row(runs, key) if v is not None]
    return values[0] if values else None


def summary_part(study: StudyRun, dataset: str, variants: Sequence[Any]) -> Callable[[Part], None]:
    def fn(p: Part) -> None:
        recorded = {key: paths for name in ("cnn", "scratch", "finetune", "vit")
                    for key, paths in study.data_of(name).get("runs", {}).items()}
        det_paths = study.data_of("detector").get("runs", {}).get(DETECTOR_KEY, {})
        source = {a: s.get("source", "") for a, s in study.data_of("pretrain").get("sources", {}).items()}
        rows, points = [], []
        for v in variants:
            runs = runs_of(study, recorded.get(v.key, {}))
            rows.append(_main_row(v.label, _INIT_TEXT[v.init] + _source_hint(v, source), runs))
            points.append((v.label, _row(runs, "train_seconds"), _row(runs, "test_accuracy")))
        det = runs_of(study, det_paths)
        rows.append(_main_row("Faster R-CNN (digit_frcnn)", f"from scratch on scenes:{dataset}; classifies "
                                                               f"through its top box", det))
        points.append(("Faster R-CNN", _row(det, "train_seconds"), _row(det, "test_accuracy")))
        seeds = ", ".join(map(str, study.seeds))
        p.table(f"Every model on {dataset}",
                ["Model", "Weights", "Test accuracy", "Macro-F1", "Test loss", "Train time (s)", "Params",
                 "FLOPs/image", "Train images/s", "Test images/s", "Seeds"], rows,
                caption=f"Mean ± sample std over seeds {seeds} (one seed: the value). Loss: test cross-entropy "
                        f"(n/a for the detector, which has no class-probability loss on this test set). FLOPs: "
                        f"2 x multiply-adds of one forward pass at the model's input size. Test images/s: the "
                        f"test-set evaluation (the detector's: on its test scenes).")
        p.table("Faster R-CNN: detection and classification through detection", _DET_COLUMNS,
                [_det_row(det, study.data_of("detector").get("scenes", {}), dataset)],
                caption="mAP@[.5:.95], AP50 and AP75 are COCO box metrics (faster-coco-eval) on the test scenes. "
                        "Through detection: every classification test image placed alone on a canvas at a training "
                        "scale; the class is the label of the highest-scoring box; an image with no box counts as "
                        "wrong (its count is shown).")
        p.table("The impact of fine-tuning", ["Model", "Weights", "Test accuracy", "vs from scratch",
                                              "Trainable params", "Train time (s)"],
                _impact_rows(variants, recorded, study),
                caption="Same budget for every row (steps and batch); frozen: only the classifier trains.")
        p.figure(_time_figure(points, dataset), "accuracy-vs-time",
                 f"Test accuracy against training time, one point per run (seeds {seeds}); on this machine's "
                 f"shared CPU, so times compare within this study only.")
    return fn


def _source_hint(v: Any, source: dict[str, str]) -> str:
    arch = v.key.split("_")[0]
    return f" ({source[arch].split(' (')[0]})" if v.init != "scratch" and arch in source else ""


def _main_row(label: str, weights: str, runs: dict[str, Run]) -> list[Any]:
    loss = _row(runs, "test_loss")
    return [label, weights, mean_std(_row(runs, "test_accuracy")), mean_std(_row(runs, "test_macro_f1")),
            mean_std(loss) if any(x is not None for x in loss) else "n/a",
            mean_std(_row(runs, "train_seconds"), 1), _first(runs, "params_total"), _first(runs, "flops_per_image"),
            mean_std(_row(runs, "train_images_per_second"), 1),
            mean_std(_row(runs, "inference_images_per_second"), 1),
            sum(1 for r in runs.values() if r.status == "completed")]


_DET_COLUMNS = ["Model", "Scenes (train / test, canvas)", "mAP@[.5:.95]", "AP50", "AP75",
                "Accuracy through detection", "Macro-F1", "Images without a box", "Train time (s)", "Params"]


def _det_row(runs: dict[str, Run], scenes: dict[str, Any], dataset: str) -> list[Any]:
    where = (f"scenes:{dataset}, {scenes.get('train_scenes')} / {scenes.get('test_scenes')}, "
             f"{scenes.get('canvas')} px")
    return ["Faster R-CNN (digit_frcnn)", where, mean_std(_row(runs, "test_map")), mean_std(_row(runs, "test_map50")),
            mean_std(_row(runs, "test_map75")), mean_std(_row(runs, "test_accuracy")),
            mean_std(_row(runs, "test_macro_f1")), mean_std(_row(runs, "test_no_box"), 0),
            mean_std(_row(runs, "train_seconds"), 1), _first(runs, "params_total")]


def _impact_rows(variants: Sequence[Any], recorded: dict[str, dict[str, str]], study: StudyRun) -> list[list[Any]]:
    rows = []
    for arch in ("alexnet", "vgg16"):
        base = None
        for v in (v for v in variants if v.key.split("_")[0] == arch):
            runs = runs_of(study, recorded.get(v.key, {}))
            acc = [a for a in _row(runs, "test_accuracy") if a is not None]
            mean = float(np.mean(acc)) if acc else None
            base = mean if v.init == "scratch" else base
            diff = None if mean is None or base is None or v.init == "scratch" else f"{mean - base:+.3f}"
            rows.append([v.label, _INIT_TEXT[v.init], mean_std(acc), diff, _first(runs, "params_trainable"),
                         mean_std(_row(runs, "train_seconds"), 1)])
    return rows


def _time_figure(points: Sequence[tuple[str, list[Any], list[Any]]], dataset: str) -> Figure:
    from visionbench.report.plots import model_colors

    fig = Figure(figsize=(7.0, 4.4), layout="constrained")
    ax = fig.add_subplot()
    colors = model_colors([label for label, _, _ in points])
    for label, times, accs in points:
        xy = [(t, a) for t, a in zip(times, accs, strict=True) if t is not None and a is not None]
        if xy:
            t, a = zip(*xy, strict=True)
            ax.scatter(t, a, s=36, color=colors[label], label=label)
    ax.set_xscale("log")
    ax.set(xlabel="training time (s, log scale)", ylabel="test accuracy", title=f"LAB 2 models on {dataset}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig
