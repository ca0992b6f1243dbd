"""Shared fixtures: the real data sets beside the project, and small models."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (DRIVE and ISBI 2012); tests that need it skip when it is absent."""
    if not (DATA / "drive").is_dir() or not (DATA / "isbi2012").is_dir():
        pytest.skip(f"real data not found at {DATA} (see the project README, 'Data')")
    return DATA
