"""The comparison report built from fake run directories: tables by hand, flagged runs, valid PNGs, bad folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from visionbench.errors import RunError
from visionbench.metrics import classification_metrics
from visionbench.report import (
    aggregate,
    build_comparison_report,
    collect,
    plot_confusion,
    render_table_rich,
    to_markdown,
)
from visionbench.runs import read_run, write_history, write_json

CLASSES = ["zero", "one", "two"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_run(
    root: Path,
    model: str,
    seed: int,
    acc: float | None,
    seconds: float,
    status: str = "completed",
    dataset: str = "toy",
    epochs: int = 3,
) -> Path:
    """A run directory as the pipeline writes it (config.json, history.csv, results.json)."""
    path = root / f"{model}-{dataset}-s{seed}"
    path.mkdir(parents=True)
    command = f"visionbench compare --dataset {dataset} --models cnn,mlp --epochs {epochs} --seeds 1,2"
    write_json(
        path / "config.json", {"model": model, "dataset": dataset, "seed": seed, "epochs": epochs, "command": command}
    )
    done = epochs if status == "completed" else 2
    history = [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "train_acc": 0.5 + 0.1 * e,
            "val_loss": 1.2 / e,
            "val_acc": 0.4 + 0.1 * e + 0.01 * seed,
            "lr": 0.1,
            "seconds": seconds / epochs,
        }
        for e in range(1, done + 1)
    ]
    write_history(path / "history.csv", history)
    results: dict[str, Any] = {
        "status": status,
        "model": model,
        "dataset": dataset,
        "engine": "torch",
        "seed": seed,
        "epochs": epochs,
        "epochs_completed": done,
        "best_epoch": done,
        "best_val_accuracy": 0.9,
        "test_accuracy": acc,
        "test_macro_f1": None if acc is None else acc - 0.01,
        "test_loss": None if acc is None else 1 - acc,
        "test_top5_accuracy": None,
        "per_class": {
            "precision": [0.9, 0.8, 0.7],
            "recall": [0.9, 0.8, 0.7],
            "f1": [0.9, 0.8, 0.6 + seed / 10],
            "support": [10, 10, 10],
        },
        "confusion_matrix": [[9, 1, 0], [1, 8, 1], [0, 3, 7]],
        "classes": CLASSES,
        "train_seconds": seconds,
        "seconds_per_epoch": seconds / done,
        "train_images_per_second": 1000.0,
        "inference_images_per_second": 5000.0,
        "params_total": 123456 if model == "cnn" else 7890,
        "params_trainable": 123456 if model == "cnn" else 7890,
        "flops_per_image": 2_500_000,
        "peak_memory_mb": 300.0,
        "versions": {"torch": "2.14.1"},
        "machine": {"device": "cpu"},
    }
    write_json(path / "results.json", results)
    return path


def make_runs(root: Path) -> list[Path]:
    """Two models x two seeds, plus a diverged third seed of mlp."""
    return [
        make_run(root, "cnn", 1, 0.97, 10.0),
        make_run(root, "cnn", 2, 0.99, 14.0),
        make_run(root, "mlp", 1, 0.95, 2.0),
        make_run(root, "mlp", 2, 0.96, 3.0),
        make_run(root, "mlp", 3, None, 1.0, status="diverged"),
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path, dict[str, Any]]:
    """The report is built once for the tests that only read it (matplotlib takes a second or two)."""
    root = tmp_path_factory.mktemp("report")
    runs = make_runs(root / "runs")
    out = root / "cmp"
    return runs, out, build_comparison_report(runs, out, title="Toy comparison")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_build_writes_every_file(built: tuple[list[Path], Path, dict[str, Any]]) -> None:
    runs, out, report = built
    for name in ("comparison.csv", "comparison_summary.csv", "comparison.md"):
        assert (out / name).is_file()
    for name in ("learning_curves.png", "accuracy_vs_time.png", "confusion_matrices.png"):
        png = out / "plots" / name
        assert png.read_bytes()[:8] == PNG_MAGIC
        with Image.open(png) as im:
            im.verify()
        assert report["files"][name] == png
    # atomic writes leave no temporary file behind
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]
    assert len(report["rows"]) == 5 and len(report["summary"]) == 2


def test_per_run_csv(built: tuple[list[Path], Path, dict[str, Any]]) -> None:
    runs, out, report = built
    rows = read_csv(out / "comparison.csv")
    assert [(r["model"], r["seed"], r["status"]) for r in rows] == [
        ("cnn", "1", "completed"),
        ("cnn", "2", "completed"),
        ("mlp", "1", "completed"),
        ("mlp", "2", "completed"),
        ("mlp", "3", "diverged"),
    ]
    assert float(rows[1]["test_accuracy"]) == pytest.approx(0.99)
    assert rows[4]["test_accuracy"] == ""  # None stays empty, never 0
    assert rows[4]["epochs_completed"] == "2"
    assert Path(rows[0]["path"]) == runs[0]


def test_summary_mean_and_std_by_hand(built: tuple[list[Path], Path, dict[str, Any]]) -> None:
    runs, out, report = built
    summary = {r["model"]: r for r in read_csv(out / "comparison_summary.csv")}
    cnn, mlp = summary["cnn"], summary["mlp"]
    assert float(cnn["test_accuracy_mean"]) == pytest.approx(0.98)
    # sample std (ddof=1) of {0.97, 0.99} = sqrt(2 * 0.01**2 / 1)
    assert float(cnn["test_accuracy_std"]) == pytest.approx(0.01 * 2**0.5)
    assert float(cnn["train_seconds_mean"]) == pytest.approx(12.0)
    assert float(cnn["train_seconds_std"]) == pytest.approx(8**0.5)
    # the diverged seed 3 is not averaged in: mean of {0.95, 0.96} only
    assert mlp["n_seeds"] == "2" and mlp["n_flagged"] == "1"
    assert float(mlp["test_accuracy_mean"]) == pytest.approx(0.955)
    assert float(mlp["train_seconds_mean"]) == pytest.approx(2.5)
    assert "seed 3: diverged" in mlp["flagged"]
    assert json.loads(mlp["seeds"]) == [1, 2]


def test_markdown_content(built: tuple[list[Path], Path, dict[str, Any]]) -> None:
    runs, out, report = built
    md = (out / "comparison.md").read_text()
    assert md == report["markdown"]
    assert md.startswith("# Toy comparison")
    assert "Dataset: toy" in md and "seeds: 1, 2" in md and "budget: 3 epochs per run" in md
    cnn_line = next(line for line in md.splitlines() if line.startswith("| cnn |"))
    mlp_line = next(line for line in md.splitlines() if line.startswith("| mlp |"))
    assert md.index(cnn_line) < md.index(mlp_line)  # best accuracy first
    assert "98.00 ± 1.41" in cnn_line  # accuracy in %: 98 ± 100 * 0.01414
    assert "12.0 ± 2.8" in cnn_line  # seconds
    assert "| 0.123 |" in cnn_line  # params in millions, no "± 0" for a fixed architecture
    assert "95.50 ± 0.71" in mlp_line and "(+1 flagged)" in mlp_line
    assert "Not averaged" in md and "diverged" in md
    assert "plots/learning_curves.png" in md and "plots/confusion_matrices.png" in md
    # per-class F1 table: class names, mean over seeds 1 and 2 of 0.6 + seed/10 = 75.0 %
    two_line = next(line for line in md.splitlines() if line.startswith("| two |"))
    assert two_line == "| two | 75.0 | 75.0 |"
    assert "visionbench compare --dataset toy --models cnn,mlp --epochs 3 --seeds 1,2" in md
    assert md.count("visionbench compare --dataset toy") == 1  # same command from every run: listed once


def test_folder_of_runs_expands(tmp_path: Path) -> None:
    runs = make_runs(tmp_path / "runs")
    report = build_comparison_report([runs[0].parent], tmp_path / "cmp")
    assert len(report["rows"]) == 5


@pytest.mark.parametrize("kind", ["empty", "stray-file", "missing"])
def test_not_a_run_raises(tmp_path: Path, kind: str) -> None:
    bad = tmp_path / "not-a-run"
    if kind != "missing":
        bad.mkdir()
    if kind == "stray-file":
        (bad / "notes.txt").write_text("hello")
    with pytest.raises(RunError, match="not-a-run"):
        build_comparison_report([bad], tmp_path / "cmp")
    with pytest.raises(RunError):
        collect([bad])


def test_single_seed_has_no_std(tmp_path: Path) -> None:
    rows = collect([make_run(tmp_path, "cnn", 1, 0.9, 5.0)])
    (agg,) = aggregate(rows)
    assert agg["test_accuracy_mean"] == pytest.approx(0.9) and agg["test_accuracy_std"] is None
    md = to_markdown([agg])
    line = next(line for line in md.splitlines() if line.startswith("| cnn |"))
    assert "90.00 |" in line and "±" not in line
    assert "| — |" in line  # top-5 undefined for 3 classes


def _dash_columns(md: str, model: str) -> set[str]:
    """Headers of the summary table's columns that hold a "—" in ``model``'s row."""
    table = [line for line in md.splitlines() if line.startswith("| ")]
    headers = [c.strip() for c in table[0].strip("|").split("|")]
    (row,) = [line for line in table if line.startswith(f"| {model} |")]
    return {headers[i] for i, c in enumerate(row.strip("|").split("|")) if c.strip() == "—"}


def test_every_dash_in_the_summary_says_why(tmp_path: Path) -> None:
    # One seed (no interval), 3 classes (no top-5), no memory figures, a group whose only run diverged, a non-finite
    # loss: each "—" gets a line naming the column, the rows and the reason; "nan" never reaches the page.
    runs = [make_run(tmp_path, "cnn", 1, 0.9, 5.0), make_run(tmp_path, "mlp", 1, None, 1.0, status="diverged")]
    results = json.loads((runs[0] / "results.json").read_text())
    (runs[0] / "results.json").write_text(json.dumps({**results, "test_loss": float("nan")}))
    md = to_markdown(aggregate(collect(runs)))
    dashed = _dash_columns(md, "cnn")
    assert {"95 % CI (%)", "Top-5 (%)", "Test loss"} <= dashed
    for header in dashed:
        assert f"— in {header} for cnn:" in md, header
    assert "— in every column of mlp: no completed run" in md
    assert "nan" not in md.lower().replace("nanos", "")
    assert "one completed seed" in md and "5 classes or fewer" in md


def test_all_runs_failed_still_reports(tmp_path: Path) -> None:
    path = make_run(tmp_path / "r", "cnn", 1, None, 1.0, status="interrupted")
    report = build_comparison_report([path], tmp_path / "cmp")
    (agg,) = report["summary"]
    assert agg["n_seeds"] == 0 and agg["test_accuracy_mean"] is None
    assert "interrupted" in report["markdown"]
    for name in ("learning_curves.png", "accuracy_vs_time.png", "confusion_matrices.png"):
        assert (tmp_path / "cmp" / "plots" / name).read_bytes()[:8] == PNG_MAGIC


def test_several_datasets_get_a_column(tmp_path: Path) -> None:
    rows = collect([make_run(tmp_path, "cnn", 1, 0.9, 5.0), make_run(tmp_path, "cnn", 1, 0.8, 5.0, dataset="other")])
    md = to_markdown(aggregate(rows))
    assert "Datasets: other, toy" in md and "| Model | Dataset | Runs |" in md


def test_rich_table_and_single_confusion(built: tuple[list[Path], Path, dict[str, Any]], tmp_path: Path) -> None:
    runs, out, report = built
    table = render_table_rich(report["summary"])
    assert table.row_count == 2
    console = Console(record=True, width=250)
    console.print(table)
    assert "98.00 ± 1.41" in console.export_text()
    png = plot_confusion(read_run(runs[0]), tmp_path / "one.png")
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_results_from_real_metrics_flow_through(tmp_path: Path) -> None:
    """results.json filled from classification_metrics, as the pipeline does, reads back into the tables."""
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(40, 7)), rng.integers(0, 7, size=40)
    m = classification_metrics(logits, labels, num_classes=7)
    path = make_run(tmp_path, "cnn", 1, 0.5, 1.0)
    res = json.loads((path / "results.json").read_text())
    res.update({f"test_{k}": m[k] for k in ("accuracy", "macro_f1", "loss", "top5_accuracy")})
    res.update(per_class=m["per_class"], confusion_matrix=m["confusion_matrix"], classes=list("abcdefg"))
    write_json(path / "results.json", res)
    (row,) = collect([path])
    assert row["test_accuracy"] == m["accuracy"] and row["test_top5_accuracy"] == m["top5_accuracy"]
    (agg,) = aggregate([row])
    assert agg["test_loss_mean"] == pytest.approx(m["loss"])


@pytest.mark.parametrize("damage", ["config-latin1", "results-list", "history-ragged", "history-word"])
def test_a_damaged_run_file_is_one_line_naming_it(tmp_path: Path, damage: str) -> None:
    # Found by benchmarks/fuzz.py: each of these was a traceback (UnicodeDecodeError, AttributeError, TypeError).
    run = make_run(tmp_path, "cnn", 1, 0.9, 5.0)
    file = {"config": "config.json", "results": "results.json", "history": "history.csv"}[damage.split("-")[0]]
    if damage == "config-latin1":
        (run / file).write_bytes((run / file).read_bytes().replace(b'"cnn"', b'"cn\xe9"'))
    elif damage == "results-list":
        (run / file).write_text("[1, 2]")
    elif damage == "history-ragged":
        (run / file).write_text((run / file).read_text() + "4,0.1\n")
    else:
        lines = (run / file).read_text().splitlines()
        (run / file).write_text("\n".join([lines[0], lines[1].replace("0.1", "zero", 1), *lines[2:]]) + "\n")
    with pytest.raises(RunError) as info:
        read_run(run)
    assert "\n" not in str(info.value) and f"{run / file}:" in str(info.value)
    with pytest.raises(RunError):
        build_comparison_report([run], tmp_path / "cmp")


def test_wrong_types_and_a_renamed_model_in_results_still_make_a_report(tmp_path: Path) -> None:
    # results.json naming another model than config.json, epochs as a list, a 400-digit seed, NaN: a report with
    # the configuration's model, the odd fields empty, and strict JSON (these were a KeyError in the plots, an
    # unhashable list, an OverflowError and a non-compliant JSON float).
    runs = [make_run(tmp_path, "cnn", s, 0.9 - 0.01 * s, 5.0) for s in (1, 2)]
    res = json.loads((runs[0] / "results.json").read_text())
    res.update(model="cnn-renamed", epochs=[3], seed=10**400, test_loss=float("nan"), budget="3 epochs")
    (runs[0] / "results.json").write_text(json.dumps(res))
    for run in runs:  # a list where a number belongs, in both runs (the same configuration): was unhashable
        cfg = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**cfg, "img_size": [8, 8]}))
    # and a model whose only run has a 400-digit accuracy and per-class scores that are a string
    odd = make_run(tmp_path, "mlp", 1, 0.5, 5.0)
    res = json.loads((odd / "results.json").read_text())
    (odd / "results.json").write_text(json.dumps({**res, "test_accuracy": 10**400, "per_class": "broken"}))
    report = build_comparison_report([*runs, odd], tmp_path / "cmp")
    assert [a["model"] for a in report["summary"]] == ["cnn", "mlp"] and report["summary"][1]["test_accuracy_mean"] \
        is None
    text = (tmp_path / "cmp" / "comparison_summary.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
