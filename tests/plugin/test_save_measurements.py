"""The Segment widget's *Save measurements…*: a CSV with the batch report's columns holding the
widget's numbers, and never replacing a file without asking."""

import csv

import numpy as np
from test_segment_widget import run_and_wait, use_model_file

from napari_unet import PLUGIN
from unet_core.batch.report import columns_for


def read(path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), list(reader)


def test_the_csv_holds_the_widgets_numbers_and_asks_before_replacing(
    segment_widget, tiny_model_file, qtbot, tmp_path
):
    viewer, widget = segment_widget
    rng = np.random.default_rng(0)
    image = viewer.add_image(rng.integers(0, 255, (64, 80), dtype=np.uint8), name="cells")
    widget._image.value = image
    use_model_file(widget, tiny_model_file)
    widget._objects.value = True
    saver = widget._saver
    assert saver.button.native.isHidden()  # nothing to save yet
    run_and_wait(qtbot, widget)
    assert not saver.button.native.isHidden()

    labels = viewer.layers["cells labels"]
    edited = np.array(labels.data)
    edited[:10, :10] = 1  # an edit: the areas are those of the labels as they are now
    edited[10:12, :] = 255  # "not annotated": no class
    labels.data = edited
    path = tmp_path / "cells.csv"
    saver.path = path
    saver.button.clicked.emit()
    assert widget._status.value == f"measurements of 'cells' saved to {path}"
    header, (row,) = read(path)
    assert tuple(header) == columns_for((), ["background", "cell"], instances=True)
    objects = viewer.layers["cells objects"].data
    assert row["file"] == "cells" and row["status"] == "ok" and row["model"] == "tiny.safetensors"
    assert (row["height"], row["width"], row["channels"], row["slices"]) == ("64", "80", "1", "1")
    assert int(row["area_cell"]) == int((edited == 1).sum())
    assert float(row["foreground_fraction"]) == round(float((edited == 1).mean()), 5)
    assert int(row["objects"]) == len(np.unique(objects[objects > 0]))
    assert row["precision"] == "fp32" and float(row["scale"]) == 1.0

    # the same file again: asked, and left alone when the answer is no
    asked = []
    saver.confirm = lambda p: asked.append(p) or False
    labels.data = np.zeros_like(edited)
    saver.path = path
    saver.button.clicked.emit()
    assert asked == [path] and widget._status.value == "not saved: cells.csv exists"
    assert read(path)[1] == [row]
    saver.confirm = lambda p: True
    saver.path = path
    saver.button.clicked.emit()
    assert read(path)[1][0]["area_cell"] == "0"


def test_vessel_measurements_are_the_ones_shown(segment_widget, qtbot, tmp_path):
    viewer, widget = segment_widget
    viewer.open_sample(PLUGIN, "fundus")
    widget._image.value = viewer.layers["fundus"]
    widget._model.value, widget._device.value = "drive", "cpu"
    run_and_wait(qtbot, widget)
    shown = widget._measurements.value  # "vessels 11.9 % of the FOV, skeleton 10234 px ..."
    widget._saver.path = tmp_path / "fundus.csv"
    widget._saver.button.clicked.emit()
    header, (row,) = read(tmp_path / "fundus.csv")
    assert "vessel_area_fraction" in header and row["model"] == "drive"
    assert f"vessels {100 * float(row['vessel_area_fraction']):.1f} %" in shown
    assert f"skeleton {float(row['skeleton_length']):.0f} px" in shown
    assert f"{row['branch_points']} branch points, {row['end_points']} end points" in shown
