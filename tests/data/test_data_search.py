"""Search order: --data-dir, $VISIONBENCH_DATA, the user cache, system paths; names and aliases."""

from __future__ import annotations

from pathlib import Path

import pytest
from _data_formats import write_idx_set

from visionbench.data import list_datasets, load_dataset
from visionbench.errors import ConfigError


def test_search_order(tmp_path: Path, isolated_search: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx_set(isolated_search["system"] / "fashion-mnist", n_train=10, n_test=10)
    assert len(load_dataset("fashion-mnist").train) == 10
    write_idx_set(isolated_search["cache"] / "fashion-mnist", n_train=20, n_test=10)
    assert len(load_dataset("fashion-mnist").train) == 20
    env = tmp_path / "env"
    write_idx_set(env, n_train=30, n_test=10)
    monkeypatch.setenv("VISIONBENCH_DATA", str(env))
    assert len(load_dataset("fashion-mnist").train) == 30
    explicit = tmp_path / "explicit"
    write_idx_set(explicit / "fashion-mnist", n_train=40, n_test=10)
    ds = load_dataset("fashion-mnist", data_dir=explicit)
    assert len(ds.train) == 40 and ds.source == str(explicit / "fashion-mnist")


def test_unknown_name_suggests() -> None:
    with pytest.raises(ConfigError, match="did you mean: .*mnist"):
        load_dataset("mnits")


def test_list_and_aliases() -> None:
    names = list_datasets()
    assert {"digits", "mnist", "fashion-mnist", "kmnist", "usps", "cifar10", "cifar100"} <= set(names)
    assert load_dataset("DIGITS").name == "digits"
