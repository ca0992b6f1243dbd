"""Plugin fixtures: tiny model files, a docked segment widget, an array that records its
reads."""

from __future__ import annotations

import pytest

from napari_unet import PLUGIN


@pytest.fixture
def tiny_model_file(tmp_path):
    """A small random gray-input model file (fast on CPU)."""
    import torch

    from unet_core import Preprocessing, UNet, save_model

    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True)
    return save_model(model, tmp_path / "tiny", name="tiny", classes=["background", "cell"],
                      preprocessing=Preprocessing("gray", "zscore"))  # fmt: skip


@pytest.fixture
def tiny_3d_model_file(tmp_path):
    """A small random gray-input 3-D model file (volumes)."""
    import torch

    from unet_core import Preprocessing, UNet, save_model

    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True, spatial_dims=3)
    return save_model(model, tmp_path / "tiny3d", name="tiny3d", classes=["background", "cell"],
                      preprocessing=Preprocessing("gray", "zscore"))  # fmt: skip


class Recorded:
    """An array-like layer data (as a dask or zarr array is) that records the size of every
    read, to tell tile-by-tile reading from loading the whole image."""

    def __init__(self, array):
        self.array, self.reads = array, []
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        self.size = array.size

    def __getitem__(self, key):
        part = self.array[key]
        self.reads.append(part.size)
        return part

    def __array__(self, dtype=None, copy=None):
        self.reads.append(self.array.size)
        return self.array if dtype is None else self.array.astype(dtype)


@pytest.fixture
def recorded():
    """:class:`Recorded`: wrap an array to see every read of it."""
    return Recorded


@pytest.fixture
def messages(monkeypatch):
    """Notifications the Segment widget shows, by kind (and a failed job's error); the widget
    tests of other widgets have their own."""
    import napari_unet._widgets._runner as runner_module
    import napari_unet._widgets.segment as segment_module

    seen = {"error": [], "warning": [], "info": []}
    for kind in seen:
        monkeypatch.setattr(segment_module, f"show_{kind}", seen[kind].append)
    monkeypatch.setattr(runner_module, "show_error", seen["error"].append)
    return seen


@pytest.fixture
def segment_widget(make_napari_viewer):
    """(viewer, widget): the Segment widget opened through the plugin manifest."""
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    return viewer, widget


@pytest.fixture(autouse=True)
def home_in_tmp(tmp_path, monkeypatch):
    """Projects saved to their default folder (``~/napari-unet-projects``) land in tmp."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
