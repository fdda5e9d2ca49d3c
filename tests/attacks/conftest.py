"""The small finished run every attack on a run directory starts from (a copy of it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from attack_catalogue import make_small_run


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """Two trained trials of one epoch on 120 synthetic images (about 3 s); copy it before damaging it."""
    return make_small_run(tmp_path_factory.mktemp("attacks") / "run")
