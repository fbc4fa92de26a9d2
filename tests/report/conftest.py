"""Fixtures of the report tests."""

from __future__ import annotations

import pytest
from report_fakes import FakeRun, write_fake_run


@pytest.fixture
def fake_run() -> FakeRun:
    """The factory :func:`report_fakes.write_fake_run`: one fake run directory per call."""
    return write_fake_run
