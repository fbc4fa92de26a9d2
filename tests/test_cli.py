"""The CLI: every command answers --help with an example; bad input gives one line on stderr and exit status 2."""

from __future__ import annotations

import gzip
import json
import struct

import pytest

from visionbench.cli import main

COMMANDS = ["train", "evaluate", "compare", "models", "datasets", "download", "export"]


@pytest.fixture(autouse=True)
def no_user_data(tmp_path, monkeypatch):
    # Keep the user's cache and $VISIONBENCH_DATA out of the tests.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("VISIONBENCH_DATA", str(tmp_path / "nodata"))
    monkeypatch.chdir(tmp_path)


def _one_line_error(capsys, argv, *fragments):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_an_example(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "example" in capsys.readouterr().out


def test_unknown_model_suggests_close_names(capsys):
    _one_line_error(capsys, ["train", "--model", "mpl", "--quiet"], "mpl", "did you mean", "mlp")


def test_unknown_dataset_suggests_close_names(capsys):
    _one_line_error(capsys, ["train", "--model", "mlp", "--dataset", "digit", "--quiet"], "digit", "digits")


@pytest.mark.parametrize(
    "flags, option",
    [(["--lr", "0"], "--lr"), (["--lr", "-1"], "--lr"), (["--epochs", "0"], "--epochs"),
     (["--batch-size", "0"], "--batch-size"), (["--val-split", "1.5"], "--val-split")],
)
def test_impossible_hyper_parameters(capsys, flags, option, tmp_path):
    _one_line_error(capsys, ["train", "--model", "mlp", "--quiet", *flags], option)
    assert not (tmp_path / "runs").exists()


def test_missing_dataset_names_files_and_ways_to_get_them(capsys, tmp_path):
    err = _one_line_error(capsys, ["train", "--model", "mlp", "--dataset", "cifar10", "--data-dir", str(tmp_path),
                                   "--quiet"], "cifar")
    assert "--data-dir" in err and "download" in err


def test_corrupt_idx_file_is_one_line(capsys, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for prefix, n in (("train", 4), ("t10k", 2)):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(struct.pack(">IIII", 2052, n, 28, 28)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    err = _one_line_error(capsys, ["train", "--model", "mlp", "--dataset", "mnist", "--data-dir", str(tmp_path),
                                   "--quiet"])
    assert "idx" in err


def test_resume_on_a_folder_that_is_not_a_run(capsys, tmp_path):
    _one_line_error(capsys, ["train", "--resume", str(tmp_path)], "not a run directory")


def test_config_file_with_flags_overriding(capsys, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: mlp_small\ndataset: digits\nepochs: 3\nbatch-size: 64\nmax_train_samples: 150\n")
    assert main(["train", "--config", str(cfg), "--epochs", "1", "--quiet", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out
    (run_dir,) = (tmp_path / "runs").iterdir()
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["epochs"] == 1 and saved["batch_size"] == 64 and saved["model"] == "mlp_small"
    # the arguments given to main(), not the host's sys.argv (pytest's, here)
    assert saved["command"] == f"visionbench train --config {cfg} --epochs 1 --quiet --threads 1"
    assert main(["evaluate", str(run_dir)]) == 0
    assert "test accuracy" in capsys.readouterr().out


def test_bad_config_file(capsys, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text("model = 'mlp'\nlearning_rate = 0.1\n")
    _one_line_error(capsys, ["train", "--config", str(cfg), "--quiet"], "learning_rate", str(cfg))
    _one_line_error(capsys, ["train", "--config", str(tmp_path / "absent.yaml")], "absent.yaml")


def test_models_lists_registered_names(capsys):
    assert main(["models", "mlp*"]) == 0
    out = capsys.readouterr().out
    assert "mlp" in out and "mlp_small" in out
    _one_line_error(capsys, ["models", "nothing-like-this*"], "nothing-like-this")


def test_datasets_lists_digits_as_found(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    assert "found" in rows["digits"] and "not found" not in rows["digits"]
    assert "not found" in rows["mnist"]  # the autouse fixture hides every data folder


def test_resume_refuses_other_training_flags(capsys, tmp_path):
    _one_line_error(capsys, ["train", "--resume", str(tmp_path), "--epochs", "5"], "--epochs", "--resume")


def test_detector_trains_on_scenes_and_evaluates_through_detection(capsys, tmp_path):
    scenes = ["canvas=64", "min_scale=16", "max_scale=32", "max_objects=3", "train_scenes=24", "test_scenes=8"]
    tiny = ['widths=[8,16,16]', "out_channels=16", "representation=32", "rois_per_image=16"]
    argv = ["train", "--model", "digit_frcnn", "--dataset", "scenes:digits", "--steps", "3", "--batch-size", "8",
            "--quiet", "--threads", "1"]
    argv += [a for kv in scenes for a in ("--dataset-option", kv)] + [a for kv in tiny for a in ("--model-arg", kv)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "test mAP" in out and "AP50" in out and "accuracy through detection" in out
    assert "images without a box" in out
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "config.json").read_text())["dataset_options"]["train_scenes"] == 24
    assert main(["evaluate", str(run_dir)]) == 0
    again = capsys.readouterr().out
    assert "accuracy through detection" in again and "images without a box" in again
    _one_line_error(capsys, ["train", "--resume", str(run_dir), "--dataset-option", "canvas=32"], "--dataset-option")
    _one_line_error(capsys, ["train", "--model", "digit_frcnn", "--dataset", "scenes:digits", "--dataset-option",
                             "canvass=64", "--quiet"], "canvass", "canvas")


def test_export_writes_scenes_as_coco_and_reads_back(capsys, tmp_path):
    from visionbench.data import load_dataset

    out = tmp_path / "exported"
    argv = ["export", "scenes:digits", "--out", str(out), "--dataset-option", "train_scenes=6",
            "--dataset-option", "test_scenes=3", "--dataset-option", "canvas=64", "--dataset-option", "max_scale=32"]
    assert main(argv) == 0
    assert "train:" in capsys.readouterr().out
    back = load_dataset(f"coco:{out}")
    scenes = load_dataset("scenes:digits", options={"train_scenes": 6, "test_scenes": 3, "canvas": 64,
                                                    "max_scale": 32})
    assert len(back.train) == 6 and len(back.test) == 3 and back.classes == scenes.classes
    assert back.train.num_objects == scenes.train.num_objects
    _one_line_error(capsys, argv, "not an empty folder")  # never overwritten
    _one_line_error(capsys, ["export", "digits", "--out", str(tmp_path / "x")], "no boxes to export", "scenes:digits")
