"""A project survives a restart: after a round, napari is closed and the project opened in a new
viewer; the next round changes the unpainted pixels and keeps both days' strokes, the class
names, lineage, corrections and uncertainty come back, and opening another project beside it
neither clashes with its versions nor moves where this image's rounds are saved."""

import numpy as np
from test_finetune_loop import FINETUNE, TIMEOUT, cells_image, run_round, segment

from napari_unet import PLUGIN
from napari_unet._session import pair_of, workspace
from napari_unet._widgets._project_panel import SAVE_AFTER_MS
from unet_core.postprocess import probabilities_to_labels
from unet_core.uncertainty import entropy, most_uncertain_region


def first_day(make_napari_viewer, qtbot, model_file, folder, name="cells"):
    """Segment, rename the classes, paint a stroke, one round saved into ``folder``; close."""
    viewer = make_napari_viewer()
    image = viewer.add_image(cells_image(), name=name)
    segment(viewer, qtbot, image, model_file)
    labels = viewer.layers[f"{name} labels"]
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    fine._pairs.image.value, fine._pairs.target.value = image, labels
    fine._pairs.names.value = "background, membrane"
    fine._device.value, fine._steps.value = "cpu", 8
    fine._project.folder.value = folder
    labels.data_setitem((np.arange(22, 48), np.full(26, 30)), 255)  # day 1: ignore paint
    run_round(fine, qtbot)
    assert fine._project.saved.value.startswith("saved"), fine._status.value
    state = labels.data.copy()
    viewer.close()
    return state


def open_project(viewer, qtbot, folder):
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    fine._project.folder.value = folder
    fine._project.open.clicked.emit()
    qtbot.waitUntil(lambda: fine._worker is None, timeout=TIMEOUT)
    assert fine._status.value.startswith("opened"), fine._status.value
    fine._device.value, fine._steps.value = "cpu", 8
    return fine


def test_a_reopened_project_goes_on_where_it_stopped(make_napari_viewer, tiny_model_file, qtbot,
                                                     tmp_path):  # fmt: skip
    folder = tmp_path / "cells.unet-project"
    day1 = first_day(make_napari_viewer, qtbot, tiny_model_file, folder)

    viewer = make_napari_viewer()  # the next day: a new napari
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    fine = open_project(viewer, qtbot, folder)
    qtbot.wait(SAVE_AFTER_MS + 500)  # opening writes nothing (and says no "saved")
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == stamps
    assert fine._project.saved.value == "" and not fine._project.saving
    labels = viewer.layers["cells labels"]
    np.testing.assert_array_equal(labels.data, day1)
    np.testing.assert_array_equal(viewer.layers["cells"].data, cells_image())
    assert fine._pairs.target.value is labels and fine._pairs.mode.value == "corrections"
    assert fine._pairs.names.value == "background, membrane"  # class names kept
    assert "1 = membrane (lime)" in fine._pairs.legend.value
    pair = pair_of(viewer, labels)
    (v1,) = workspace(viewer).versions()
    assert v1.name == "fine-tuned v1" and v1.parent == str(tiny_model_file)
    assert fine._base_ref(pair) == v1.ref  # "latest" is the version of these labels
    assert pair.painted().sum() == 26  # day 1's stroke is still the user's

    # the uncertainty ranking is back (not row 0, column 0)
    fine._where.goto.clicked.emit()
    expected = most_uncertain_region(entropy(pair.prediction().prob), pair.painted(), 64)
    assert fine._where.target == expected[:2] != (0, 0)

    # day 2: another stroke, a round: unpainted pixels change, both strokes are kept
    stroke = np.s_[60:80, 55:70]  # day 2: "the left of the bright blocks are membrane"
    block = labels.data.copy()
    block[stroke], block[20:50, 32:38] = 1, 1
    labels.data = block
    fine._steps.value = 40
    assert pair.painted().sum() == 26 + 300 + 180
    before = pair.prediction().prob.copy()
    image_file = folder / "pairs" / pair.id / "image.tif"
    image_stamp = image_file.stat().st_mtime_ns
    run_round(fine, qtbot)
    assert image_file.stat().st_mtime_ns == image_stamp  # the same image: not written again
    v1, v2 = workspace(viewer).versions()
    assert v2.name == "fine-tuned v2" and v2.parent == v1.ref, fine._status.value
    assert np.abs(pair.prediction().prob - before).max() > 0.05  # a new prediction, merged:
    assert (labels.data[np.arange(22, 48), 30] == 255).all()
    assert (labels.data[stroke] == 1).all()
    unpainted = ~pair.painted()
    new = probabilities_to_labels(pair.prediction().prob)
    np.testing.assert_array_equal(labels.data[unpainted], new[unpainted])

    # the Segment widget, another threshold: unpainted pixels follow, painted ones stay
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    seg._image.value = viewer.layers["cells"]
    seg._model.value, seg._device.value = v1.ref, "cpu"
    seg._threshold.value = 0.2
    seg._run.clicked.emit()
    qtbot.waitUntil(lambda: seg._worker is None, timeout=TIMEOUT)
    assert viewer.layers["cells labels"] is labels, seg._status.value
    low = probabilities_to_labels(pair.prediction().prob, 0.2)
    unpainted = ~pair.painted()
    np.testing.assert_array_equal(labels.data[unpainted], low[unpainted])
    assert labels.data[unpainted].any()  # unpainted pixels did change (0 -> 1)
    assert (labels.data[np.arange(22, 48), 30] == 255).all() and (labels.data[stroke] == 1).all()
    assert fine._base_ref(pair) == v1.ref  # segmented with v1: the next round starts from it

    # what v1 was trained on comes back from the folder
    fine._versions.versions.value = v1.ref
    fine._versions.restore.clicked.emit()
    assert fine._status.value == "restored the labels fine-tuned v1 was trained on: 'cells labels'"
    np.testing.assert_array_equal(labels.data, v1.trained_on[pair.id])

    # classes renamed by the user are saved once the brush rests
    fine._pairs.names.value = "background, cell wall"
    qtbot.waitUntil(lambda: "cell wall" in (folder / "project.json").read_text(), timeout=TIMEOUT)


def test_another_project_neither_clashes_nor_retargets(make_napari_viewer, tiny_model_file,
                                                        qtbot, tmp_path):  # fmt: skip
    first_day(make_napari_viewer, qtbot, tiny_model_file, tmp_path / "a.unet-project", "cells")
    viewer = make_napari_viewer()
    image = viewer.add_image(cells_image(5), name="today")
    segment(viewer, qtbot, image, tiny_model_file)
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    labels = viewer.layers["today labels"]
    fine._pairs.image.value, fine._pairs.target.value = image, labels
    fine._device.value, fine._steps.value = "cpu", 5
    fine._project.folder.value = tmp_path / "b.unet-project"
    labels.data_setitem((np.arange(10, 30), np.full(20, 10)), 1)
    run_round(fine, qtbot)  # "fine-tuned v1" of project b

    fine._project.folder.value = tmp_path / "a.unet-project"
    fine._project.open.clicked.emit()  # project a has a "fine-tuned v1" too
    qtbot.waitUntil(lambda: fine._worker is None, timeout=TIMEOUT)
    combo = fine._versions.versions.native
    labels_shown = sorted(combo.itemText(i) for i in range(combo.count()))
    assert labels_shown == ["fine-tuned v1 (a.unet-project)", "fine-tuned v1 (b.unet-project)"]
    a, b = workspace(viewer).projects[1], workspace(viewer).projects[0]
    assert a.versions[0].id != b.versions[0].id

    # today's labels still go to project b; their next version is b's v2, parent b's v1
    fine._pairs.image.value, fine._pairs.target.value = image, labels
    assert fine._project.folder.value == tmp_path / "b.unet-project"
    labels.data_setitem((np.arange(50, 70), np.full(20, 50)), 1)
    run_round(fine, qtbot)
    assert [v.name for v in b.versions] == ["fine-tuned v1", "fine-tuned v2"]
    assert b.versions[1].parent == b.versions[0].ref and len(a.versions) == 1
    assert (tmp_path / "b.unet-project" / "versions" / "fine-tuned_v2.safetensors").is_file()
    assert not (tmp_path / "a.unet-project" / "versions" / "fine-tuned_v2.safetensors").exists()


def test_strokes_and_a_roll_back_since_the_last_round_survive_a_restart(
    make_napari_viewer, tiny_model_file, qtbot, tmp_path
):
    folder = tmp_path / "cells.unet-project"
    first_day(make_napari_viewer, qtbot, tiny_model_file, folder)
    viewer = make_napari_viewer()
    fine = open_project(viewer, qtbot, folder)
    labels = viewer.layers["cells labels"]
    labels.data_setitem((np.arange(22, 48), np.full(26, 30)), 1)
    run_round(fine, qtbot)  # v2
    v1, v2 = workspace(viewer).versions()
    fine._versions.versions.value = v1.ref  # roll back to v1 ...
    fine._versions.use.clicked.emit()
    qtbot.waitUntil(lambda: fine._worker is None, timeout=TIMEOUT)
    labels.data_setitem((np.full(10, 80), np.arange(10, 20)), 255)  # ... and one more stroke
    qtbot.waitUntil(lambda: not fine._project.saving, timeout=TIMEOUT)  # saved once it rests
    assert fine._project.saved.value.startswith("saved")
    state = labels.data.copy()
    viewer.close()

    viewer = make_napari_viewer()
    fine = open_project(viewer, qtbot, folder)
    labels = viewer.layers["cells labels"]
    np.testing.assert_array_equal(labels.data, state)
    pair = pair_of(viewer, labels)
    assert fine._base_ref(pair) == v1.ref  # the roll-back stuck over the restart
    assert (labels.data[80, 10:20] == 255).all() and pair.painted()[80, 10:20].all()
    assert fine._versions.versions.value == v1.ref
