"""Suite-wide settings: one torch thread (tiny tensors run faster without threading on a 2-core machine, and the
results do not depend on the number of cores)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)
    yield
