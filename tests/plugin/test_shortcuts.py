"""The paint-and-retrain keys, pressed on a real viewer's canvas: a round starts, the view goes
to the most uncertain region, the prediction shows and hides, the last round is undone; each
says in the status bar what it did or why it could not."""

from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_unet import PLUGIN
from napari_unet._session import new_pair, pair_of, workspace
from napari_unet._widgets._shortcuts import KEYS, NOT_DOCKED
from napari_unet._widgets._where_next import camera_of

TIMEOUT = 120_000
DOCS = Path(__file__).resolve().parents[2] / "docs" / "napari.md"


@pytest.fixture
def loop(make_napari_viewer, tiny_model_file):
    """A viewer with an image, labels the tiny model 'made' with a corrected square, and the
    Fine-tune widget docked; the labels layer is the active one, as while painting."""
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 120, (96, 96), dtype=np.uint8)
    pixels[20:50, 20:50] = 230
    image = viewer.add_image(pixels, name="cells")
    labels = viewer.add_labels(np.zeros((96, 96), np.uint8), name="cells labels")
    pair = new_pair(viewer, image, labels, "corrections", ["background", "cell"])
    pair.record_mask(np.zeros((96, 96), np.uint8), str(tiny_model_file))
    labels.data[20:50, 20:50] = 1
    dock, fine = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    fine._pairs.image.value, fine._pairs.target.value = image, labels
    fine._device.value, fine._steps.value = "cpu", 5
    viewer.layers.selection.active = labels
    return viewer, dock, fine, labels


def press(viewer, qtbot, letter: str) -> str:
    """Shift+letter on the canvas, as the user types it; the status bar's text after it."""
    canvas = viewer.window._qt_viewer.canvas.native
    qtbot.keyClick(canvas, getattr(Qt.Key, f"Key_{letter}"), Qt.KeyboardModifier.ShiftModifier)
    return viewer.status


def idle(fine, qtbot) -> None:
    qtbot.waitUntil(lambda: fine._worker is None and fine._saving is None, timeout=TIMEOUT)


def test_the_keys_drive_the_loop(loop, qtbot, tiny_model_file):
    viewer, _, fine, labels = loop
    ws = workspace(viewer)

    status = press(viewer, qtbot, "F")  # a round starts, as the Fine-tune button starts it
    assert status.startswith("napari-unet: Shift+F: fine-tuning"), status
    assert fine._worker is not None or ws.versions()
    idle(fine, qtbot)
    (v1,) = ws.versions()
    assert pair_of(viewer, labels).model == v1.ref

    status = press(viewer, qtbot, "N")  # the camera goes to the most uncertain region
    row, col = fine._where.target
    np.testing.assert_allclose(camera_of(viewer).center[-2:], (row, col), atol=1e-6)
    assert f"row {row}, column {col}" in status

    assert labels.visible  # corrections: the prediction is in the labels themselves
    assert press(viewer, qtbot, "H") == "napari-unet: Shift+H: 'cells labels' hidden"
    assert not labels.visible
    assert press(viewer, qtbot, "H").endswith("'cells labels' shown") and labels.visible

    press(viewer, qtbot, "F")
    status = press(viewer, qtbot, "U")  # while the round runs: refused, said why
    assert "a job is running" in status and "a job is running" in fine._status.value
    idle(fine, qtbot)
    v1, v2 = ws.versions()
    assert pair_of(viewer, labels).model == v2.ref

    # undo: back to the version before, as Segment with it on v1 does; again: to the base
    assert "segmenting with fine-tuned v1" in press(viewer, qtbot, "U")
    idle(fine, qtbot)
    assert pair_of(viewer, labels).model == v1.ref and fine._versions.versions.value == v1.ref
    assert fine._status.value.startswith("segmented with fine-tuned v1")
    press(viewer, qtbot, "U")
    idle(fine, qtbot)
    assert pair_of(viewer, labels).model == str(tiny_model_file)
    assert labels.data[20:50, 20:50].min() == 1  # the painted square is kept throughout
    assert press(viewer, qtbot, "U").endswith("nothing to undo: the chosen labels hold no "
                                               "fine-tuned version")  # fmt: skip


def test_the_keys_say_when_no_widget_is_docked(loop, qtbot):
    viewer, dock, fine, labels = loop
    assert press(viewer, qtbot, "H").endswith("hidden")
    viewer.window.remove_dock_widget(dock)
    for letter in "FNHU":
        assert press(viewer, qtbot, letter) == f"napari-unet: Shift+{letter}: {NOT_DOCKED}"
    assert not labels.visible and workspace(viewer).versions() == []


def test_the_keys_are_free_in_napari_listed_in_the_docs_and_the_tooltips(loop):
    from app_model.types import KeyBinding
    from napari.utils.shortcuts import default_shortcuts

    _, _, fine, _ = loop
    taken = {str(KeyBinding.validate(k)) for keys in default_shortcuts.values() for k in keys}
    ours = {key.replace("-", "+") for key in KEYS}
    assert ours.isdisjoint(taken)
    docs = DOCS.read_text(encoding="utf-8")
    for key in ours:
        assert f"| {key} |" in docs
    assert "(Shift+F)" in fine._run.tooltip and "(Shift+N)" in fine._where.goto.tooltip
    assert "(Shift+U)" in fine._versions.undo.tooltip and "Shift+H" in fine._pairs.target.tooltip
