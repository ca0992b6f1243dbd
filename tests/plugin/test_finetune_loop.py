"""The paint-and-retrain loop keeps the user's work through rounds, thresholds, roll-backs and a
restart: painted pixels and ignore paint survive, the base of a round is the model of those very
labels, labels of another image are not trained on silently, and a project reopened in a new
viewer goes on exactly where it stopped."""

import numpy as np
import pytest
from qtpy.QtWidgets import QLabel

from napari_unet import PLUGIN
from napari_unet._session import pair_of, workspace
from napari_unet._widgets._where_next import camera_of
from napari_unet._widgets.finetune import LATEST
from unet_core.postprocess import probabilities_to_labels

TIMEOUT = 120_000
FINETUNE = "Fine-tune"


def cells_image(seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 120, (96, 96), dtype=np.uint8)
    image[20:50, 20:50] = 230
    image[60:80, 55:90] = 200
    return image


def segment(viewer, qtbot, image, model_file):
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    seg._image.value = image
    seg._model.value = "model file…"
    seg._model_file.value = model_file
    seg._device.value = "cpu"
    seg._run.clicked.emit()
    qtbot.waitUntil(lambda: seg._worker is None, timeout=TIMEOUT)
    return seg


@pytest.fixture
def segmented(make_napari_viewer, tiny_model_file, qtbot):
    """An image segmented by the tiny model through the Segment widget, and the Fine-tune
    widget docked after it, as a user would."""
    viewer = make_napari_viewer()
    image = viewer.add_image(cells_image(), name="cells")
    seg = segment(viewer, qtbot, image, tiny_model_file)
    labels = viewer.layers["cells labels"]
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    fine._pairs.image.value, fine._pairs.target.value = image, labels
    fine._device.value = "cpu"
    fine._steps.value = 10
    return viewer, seg, fine, image, labels


def run_round(fine, qtbot) -> None:
    fine._run.clicked.emit()
    if fine._worker is not None:  # the round shows in napari's activity panel too
        assert fine._runner.activity is not None
        assert fine._runner.activity.desc.startswith("fine-tuning")
    qtbot.waitUntil(lambda: fine._worker is None and fine._saving is None, timeout=TIMEOUT)
    assert fine._runner.activity is None


def names(viewer) -> list[str]:
    return [v.name for v in workspace(viewer).versions()]


def test_painted_pixels_and_ignore_paint_survive_a_round(segmented, qtbot):
    viewer, seg, fine, image, labels = segmented
    stroke = (np.arange(22, 48), np.full(26, 30))  # a vertical stroke of "cell" ...
    labels.data_setitem(stroke, 1)
    ignore = (np.arange(0, 10).repeat(10), np.tile(np.arange(0, 10), 10))  # ... and ignore paint
    labels.data_setitem(ignore, 255)
    run_round(fine, qtbot)
    assert names(viewer) == ["fine-tuned v1"], fine._status.value
    assert (labels.data[stroke] == 1).all()
    assert (labels.data[ignore] == 255).all()
    qtbot.waitUntil(lambda: "cells changed" in viewer.layers, timeout=5000)
    changed = viewer.layers["cells changed"].data.astype(bool)
    assert f"{int(changed.sum())} pixel(s) changed" in fine._status.value
    pair = pair_of(viewer, labels)
    unpainted = ~pair.painted()
    new = probabilities_to_labels(pair.prediction().prob)
    np.testing.assert_array_equal(labels.data[unpainted], new[unpainted])  # the rest follows
    assert not changed[stroke].any() and not changed[ignore].any()
    assert pair.model == workspace(viewer).versions()[0].ref

    # the threshold slider now re-derives the labels from the new model, painting kept
    seg._threshold.value = 0.3
    fresh = probabilities_to_labels(pair.prediction().prob, 0.3)
    np.testing.assert_array_equal(labels.data[unpainted], fresh[unpainted])
    assert (labels.data[ignore] == 255).all()


def test_the_base_is_the_model_of_these_labels_and_rolling_back_sticks(
    segmented, tiny_model_file, make_napari_viewer, qtbot
):
    viewer, seg, fine, image, labels = segmented
    labels.data_setitem((np.arange(22, 48), np.full(26, 30)), 1)
    run_round(fine, qtbot)
    run_round(fine, qtbot)
    ws = workspace(viewer)
    v1, v2 = ws.versions()
    assert v1.parent == str(tiny_model_file) and v2.parent == v1.ref
    assert fine._base_ref(pair_of(viewer, labels)) == v2.ref

    # a second labels layer of the same image goes on from its own model, not from v2
    other = viewer.add_labels(np.zeros((96, 96), np.uint8), name="cells labels 2")
    fine._pairs.target.value = other
    fine._pairs.mode.value = "scribbles"
    fine._base.value = "model file…"
    fine._base_file.value = tiny_model_file
    other.data_setitem((np.full(20, 5), np.arange(60, 80)), 1)
    run_round(fine, qtbot)
    v3 = ws.versions()[-1]
    assert v3.parent == str(tiny_model_file) and pair_of(viewer, other).model == v3.ref

    # re-segmenting the first labels with v1 makes v1 their base: the roll-back sticks
    fine._pairs.target.value = labels
    fine._base.value = LATEST
    fine._versions.versions.value = v1.ref
    fine._versions.use.clicked.emit()
    qtbot.waitUntil(lambda: fine._worker is None, timeout=TIMEOUT)
    assert fine._status.value.startswith("segmented with fine-tuned v1"), fine._status.value
    assert fine._base_ref(pair_of(viewer, labels)) == v1.ref
    run_round(fine, qtbot)
    assert ws.versions()[-1].parent == v1.ref and ws.versions()[-1].name == "fine-tuned v4"


def test_labels_of_another_image_are_not_trained_on_without_a_word(segmented, qtbot):
    viewer, seg, fine, image, labels = segmented
    labels.data_setitem((np.arange(22, 48), np.full(26, 30)), 1)
    before = labels.data.copy()
    other = viewer.add_image(cells_image(seed=7), name="other")
    fine._pairs.image.value = other
    fine._run.clicked.emit()
    assert fine._worker is None and names(viewer) == []
    assert fine._choice.open and "'cells labels' were made on 'cells', not on 'other'" in \
        fine._choice.question.value  # fmt: skip
    np.testing.assert_array_equal(labels.data, before)  # nothing written into them
    assert fine._choice.first.text == "Use 'cells'"
    fine._choice.first.clicked.emit()  # the labels' own image: the round goes ahead
    qtbot.waitUntil(lambda: fine._worker is None and fine._saving is None, timeout=TIMEOUT)
    assert fine._pairs.image.value is image and names(viewer) == ["fine-tuned v1"]

    # the image changed since: said, and a round on the new pixels is the user's choice
    image.data = cells_image(seed=2)
    fine._run.clicked.emit()
    assert "'cells' changed since 'cells labels' were made on it" in fine._choice.question.value
    assert fine._choice.first.text == "Go on with 'cells'" and not fine._choice.second.visible
    fine._choice.first.clicked.emit()
    qtbot.waitUntil(lambda: fine._worker is None and fine._saving is None, timeout=TIMEOUT)
    assert names(viewer) == ["fine-tuned v1", "fine-tuned v2"], fine._status.value
    assert pair_of(viewer, labels).image.mismatch(
        pair_of(viewer, labels).image, "") is None  # fmt: skip


def test_corrections_on_labels_no_model_made_and_empty_layers(make_napari_viewer,
                                                             tiny_model_file, qtbot):  # fmt: skip
    viewer = make_napari_viewer()
    image = viewer.add_image(cells_image(), name="cells")
    hand = viewer.add_labels(np.zeros((96, 96), np.uint8), name="hand")
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    fine._pairs.image.value, fine._pairs.target.value = image, hand
    fine._base.value, fine._base_file.value = "model file…", tiny_model_file
    fine._device.value, fine._steps.value = "cpu", 5
    hand.data_setitem((np.arange(22, 48), np.full(26, 30)), 1)
    fine._run.clicked.emit()  # "everything unpainted is background" would be a guess
    assert fine._worker is None and names(viewer) == []
    assert "no model has segmented 'hand'" in fine._status.value
    assert "scribbles mode" in fine._status.value and fine._choice.open
    assert [fine._choice.first.text, fine._choice.second.text] == [
        "New scribbles layer", "Every pixel is annotated"]  # fmt: skip
    fine._choice.first.clicked.emit()
    scribbles = viewer.layers["cells scribbles"]
    assert fine._pairs.target.value is scribbles and fine._pairs.mode.value == "scribbles"
    fine._run.clicked.emit()  # an empty layer trains nothing
    assert fine._worker is None and "nothing is painted in 'cells scribbles'" in \
        fine._status.value  # fmt: skip
    fine._pairs.target.value = hand  # or: the user says every pixel was drawn by hand
    fine._run.clicked.emit()
    fine._choice.second.clicked.emit()
    qtbot.waitUntil(lambda: fine._worker is None and fine._saving is None, timeout=TIMEOUT)
    assert names(viewer) == ["fine-tuned v1"] and pair_of(viewer, hand).complete


def test_scribbles_teach_a_model_with_one_colour_per_class(make_napari_viewer, tiny_model_file,
                                                           qtbot):  # fmt: skip
    viewer = make_napari_viewer()
    image = viewer.add_image(cells_image(), name="cells")
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    fine._pairs.image.value = image
    fine._base.value = "model file…"
    fine._base_file.value = tiny_model_file
    fine._pairs.new_scribbles.clicked.emit()  # from corrections mode: it switches
    scribbles = viewer.layers["cells scribbles"]
    assert fine._pairs.target.value is scribbles and not scribbles.data.any()
    assert fine._pairs.mode.value == "scribbles" and fine._pairs.names.value == "background, cell"
    fine._pairs.names.value = "background, nucleus"  # the classes renamed where they are made
    assert fine._pairs.legend.value == ("0 = not annotated; 1 = background (dodgerblue), "
                                        "2 = nucleus (lime)")  # fmt: skip
    scribbles.data_setitem((np.full(20, 5), np.arange(60, 80)), 1)  # background stroke
    scribbles.data_setitem((np.full(20, 35), np.arange(25, 45)), 2)  # a stroke in the cell
    painted = scribbles.data.copy()
    fine._device.value = "cpu"
    fine._steps.value = 10
    run_round(fine, qtbot)
    assert names(viewer) == ["fine-tuned v1"], fine._status.value
    np.testing.assert_array_equal(scribbles.data, painted)  # the scribbles stay as painted
    prediction = viewer.layers["cells scribbles prediction"]
    assert set(np.unique(prediction.data)) <= {0, 1}
    # class 1 ("nucleus") has one colour in both layers
    colour = scribbles.colormap.map(np.array([2]))[0]
    np.testing.assert_allclose(prediction.colormap.map(np.array([1]))[0], colour)
    pair = pair_of(viewer, scribbles)
    assert pair.classes == ["background", "nucleus"] and pair.model.startswith("version:")
    assert workspace(viewer).versions()[0].classes == ["background", "nucleus"]

    # where the model is unsure, in scribbles mode (napari 0.9: LayerList has no .get)
    fine._where.unsure.clicked.emit()
    assert "cells uncertainty" in viewer.layers, fine._status.value
    fine._where.goto.clicked.emit()
    row, col = fine._where.target
    assert f"row {row}, column {col}" in fine._status.value


def test_field_names_show_when_docked_before_any_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    texts = {label.text() for label in fine.native.findChildren(QLabel)}
    assert {"image", "mode", "labels", "budget (s)", "base model"} <= texts, texts
    viewer.add_image(cells_image(), name="cells")
    viewer.add_labels(np.zeros((96, 96), np.uint8), name="cells labels")
    texts = {label.text() for label in fine.native.findChildren(QLabel)}
    assert {"image", "labels"} <= texts


def test_where_to_correct_next(segmented, qtbot):
    from unet_core.uncertainty import entropy, most_uncertain_region

    viewer, seg, fine, image, labels = segmented
    fine._where.unsure.clicked.emit()
    layer = viewer.layers["cells uncertainty"]
    pair = pair_of(viewer, labels)
    np.testing.assert_allclose(layer.data, entropy(pair.prediction().prob), atol=1e-6)
    fine._where.goto.clicked.emit()
    row, col = fine._where.target
    assert f"row {row}, column {col}" in fine._status.value
    np.testing.assert_allclose(camera_of(viewer).center[-2:], (row, col), atol=1e-6)
    # once that region is corrected, the next most uncertain one is shown
    box = np.s_[max(0, row - 32) : row + 32, max(0, col - 32) : col + 32]
    painted = labels.data.copy()
    painted[box] = 255  # the user looked at it and marked it "ignore"
    labels.data = painted
    fine._where.goto.clicked.emit()
    done = np.zeros(painted.shape, bool)
    done[box] = True
    expected = most_uncertain_region(layer.data, done)
    assert fine._where.target == expected[:2] != (row, col)


def test_labels_segmented_after_the_widget_was_docked_show_their_classes(
    make_napari_viewer, tiny_model_file, qtbot
):
    viewer = make_napari_viewer()
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    image = viewer.add_image(cells_image(), name="cells")
    segment(viewer, qtbot, image, tiny_model_file)  # napari lists the layer, then it is a pair
    assert fine._pairs.target.value is viewer.layers["cells labels"]
    assert fine._pairs.names.value == "background, cell", fine._pairs.names.value
    assert "1 = cell (lime)" in fine._pairs.legend.value
    fine._pairs.mode.value = "scribbles"  # a predicted layer's mode is kept, and why is said
    assert fine._pairs.mode.value == "corrections"
    assert "'cells labels' holds corrections" in fine._pairs.legend.value


def test_a_new_class_is_named_painted_and_learned(segmented, qtbot, tmp_path):
    """Issue 36: a value the model has no class for is refused until it is named; named, the
    round adds the class to the model, the labels keep it and the version records it."""
    viewer, seg, fine, image, labels = segmented
    edge = (np.full(30, 20), np.arange(20, 50))  # the cell's top edge, as a new class
    labels.data_setitem(edge, 2)
    run_round(fine, qtbot)
    assert names(viewer) == []  # refused before any training, and the way out is said
    assert "not started" in fine._status.value and "'class names'" in fine._status.value
    fine._pairs.names.value = "background, cell, edge"
    assert "2 = edge (cyan)" in fine._pairs.legend.value
    fine._steps.value = 30
    run_round(fine, qtbot)
    assert names(viewer) == ["fine-tuned v1"], fine._status.value
    assert (labels.data[edge] == 2).all()  # what was painted is kept
    version = workspace(viewer).versions()[0]
    assert version.classes == ["background", "cell", "edge"]
    assert version.model.num_classes == 3
    assert version.model.card.provenance["classes_added"] == ["edge"]
    assert pair_of(viewer, labels).classes == ["background", "cell", "edge"]
    fine._pairs.names.value = "background, cell"  # a class cannot be taken away again
    assert "none can be removed" in fine._pairs.legend.value
    assert pair_of(viewer, labels).classes == ["background", "cell", "edge"]
