"""A layer whose result is too large for memory (the limit lowered): its probability and
labels go band by band into a new zarr folder, shown lazily, the labels paintable on disk,
the threshold re-applied band by band, the source never read whole."""

import numpy as np
import pytest
from test_segment_widget import run_and_wait

import napari_unet._widgets._on_disk as on_disk
import unet_core.inference.bands as bands
from napari_unet._widgets._model_picker import MODEL_FILE

TIMEOUT = 60_000


@pytest.fixture
def valid_model_file(tmp_path):
    """Valid convolutions: a band-by-band pass equals a whole-image one exactly (a padded
    network's bands differ at the seams by about 0.01)."""
    import torch

    from unet_core import Preprocessing, UNet, save_model

    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="valid", batch_norm=True)
    return save_model(model, tmp_path / "valid", name="valid", classes=["background", "cell"],
                      preprocessing=Preprocessing("gray", "zscore"))  # fmt: skip


def test_a_layer_too_large_for_memory_is_segmented_into_zarr_on_disk(
    segment_widget, valid_model_file, qtbot, messages, recorded, monkeypatch, tmp_path
):
    zarr = pytest.importorskip("zarr")
    da = pytest.importorskip("dask.array")
    monkeypatch.setattr(on_disk, "ON_DISK_FRACTION", 1e-9)  # every layer is too large
    monkeypatch.setattr(bands, "BAND_ROWS", 96)  # several bands
    viewer, widget = segment_widget
    image = np.random.default_rng(3).integers(0, 255, (400, 300), dtype=np.uint8)
    source = recorded(image)
    layer = viewer.add_image(da.from_array(source, chunks=(100, 300)), name="huge",
                             contrast_limits=(0, 255))  # fmt: skip
    widget._image.value = layer
    assert not widget._objects.enabled and "whole image" in widget._objects.tooltip
    widget._model.value = MODEL_FILE
    widget._model_file.value = valid_model_file
    widget._device.value = "cpu"
    source.reads.clear()
    run_and_wait(qtbot, widget)
    assert messages["error"] == [], messages["error"]
    folder = tmp_path / "home" / "napari-unet-projects" / "huge.segmented.zarr"
    assert str(folder) in widget._status.value, widget._status.value
    assert source.reads and max(source.reads) <= image.size // 4, max(source.reads)

    prob_layer, labels_layer = viewer.layers["huge probability"], viewer.layers["huge labels"]
    assert isinstance(prob_layer.data, zarr.Array) and isinstance(labels_layer.data, zarr.Array)
    stored = zarr.open_group(str(folder), mode="r")
    on_disk_prob, on_disk_labels = stored["probability"][:], stored["labels"][:]
    assert on_disk_prob.dtype == np.float32 and on_disk_labels.dtype == np.uint8

    # the same as the in-memory result of the same pixels
    monkeypatch.setattr(on_disk, "ON_DISK_FRACTION", 0.5)
    widget._image.value = viewer.add_image(image, name="in memory")
    assert widget._objects.enabled
    run_and_wait(qtbot, widget)
    assert isinstance(viewer.layers["in memory labels"].data, np.ndarray)
    np.testing.assert_allclose(on_disk_prob, viewer.layers["in memory probability"].data,
                               atol=1e-5)  # fmt: skip
    np.testing.assert_array_equal(on_disk_labels, viewer.layers["in memory labels"].data)
    assert 0 < on_disk_labels.mean() < 1

    # painting writes into the store; a threshold moved later keeps the painted pixels
    monkeypatch.setattr(on_disk, "ON_DISK_FRACTION", 1e-9)
    widget._image.value = layer
    run_and_wait(qtbot, widget)  # a second run: a new folder, the first one left as it was
    second = folder.with_name("huge.segmented-2.zarr")
    assert str(second) in widget._status.value and folder.is_dir()
    labels_layer = viewer.layers[-1]
    assert labels_layer.name.startswith("huge labels") and labels_layer.data.store_path
    labels_layer.brush_size = 5
    labels_layer.paint((200, 150), 7)
    assert zarr.open_array(str(second / "labels"), mode="r")[200, 150] == 7
    widget._threshold.value = 0.8
    qtbot.waitUntil(lambda: "re-derived at 0.80" in widget._status.value, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: widget._worker is None, timeout=TIMEOUT)
    after = zarr.open_array(str(second / "labels"), mode="r")[:]
    painted = after == 7
    assert painted[200, 150] and painted.sum() < 50
    np.testing.assert_array_equal(after[~painted], (on_disk_prob >= 0.8)[~painted])
    assert messages["error"] == []


def test_cancel_leaves_no_folder(segment_widget, tiny_model_file, qtbot, monkeypatch, tmp_path):
    monkeypatch.setattr(on_disk, "ON_DISK_FRACTION", 1e-9)
    viewer, widget = segment_widget
    big = np.random.default_rng(0).integers(0, 255, (1500, 1500), dtype=np.uint8)
    widget._image.value = viewer.add_image(big, name="big")
    widget._model.value = MODEL_FILE
    widget._model_file.value = tiny_model_file
    widget._device.value = "cpu"
    widget._tile.value = 64  # hundreds of tiles
    n_layers = len(viewer.layers)
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._progress.value >= 1, timeout=TIMEOUT)
    widget._cancel.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=TIMEOUT)
    assert widget._status.value == "cancelled: nothing was kept"
    assert len(viewer.layers) == n_layers
    assert not list((tmp_path / "home" / "napari-unet-projects").glob("*.zarr"))
