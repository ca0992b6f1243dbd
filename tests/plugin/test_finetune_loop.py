"""The paint-and-retrain loop keeps the user's work: painted pixels and ignore paint survive a
round, the right base model is chosen, scribbles teach a model, the threshold follows the
newest model, and the widget shows its field names even when docked into an empty viewer."""

import numpy as np
import pytest
from qtpy.QtWidgets import QLabel

from napari_unet._layers import layer_info, plane_record
from napari_unet._versions import STORE, ModelVersion
from napari_unet._widgets._where_next import camera_of
from napari_unet._widgets.finetune import LATEST
from unet_core.postprocess import probabilities_to_labels

TIMEOUT = 120_000


def cells_image() -> np.ndarray:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 120, (96, 96), dtype=np.uint8)
    image[20:50, 20:50] = 230
    image[60:80, 55:90] = 200
    return image


@pytest.fixture
def segmented(make_napari_viewer, tiny_model_file, qtbot):
    """An image segmented by the tiny model through the Segment widget, and the Fine-tune
    widget docked after it, as a user would."""
    viewer = make_napari_viewer()
    image = viewer.add_image(cells_image(), name="cells")
    _, seg = viewer.window.add_plugin_dock_widget("napari-unet", "Segment")
    seg._image.value = image
    seg._model.value = "model file…"
    seg._model_file.value = tiny_model_file
    seg._device.value = "cpu"
    seg._run.clicked.emit()
    qtbot.waitUntil(lambda: seg._worker is None, timeout=TIMEOUT)
    labels = viewer.layers["cells labels"]
    _, fine = viewer.window.add_plugin_dock_widget("napari-unet", "Fine-tune (paint and retrain)")
    fine._image.value, fine._target.value = image, labels
    fine._device.value = "cpu"
    fine._steps.value = 10
    return viewer, seg, fine, image, labels


def run_round(fine, qtbot) -> None:
    fine._run.clicked.emit()
    if fine._worker is not None:  # the round shows in napari's activity panel too
        assert fine._activity is not None and fine._activity.desc.startswith("fine-tuning")
    qtbot.waitUntil(lambda: fine._worker is None and fine._saving is None, timeout=TIMEOUT)
    assert fine._activity is None


def test_painted_pixels_and_ignore_paint_survive_a_round(segmented, qtbot):
    viewer, seg, fine, image, labels = segmented
    stroke = (np.arange(22, 48), np.full(26, 30))  # a vertical stroke of "cell" ...
    labels.data_setitem(stroke, 1)
    ignore = (np.arange(0, 10).repeat(10), np.tile(np.arange(0, 10), 10))  # ... and ignore paint
    labels.data_setitem(ignore, 255)
    run_round(fine, qtbot)
    assert STORE.names() == ["fine-tuned v1"], fine._status.value
    assert (labels.data[stroke] == 1).all()
    assert (labels.data[ignore] == 255).all()
    qtbot.waitUntil(lambda: "cells changed" in viewer.layers, timeout=5000)
    changed = viewer.layers["cells changed"].data.astype(bool)
    assert f"{int(changed.sum())} pixel(s) changed" in fine._status.value
    unpainted = plane_record(labels)["painted"] == 0
    new = probabilities_to_labels(plane_record(labels)["prob"])
    np.testing.assert_array_equal(labels.data[unpainted], new[unpainted])  # the rest follows
    assert not changed[stroke].any() and not changed[ignore].any()
    assert layer_info(labels)["model"] == "fine-tuned v1"

    # the threshold slider now re-derives the labels from the new model, painting kept
    seg._threshold.value = 0.3
    fresh = probabilities_to_labels(plane_record(labels)["prob"], 0.3)
    np.testing.assert_array_equal(labels.data[unpainted], fresh[unpainted])
    assert (labels.data[ignore] == 255).all()


def test_the_base_model_is_the_one_that_made_the_labels(segmented, tiny_model_file, qtbot):
    viewer, seg, fine, image, labels = segmented
    # a version of another model, made on another image, is newer than anything here
    STORE.add(ModelVersion(name="fine-tuned v1", model=None, parent="drive", images=["fundus"],
                           steps=5, seconds=1.0))  # fmt: skip
    assert fine._base_spec(labels) == str(tiny_model_file)
    run_round(fine, qtbot)
    assert STORE.versions[-1].parent == str(tiny_model_file), fine._status.value
    # the next round on these labels starts from the version made from them
    assert fine._base_spec(labels) == STORE.versions[-1].name == "fine-tuned v2"
    assert STORE.lineage("fine-tuned v2") == ["fine-tuned v2", str(tiny_model_file)]


def test_a_model_that_does_not_fit_the_labels_gives_one_line(segmented, qtbot, monkeypatch):
    import napari_unet._widgets.finetune as module

    errors = []
    monkeypatch.setattr(module, "show_error", errors.append)
    viewer, seg, fine, image, labels = segmented
    labels.data_setitem((np.array([5]), np.array([5])), 3)  # the tiny model has two classes
    fine._run.clicked.emit()
    assert "class indices 0..1" in errors[-1] and "\n" not in errors[-1]
    assert fine._worker is None and STORE.versions == []


def test_scribbles_on_an_image_with_no_prediction_train_a_model(
    make_napari_viewer, tiny_model_file, qtbot
):
    viewer = make_napari_viewer()
    image = viewer.add_image(cells_image(), name="cells")
    _, fine = viewer.window.add_plugin_dock_widget("napari-unet", "Fine-tune (paint and retrain)")
    fine._image.value = image
    fine._mode.value = "scribbles"
    fine._new_scribbles.clicked.emit()
    scribbles = viewer.layers["cells scribbles"]
    assert fine._target.value is scribbles and not scribbles.data.any()
    assert fine._legend.value.startswith("0 = not annotated; 1 = background")
    scribbles.data_setitem((np.full(20, 5), np.arange(60, 80)), 1)  # background stroke
    scribbles.data_setitem((np.full(20, 35), np.arange(25, 45)), 2)  # a stroke in the cell
    painted = scribbles.data.copy()
    fine._base.value = "model file…"
    fine._base_file.value = tiny_model_file
    fine._device.value = "cpu"
    fine._steps.value = 10
    run_round(fine, qtbot)
    assert STORE.names() == ["fine-tuned v1"], fine._status.value
    np.testing.assert_array_equal(scribbles.data, painted)  # the scribbles stay as painted
    prediction = viewer.layers["cells labels"]
    assert set(np.unique(prediction.data)) <= {0, 1}
    assert layer_info(prediction)["model"] == "fine-tuned v1"
    fine._base.value = LATEST  # the next round starts from the version these scribbles made
    assert fine._base_spec(scribbles) == "fine-tuned v1"


def test_field_names_show_when_docked_before_any_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    _, fine = viewer.window.add_plugin_dock_widget("napari-unet", "Fine-tune (paint and retrain)")
    texts = {label.text() for label in fine.native.findChildren(QLabel)}
    assert {"image", "mode", "corrected labels", "budget (s)", "base model"} <= texts, texts
    viewer.add_image(cells_image(), name="cells")
    viewer.add_labels(np.zeros((96, 96), np.uint8), name="cells labels")
    texts = {label.text() for label in fine.native.findChildren(QLabel)}
    assert {"image", "corrected labels"} <= texts


def test_a_project_reopened_in_a_new_viewer_restores_pairs_and_versions(
    segmented, make_napari_viewer, qtbot, tmp_path
):
    import csv

    viewer, seg, fine, image, labels = segmented
    fine._project.value = tmp_path / "project"
    labels.data_setitem((np.arange(22, 48), np.full(26, 30)), 1)
    run_round(fine, qtbot)
    before_second = labels.data.copy()
    run_round(fine, qtbot)
    assert STORE.names() == ["fine-tuned v1", "fine-tuned v2"], fine._status.value
    assert "saved to" in fine._status.value
    with open(tmp_path / "project" / "learning_curve.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["version"] for r in rows] == ["fine-tuned v1", "fine-tuned v2"]
    assert rows[1]["parent"] == "fine-tuned v1" and int(rows[0]["corrected_pixels"]) > 0

    STORE.versions.clear()  # a new napari session
    viewer2 = make_napari_viewer()
    _, fine2 = viewer2.window.add_plugin_dock_widget("napari-unet", "Fine-tune (paint and retrain)")
    fine2._project.value = tmp_path / "project"
    fine2._open_project.clicked.emit()
    assert STORE.names() == ["fine-tuned v1", "fine-tuned v2"]
    assert STORE.versions[1].parent == "fine-tuned v1" and STORE.versions[1].steps == 10
    restored = viewer2.layers["cells labels"]
    np.testing.assert_array_equal(restored.data, before_second)
    np.testing.assert_array_equal(viewer2.layers["cells"].data, image.data)
    assert fine2._target.value is restored and fine2._base_spec(restored) == "fine-tuned v2"
    fine2._device.value = "cpu"
    fine2._steps.value = 5
    run_round(fine2, qtbot)  # and the loop goes on from there
    assert STORE.names()[-1] == "fine-tuned v3" and STORE.versions[-1].parent == "fine-tuned v2"


def test_where_to_correct_next(segmented, qtbot):
    from unet_core.uncertainty import entropy, most_uncertain_region

    viewer, seg, fine, image, labels = segmented
    fine._unsure.clicked.emit()
    layer = viewer.layers["cells uncertainty"]
    np.testing.assert_allclose(layer.data, entropy(plane_record(labels)["prob"]), atol=1e-6)
    fine._goto.clicked.emit()
    row, col = fine._goto_target
    assert f"row {row}, column {col}" in fine._status.value
    np.testing.assert_allclose(camera_of(viewer).center[-2:], (row, col), atol=1e-6)
    # once that region is corrected, the next most uncertain one is shown
    box = np.s_[max(0, row - 32) : row + 32, max(0, col - 32) : col + 32]
    painted = labels.data.copy()
    painted[box] = 255  # the user looked at it and marked it "ignore"
    labels.data = painted
    fine._goto.clicked.emit()
    done = np.zeros(painted.shape, bool)
    done[box] = True
    expected = most_uncertain_region(layer.data, done)
    assert fine._goto_target == expected[:2] != (row, col)
