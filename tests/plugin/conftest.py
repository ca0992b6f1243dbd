"""Plugin fixtures: tiny model files and a docked segment widget."""

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
