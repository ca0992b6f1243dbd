"""Issue 35: the Measure widget shows what research publishes of a vessel map, follows the
labels as they are corrected, shows the segments, disc and zone it measured, and says in one
line when the layers do not fit."""

import sys
from pathlib import Path

import numpy as np
import pytest

from napari_unet import PLUGIN

sys.path.insert(0, str(Path(__file__).parents[1] / "core"))
from test_retina import fundus, tree  # noqa: E402

TIMEOUT = 60_000


@pytest.fixture
def measured(make_napari_viewer, qtbot):
    """A drawn photograph with a bright disc and an artery/vein map around it, measured."""
    viewer = make_napari_viewer()
    image, _ = fundus(disc_at=(200, 200), disc_radius=30)
    photo = viewer.add_image(image, name="eye")
    labels = viewer.add_labels(tree([5] * 6, [7] * 6), name="eye labels")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Measure vessels (retina)")
    widget._image.value, widget._target.value = photo, labels
    widget._typed.value = True
    widget._pixel.value = 30.0
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and bool(widget._measured), timeout=TIMEOUT)
    return viewer, widget, labels



def test_the_table_shows_the_measures_and_follows_a_correction(measured, qtbot):
    viewer, widget, labels = measured
    rows = {row[0]: row[1] for row in widget._table.value["data"]}
    assert rows["segments"] == "12", widget._status.value
    assert float(rows["crae_um"]) == pytest.approx(30 * float(rows["crae_px"]), rel=0.01)
    assert float(rows["avr"]) < 1 and rows["microns_per_pixel"] == "30"
    from qtpy.QtCore import QLocale, Qt

    table = widget._table.native  # each cell shows the widget's own text, not a re-formatting
    for row, (name, text) in enumerate(widget._table.value["data"]):
        shown = table.itemDelegate().displayText(
            table.item(row, 1).data(Qt.ItemDataRole.DisplayRole), QLocale())
        assert shown == text, name
    assert rows["skeleton_length"].isdigit() and "e" not in rows["mean_width_per_fov"]
    values = widget._measured["values"]
    assert values["disc_diameter_px"] == pytest.approx(60, rel=0.01)  # 1800 um / 30 um
    # a correction: one artery erased with the brush; the table follows on its own
    artery = np.argwhere(labels.data == 1)[0]
    from scipy import ndimage

    parts, _ = ndimage.label(labels.data == 1)
    one = parts == parts[tuple(artery)]
    labels.data_setitem(np.nonzero(one), 0)
    labels.events.paint(value=[])
    qtbot.waitUntil(lambda: widget._measured["values"]["segments"] == 11, timeout=TIMEOUT)
    assert widget._measured["values"]["crae_px"] is None  # five arteries: no CRAE, and why
    assert "CRAE: 5 artery(s) in the zone" in widget._status.value


def test_the_measured_segments_and_zone_are_shown_and_wrong_layers_said(measured, qtbot):
    viewer, widget, labels = measured
    widget._show.clicked.emit()
    shapes = viewer.layers["eye labels measured"]
    assert shapes.shape_type.count("path") == 12 and shapes.shape_type.count("ellipse") == 3
    widget._image.value = viewer.add_image(np.zeros((50, 60, 3), np.uint8), name="other")
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=TIMEOUT)
    assert widget._status.value.startswith("failed: the labels (400, 400) and the image (50, 60)")


def test_field_names_show_when_docked_before_any_layer(make_napari_viewer):
    from qtpy.QtWidgets import QLabel

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Measure vessels (retina)")
    texts = {label.text() for label in widget.native.findChildren(QLabel)}
    assert {"image", "labels", "pixel size (µm)", "field of view (°)", "status"} <= texts, texts
    widget._run.clicked.emit()
    assert widget._status.value == "choose a photograph and its vessel labels first"


def test_cancel_stops_a_measurement_and_keeps_the_last_table(measured, qtbot):
    viewer, widget, labels = measured
    before = widget._table.value["data"]
    widget._follow.value = False  # measured only when asked
    labels.data_setitem(np.nonzero(labels.data == 2), 0)  # every vein erased
    widget._run.clicked.emit()
    widget._runner.cancel()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=TIMEOUT)
    assert widget._status.value == "cancelled: the table shows the last measurement"
    assert widget._table.value["data"] == before and widget._run.enabled


def test_docked_first_an_artery_vein_map_segmented_later_is_measured_with_its_types(
        make_napari_viewer, qtbot):  # fmt: skip
    """Measure docked in an empty window; then an artery/vein map is added (the labels box
    takes the new layer at once) and bound to its pair only after, as Segment does: the
    first measurement still reads the pair's classes and gives CRAE and CRVE."""
    from napari_unet._session import new_pair

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Measure vessels (retina)")
    image, _ = fundus(disc_at=(200, 200), disc_radius=30)
    photo = viewer.add_image(image, name="eye")
    labels = viewer.add_labels(tree([5] * 6, [7] * 6), name="eye labels")
    assert widget._target.value is labels and not widget._typed.value  # no pair yet
    new_pair(viewer, photo, labels, "corrections", ["background", "artery", "vein"])
    widget._pixel.value = 30.0
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and bool(widget._measured), timeout=TIMEOUT)
    assert widget._typed.value and widget._measured["values"]["crve_px"] is not None
    widget._typed.value = False  # the user's own choice stands from then on
    widget._measured = {}
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and bool(widget._measured), timeout=TIMEOUT)
    assert not widget._typed.value and widget._measured["values"]["crve_px"] is None


def test_a_failure_or_other_labels_leave_no_stale_table(measured, qtbot):
    """A measurement that fails (a pixel size and an angle at once; the wrong photograph)
    empties the table instead of leaving the last one under the error; so does choosing other
    labels (or removing the measured ones)."""
    viewer, widget, labels = measured
    widget._angle.value = 45  # with the pixel size of 30 um: both
    widget._run.clicked.emit()
    assert widget._status.value.startswith("failed: give the pixel size or the field of view's")
    assert widget._table.value["data"] == [] and widget._measured == {}
    widget._angle.value = 0
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and bool(widget._measured), timeout=TIMEOUT)
    widget._image.value = viewer.add_image(np.zeros((50, 60, 3), np.uint8), name="other")
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=TIMEOUT)
    assert widget._status.value.startswith("failed: the labels (400, 400)")
    assert widget._table.value["data"] == [] and widget._measured == {}
    widget._image.value = viewer.layers["eye"]
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and bool(widget._measured), timeout=TIMEOUT)
    viewer.layers.remove(labels)  # the labels box moves to another layer, or to none
    assert widget._table.value["data"] == [] and widget._measured == {}
    widget._show.clicked.emit()
    assert widget._status.value == "measure first: the layer shows what was measured"


def test_the_table_follows_a_round_and_a_model_of_other_classes(make_napari_viewer, qtbot):
    """Labels changed without a brush stroke (a fine-tune round writes them in place; a model
    of arteries and veins segments the image again) are measured again, and the type box
    follows the pair's classes when they change."""
    from napari_unet._session import new_pair, workspace

    viewer = make_napari_viewer()
    image, _ = fundus(disc_at=(200, 200), disc_radius=30)
    photo = viewer.add_image(image, name="eye")
    labels = viewer.add_labels(tree([5] * 6, [7] * 6), name="eye labels")
    pair = new_pair(viewer, photo, labels, "corrections", ["background", "vessel"])
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Measure vessels (retina)")
    widget._image.value, widget._target.value, widget._pixel.value = photo, labels, 30.0
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and bool(widget._measured), timeout=TIMEOUT)
    assert not widget._typed.value and widget._measured["values"]["crve_px"] is None
    pair.classes = ["background", "artery", "vein"]  # segmented again by drive-av, say
    workspace(viewer).changed()
    qtbot.waitUntil(lambda: widget._measured["values"]["crve_px"] is not None, timeout=TIMEOUT)
    assert widget._typed.value and widget._measured["values"]["segments"] == 12
    labels.data[labels.data == 2] = 0  # a round's new labels, written in place: no event
    workspace(viewer).changed()
    qtbot.waitUntil(lambda: widget._measured["values"]["segments"] == 6, timeout=TIMEOUT)


def test_labels_made_on_one_photograph_are_not_measured_on_another(make_napari_viewer, qtbot):
    """Labels of a pair (made on 'eye') with another image of the same size chosen (its
    mirror image, or Segment's probability map): refused in one line, nothing measured."""
    from napari_unet._session import new_pair

    viewer = make_napari_viewer()
    image, _ = fundus(disc_at=(200, 200), disc_radius=30)
    photo = viewer.add_image(image, name="eye")
    mirrored = viewer.add_image(np.ascontiguousarray(image[:, ::-1]), name="eye mirrored")
    labels = viewer.add_labels(tree([5] * 6, [7] * 6), name="eye labels")
    new_pair(viewer, photo, labels, "corrections", ["background", "artery", "vein"])
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Measure vessels (retina)")
    widget._image.value, widget._target.value, widget._pixel.value = mirrored, labels, 30.0
    widget._run.clicked.emit()
    assert widget._status.value == ("failed: 'eye labels' were made on 'eye', not on "
                                    "'eye mirrored'")  # fmt: skip
    assert widget._worker is None and widget._measured == {}
    widget._image.value = photo
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and bool(widget._measured), timeout=TIMEOUT)
    assert widget._measured["values"]["crae_px"] is not None


def test_the_table_is_saved_as_a_csv_file_in_microns(measured, tmp_path):
    """*Save measurements…*: one row, the photograph, the labels and every measure, microns
    where the pixel size was given; an existing file is not replaced without asking."""
    import csv

    viewer, widget, labels = measured
    assert not widget._saver.button.native.isHidden()
    widget._saver.path = tmp_path / "eye.csv"
    widget._saver.button.clicked.emit()
    (row,) = list(csv.DictReader((tmp_path / "eye.csv").open()))
    assert row["file"] == "eye" and row["labels"] == "eye labels"
    values = widget._measured["values"]
    assert float(row["crae_um"]) == pytest.approx(values["crae_um"]) and row["microns_per_pixel"]
    assert "saved to" in widget._status.value
    widget._saver.path, widget._saver.confirm = tmp_path / "eye.csv", lambda path: False
    widget._saver.button.clicked.emit()
    assert widget._status.value == "not saved: eye.csv exists"
