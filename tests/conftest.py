"""Shared fixtures: the real data sets beside the project; Qt set-up for the GUI tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _can_render_gl() -> bool:
    return bool(os.environ.get("DISPLAY")) and os.environ.get("QT_QPA_PLATFORM", "xcb") not in (
        "offscreen",
        "minimal",
    )


@pytest.hookimpl(trylast=True)  # after pytest-xvfb has started Xvfb and set DISPLAY
def pytest_configure(config):
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    config.addinivalue_line("markers", "gl: needs OpenGL rendering (Xvfb + xcb)")


def pytest_collection_modifyitems(config, items):
    if _can_render_gl():
        return
    skip = pytest.mark.skip(reason="needs OpenGL: run under Xvfb")
    for item in items:
        if "gl" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (DRIVE and ISBI 2012); tests that need it skip when it is absent."""
    if not (DATA / "drive").is_dir() or not (DATA / "isbi2012").is_dir():
        pytest.skip(f"real data not found at {DATA} (see the project README, 'Data')")
    return DATA
