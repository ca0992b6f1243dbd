"""The Fine-tune widget: paint, fine-tune in the background, versions, cancel, responsiveness."""

import time

import numpy as np
import pytest
from qtpy.QtCore import QTimer

from napari_unet import PLUGIN
from napari_unet._session import new_pair, workspace
from unet_core import load_model

TIMEOUT = 120_000


@pytest.fixture
def painted(make_napari_viewer, tiny_model_file):
    """A viewer with an image, a labels layer 'segmented' by the tiny model and a painted
    correction, and the Fine-tune widget opened through the manifest."""
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (96, 96), dtype=np.uint8)
    image[20:50, 20:50] = 230
    img_layer = viewer.add_image(image, name="cells")
    labels = np.zeros((96, 96), np.uint8)
    labels[20:50, 20:50] = 1  # the correction: this square is a cell
    lab_layer = viewer.add_labels(labels, name="cells labels")
    # labels the tiny model predicted (all background), then a square corrected to "cell"
    pair = new_pair(viewer, img_layer, lab_layer, "corrections", ["background", "cell"])
    pair.record_mask(np.zeros((96, 96), np.uint8), str(tiny_model_file))
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    widget._pairs.image.value, widget._pairs.target.value = img_layer, lab_layer
    widget._device.value = "cpu"
    return viewer, widget, img_layer, lab_layer


def test_finetune_adds_a_version_and_resegments(painted, qtbot, tmp_path):
    viewer, widget, img_layer, lab_layer = painted
    widget._steps.value = 15
    widget._seconds.value = 60
    widget._run.clicked.emit()
    lab_layer.data[0, 0] = 255  # painting on during training is safe: the data were copied
    qtbot.waitUntil(lambda: widget._worker is None, timeout=TIMEOUT)
    (version,) = workspace(viewer).versions()
    assert version.name == "fine-tuned v1", widget._status.value
    assert version.steps == 15 and version.images == ["cells"]
    assert widget._status.value.startswith("fine-tuned v1")
    assert workspace(viewer).pairs()[0].model == version.ref
    # labels painted by hand are the user's: the round keeps all of them, the 255 too
    assert lab_layer.data[0, 0] == 255 and lab_layer.data[20:50, 20:50].min() == 1
    assert version.ref in widget._base.choices and version.ref in widget._versions.versions.choices
    assert widget.plot.losses and len(widget.plot.losses) == 15

    # segment with the version and compare it on a held-out pair, both in the background
    widget._versions.use.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=TIMEOUT)
    assert widget._status.value.startswith("segmented with fine-tuned v1"), widget._status.value
    widget._held_image.value, widget._held_labels.value = img_layer, lab_layer
    widget._versions.compare_with.value = version.ref
    widget._versions.compare.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=TIMEOUT)
    assert widget._status.value.startswith("held-out Dice: fine-tuned v1"), widget._status.value

    # restore the corrections it was trained on, then save the version as a model file
    widget._versions.restore.clicked.emit()
    assert lab_layer.data[20:50, 20:50].min() == 1 and lab_layer.data[0, 0] == 0
    widget._versions.save_path.value = tmp_path / "mine.safetensors"
    widget._versions.save.clicked.emit()
    saved = load_model(tmp_path / "mine.safetensors", device="cpu")
    assert saved.card.name == "fine-tuned v1" and saved.card.provenance["finetune"]["steps"] == 15
    assert saved.card.classes == ["background", "cell"]

    # the Segment widget offers the new version
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    assert version.ref in seg._model.choices


def test_cancel_keeps_the_previous_model(painted, qtbot):
    viewer, widget, img_layer, lab_layer = painted
    before = lab_layer.data.copy()
    widget._seconds.value = 120
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: len(widget.plot.losses) >= 2, timeout=TIMEOUT)
    start = time.perf_counter()
    widget._cancel.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=TIMEOUT)
    print(f"cancel took {time.perf_counter() - start:.2f} s")
    assert time.perf_counter() - start < 2.0
    assert workspace(viewer).versions() == [] and widget._status.value.startswith("cancelled")
    np.testing.assert_array_equal(lab_layer.data, before)


def test_event_loop_stays_responsive_during_finetuning(painted, qtbot):
    viewer, widget, img_layer, lab_layer = painted
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    widget._steps.value = 20
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=TIMEOUT)
    timer.stop()
    gaps = np.diff(ticks) * 1000
    print(f"event loop during fine-tuning: {len(ticks)} ticks, longest stall {gaps.max():.0f} ms, "
          f"99th percentile {np.percentile(gaps, 99):.0f} ms")  # fmt: skip
    assert [v.name for v in workspace(viewer).versions()] == ["fine-tuned v1"]
    assert gaps.max() < 100


def test_errors_are_one_line(painted, qtbot, monkeypatch):
    import napari_unet._widgets.finetune as module

    errors = []
    monkeypatch.setattr(module, "show_error", errors.append)
    viewer, widget, img_layer, lab_layer = painted
    widget._pairs.target.value = viewer.add_labels(np.zeros((10, 10), np.uint8), name="wrong")
    widget._run.clicked.emit()  # labels nobody made: what to do instead, in one line
    assert errors[-1].startswith("napari-unet: no model has segmented 'wrong', so its unpainted")
    widget._pairs.mode.value = "scribbles"
    widget._pairs.target.value.data_setitem((np.array([2]), np.array([2])), 1)
    widget._run.clicked.emit()
    assert "'wrong' (10, 10) does not match 'cells' (96, 96)" in errors[-1], errors
    widget._versions.use.clicked.emit()
    assert widget._status.value == "no fine-tuned version yet"
    assert widget._worker is None and workspace(viewer).versions() == []
