"""Shared fixtures: the real data sets beside the project; Qt set-up for the GUI tests."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Full precision unless a test asks otherwise: most tests compare outputs with exact references
# (tiled with untiled, streamed with whole, a package with its model file), which bf16 autocast
# (the default where the CPU has it) would move by about 0.01. tests/core/test_precision.py tests
# "auto" and bf16 themselves. Set here, so that subprocesses inherit it.
os.environ["NAPARI_UNET_PRECISION"] = "fp32"

# napari's settings (settings.yaml, which a viewer test writes when it resets them) go to a
# folder of this test run, never to the user's ~/.config/napari: napari reads NAPARI_CONFIG
# once, when napari.settings is first imported, which has not happened yet (asserted below;
# subprocesses inherit it). Removed when the run ends.
SETTINGS_DIR = Path(tempfile.mkdtemp(prefix="napari-unet-tests-settings-"))
os.environ["NAPARI_CONFIG"] = str(SETTINGS_DIR / "settings.yaml")
assert "napari.settings" not in sys.modules, "napari.settings was imported before NAPARI_CONFIG"


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


def pytest_unconfigure(config):
    shutil.rmtree(SETTINGS_DIR, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    if _can_render_gl():
        return
    skip = pytest.mark.skip(reason="needs OpenGL: run under Xvfb")
    for item in items:
        if "gl" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def napari_settings_dir() -> Path:
    """The folder NAPARI_CONFIG points into for this test run."""
    return SETTINGS_DIR


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (DRIVE and ISBI 2012); tests that need it skip when it is absent."""
    if not (DATA / "drive").is_dir() or not (DATA / "isbi2012").is_dir():
        pytest.skip(f"real data not found at {DATA} (see the project README, 'Data')")
    return DATA


def _discs(seed: int = 0, size: int = 96, classes: int = 2, dtype=np.uint8):
    """A synthetic fluorescence-like image of bright discs, some touching, on a noisy dim
    background, and its labels: 0/1, or with ``classes=3`` 0 background, 1 interior and
    2 the outer 2 px of each disc."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    objects = np.zeros((size, size), np.int32)
    for k in range(1, size // 10):
        cy, cx, r = rng.uniform(8, size - 8), rng.uniform(8, size - 8), rng.uniform(5, 9)
        objects[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = k
    labels = (objects > 0).astype(np.uint8)
    if classes == 3:
        same = ndimage.grey_erosion(objects, size=5) == ndimage.grey_dilation(objects, size=5)
        labels = np.where(objects > 0, 2, 0).astype(np.uint8)
        labels[(objects > 0) & same] = 1
    top = 60000 if dtype == np.uint16 else 220
    signal = ndimage.gaussian_filter(np.where(objects > 0, 1.0, 0.15), 1.0)
    image = signal * top * rng.uniform(0.8, 1.0, signal.shape) + rng.normal(
        0, 0.04 * top, signal.shape
    )
    return image.clip(0, np.iinfo(dtype).max).astype(dtype), labels


@pytest.fixture
def discs():
    """``discs(seed, size, classes, dtype) -> (image, labels)``: see :func:`_discs`."""
    return _discs
