"""A bioimage.io package of another tool (docs/other-models.md) chosen as a model file in the
Segment and Batch widgets, as a user would."""

import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_unet import PLUGIN
from napari_unet._widgets._model_picker import MODEL_FILE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
import foreign_packages as fp  # noqa: E402

TIMEOUT = 60_000


@pytest.fixture
def package(tmp_path):
    return fp.torchscript_package(tmp_path / "dilated.zip")


def test_segment_widget_runs_a_foreign_package(segment_widget, package, qtbot, messages):
    from unet_core.formats.store import load_model
    from unet_core.inference.predictor import Predictor

    viewer, widget = segment_widget
    image = np.random.default_rng(0).uniform(0, 255, (90, 110)).astype(np.float32)
    viewer.add_image(image, name="cells")
    widget._image.value = viewer.layers["cells"]
    widget._model.value = MODEL_FILE
    widget._model_file.value = package
    widget._device.value = "cpu"
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=TIMEOUT)
    assert messages["error"] == [], messages["error"]
    assert widget._status.value.startswith("segmented 'cells'"), widget._status.value
    prob = viewer.layers["cells probability"].data
    expected = Predictor(load_model(package, device="cpu"), device="cpu")(image)[1]
    np.testing.assert_allclose(prob, expected, atol=1e-5)
    labels = viewer.layers["cells labels"].data
    np.testing.assert_array_equal(labels, prob >= 0.5)
    assert "1 = nucleus" in widget._legend.value


def test_batch_widget_runs_a_foreign_package(make_napari_viewer, package, tmp_path, qtbot):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a", "b"):
        tifffile.imwrite(folder / f"{name}.tif", np.random.default_rng(1).integers(
            0, 255, (64, 72), dtype=np.uint8))  # fmt: skip
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Batch-segment a folder")
    widget._input.value = folder
    widget._model.value = MODEL_FILE
    widget._model_file.value = package
    widget._device.value = "cpu"
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=TIMEOUT)
    assert "2 file(s): 2 segmented" in widget._status.value, widget._status.value
    assert sorted(p.name for p in (folder / "segmented").glob("*_mask.tif")) == [
        "a_mask.tif", "b_mask.tif"]  # fmt: skip


def test_finetune_widget_trains_a_foreign_package_and_keeps_it_a_package(
        make_napari_viewer, package, qtbot, messages, tmp_path):  # fmt: skip
    from napari_unet._session import workspace

    viewer = make_napari_viewer()
    image = np.random.default_rng(1).integers(0, 120, (96, 96), dtype=np.uint8)
    image[20:50, 20:50] = 230
    layer = viewer.add_image(image, name="cells")
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    seg._image.value, seg._model.value, seg._model_file.value = layer, MODEL_FILE, package
    seg._device.value = "cpu"
    seg._run.clicked.emit()
    qtbot.waitUntil(lambda: seg._worker is None, timeout=TIMEOUT)
    labels = viewer.layers["cells labels"]
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    fine._pairs.image.value, fine._pairs.target.value = layer, labels
    fine._device.value, fine._steps.value = "cpu", 10
    stroke = (np.arange(22, 48), np.full(26, 30))
    labels.data_setitem(stroke, 1 - labels.data[stroke])  # a correction of what it said
    fine._run.clicked.emit()
    qtbot.waitUntil(lambda: fine._worker is None and fine._saving is None, timeout=TIMEOUT)
    assert messages["error"] == [], messages["error"]
    (version,) = workspace(viewer).versions()
    assert version.name == "fine-tuned v1", fine._status.value
    assert type(version.model).__name__ == "ForeignModel" and version.parent == str(package)
    fine._versions.versions.value = version.ref
    fine._versions.save_path.value = tmp_path / "mine.safetensors"
    fine._versions.save.clicked.emit()  # saved as what it is: a bioimage.io package
    assert messages["error"] == [], messages["error"]
    from unet_core.formats.store import load_model

    saved = load_model(tmp_path / "mine.zip", device="cpu")
    assert saved.card.name == "Dilated nuclei test fine-tuned v1"
