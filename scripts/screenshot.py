"""Render the widgets in a real napari window and save PNGs for the README.

Run under a display, e.g.::

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/screenshot.py

Writes ``docs/segment_widget.png`` (the fundus sample segmented with the bundled ``drive``
model), ``docs/finetune_widget.png`` (the EM sample after one round of paint-and-retrain),
``docs/finetune_scribbles.png`` (scribbles on scikit-image's coins),
``docs/finetune_reopened.png`` (a project closed, reopened in a new viewer, another round) and
``docs/batch_widget.png`` (a folder batch-segmented) and ``docs/train_widget.png`` (a new
three-class model trained on simulated nuclei, then its objects); name some of them to render
only those.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from napari_unet import PLUGIN

os.environ.setdefault("QT_API", "pyqt6")  # the binding the README installs and the tests use
# projects and napari's settings in a fresh home: no earlier run's project continues here, and
# the user's own settings are left alone
os.environ["HOME"] = __import__("tempfile").mkdtemp(prefix="napari-unet-screenshots-")

import napari  # noqa: E402
import numpy as np  # noqa: E402
from qtpy.QtWidgets import QApplication  # noqa: E402

from unet_core.base.labels import IGNORE_LABEL  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"


def wait_for(predicate, timeout: float = 300) -> None:
    end = time.time() + timeout
    while not predicate():
        QApplication.processEvents()
        if time.time() > end:
            raise TimeoutError("the job did not finish in time")
        time.sleep(0.02)


def settle(viewer) -> None:
    viewer.reset_view()
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.05)


def new_viewer():
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1366, 768)  # a laptop's screen
    return viewer


def reopen(folder: Path):
    """A new viewer (the next day) with Fine-tune docked and the project at ``folder`` opened:
    (viewer, the Fine-tune widget); prints what came back."""
    viewer = new_viewer()
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    fine._project.folder.value = folder
    fine._project.open.clicked.emit()
    wait_for(lambda: fine._worker is None)
    print("reopened:", fine._status.value)
    print("layers:", [f"{layer.name} {layer.data.shape}" for layer in viewer.layers])
    return viewer, fine


def save_shot(viewer, name: str) -> Path:
    """Settle the window, save ``docs/<name>.png`` and close the viewer."""
    settle(viewer)
    out = DOCS / f"{name}.png"
    viewer.window.screenshot(str(out), canvas_only=False)
    viewer.close()
    return out


def segment(viewer, sample: str, model: str):
    viewer.open_sample(PLUGIN, sample)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    widget._model.value = model
    widget._device.value = "cpu"
    widget._run.clicked.emit()
    wait_for(lambda: widget._worker is None and widget._run.enabled)
    print(widget._status.value)
    return widget


def segment_shot() -> Path:
    viewer = new_viewer()
    segment(viewer, "fundus", "drive")
    viewer.layers["fundus labels"].opacity = 0.6
    return save_shot(viewer, "segment_widget")


def finetune_shot() -> Path:
    """Corrections mode: the EM slice segmented, a stroke painted and the right part marked
    "ignore", one round; the new prediction fills only what was not painted."""
    viewer = new_viewer()
    segment(viewer, "em", "em")
    labels = viewer.layers["em slice labels"]
    rows = np.arange(40, 200)
    labels.data_setitem((rows, np.full(rows.size, 120)), 1)  # a membrane stroke
    right = np.argwhere(np.ones((256, 56), bool)) + (0, 200)
    labels.data_setitem((right[:, 0], right[:, 1]), IGNORE_LABEL)  # "not annotated" on the right
    viewer.window.remove_dock_widget("all")  # Segment's dock closed: Fine-tune has the side
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    widget._pairs.image.value, widget._pairs.target.value = viewer.layers["em slice"], labels
    widget._device.value = "cpu"
    widget._seconds.value = 10
    widget._run.clicked.emit()
    wait_for(lambda: widget._worker is None)
    widget._where.unsure.clicked.emit()
    print(widget._status.value)
    return save_shot(viewer, "finetune_widget")


def reopened_shot() -> Path:
    """A project closed and reopened: the EM sample segmented, a stroke painted, one round
    saved; napari closed; the project opened in a new viewer, another stroke, another round."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="napari-unet-project-")) / "em.unet-project"
    viewer = new_viewer()
    segment(viewer, "em", "em")
    labels = viewer.layers["em slice labels"]
    rows = np.arange(40, 200)
    labels.data_setitem((rows, np.full(rows.size, 120)), 1)  # a membrane stroke
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    widget._pairs.image.value, widget._pairs.target.value = viewer.layers["em slice"], labels
    widget._pairs.names.value = "cell interior, membrane"
    widget._project.folder.value = folder
    widget._device.value, widget._seconds.value = "cpu", 10
    widget._run.clicked.emit()
    wait_for(lambda: widget._worker is None and not widget._project.saving)
    print("day 1:", widget._status.value)
    viewer.close()

    viewer, widget = reopen(folder)  # the next day
    labels = viewer.layers["em slice labels"]
    cols = np.arange(20, 120)
    labels.data_setitem((np.full(cols.size, 210), cols), 0)  # day 2: "no membrane here"
    widget._device.value, widget._seconds.value = "cpu", 10
    widget._run.clicked.emit()
    wait_for(lambda: widget._worker is None and not widget._project.saving)
    print("day 2:", widget._status.value)
    widget._where.unsure.clicked.emit()
    viewer.layers.selection.active = labels
    return save_shot(viewer, "finetune_reopened")


def scribbles_shot() -> Path:
    """Scribbles mode on an image no bundled model has seen (scikit-image's coins): a few
    strokes on coins and on the background, one round from the em model."""
    from skimage import data

    viewer = new_viewer()
    viewer.add_image(data.coins(), name="coins")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    widget._pairs.image.value = viewer.layers["coins"]
    widget._base.value = "em"
    widget._pairs.new_scribbles.clicked.emit()
    widget._pairs.names.value = "background, coin"
    scribbles = viewer.layers["coins scribbles"]
    for row, col0, col1, value in [(20, 10, 370, 1), (140, 10, 60, 1), (290, 40, 360, 1),
                                   (70, 40, 60, 2), (160, 95, 115, 2), (235, 250, 275, 2),
                                   (120, 215, 240, 2), (45, 320, 345, 2)]:  # fmt: skip
        for dr in range(-2, 3):
            cols = np.arange(col0, col1)
            scribbles.data_setitem((np.full(cols.size, row + dr), cols), value)
    widget._device.value = "cpu"
    widget._seconds.value = 20
    widget._run.clicked.emit()
    wait_for(lambda: widget._worker is None)
    viewer.layers["coins scribbles prediction"].opacity = 0.5
    viewer.layers.selection.active = scribbles
    print(widget._status.value)
    return save_shot(viewer, "finetune_scribbles")


def batch_shot() -> Path:
    """The sample folder segmented in a batch, with a corrupt file among the images, and one
    result opened next to its image."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="napari-unet-batch-")) / "fundus photographs"
    folder.mkdir()
    sample = Path(__file__).resolve().parents[1] / "sample_data" / "fundus_retina.jpg"
    for name in ("patient_01.jpg", "patient_02.jpg"):
        shutil.copy(sample, folder / name)
    (folder / "patient_03.jpg").write_bytes(sample.read_bytes()[:2000])  # a truncated copy
    (folder / "notes.txt").write_text("visit notes")
    viewer = new_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Batch-segment a folder")
    widget._input.value = folder
    widget._device.value = "cpu"
    widget._run.clicked.emit()
    wait_for(lambda: widget._worker is None and widget._run.enabled)
    print(widget._status.value)
    widget._results.value = "patient_01.jpg"
    print("results:", widget._results.choices, widget._results.value)
    widget._open.clicked.emit()
    viewer.layers["patient_01 labels"].opacity = 0.7
    return save_shot(viewer, "batch_widget")


def train_shot() -> Path:
    """A new model for an image no bundled model fits: simulated 16-bit nuclei, annotated as
    background / nucleus / border in the top half (the bottom half "not annotated"), trained
    for a minute; then segmented with it, touching nuclei separated into objects."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from finetune import nuclei_image
    from owndata import border_classes

    image, labels = nuclei_image(512, seed=3)
    labels = border_classes(labels)
    labels[256:] = IGNORE_LABEL
    viewer = new_viewer()
    img = viewer.add_image(image, name="nuclei")
    from napari_unet._widgets._classes import class_colormap

    lab = viewer.add_labels(labels, name="nuclei annotations", colormap=class_colormap(),
                            opacity=0.5)  # fmt: skip
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Train a new model")
    widget._image.value, widget._mask_layer.value = img, lab
    widget._classes.value = "background, nucleus, border"
    widget._minutes.value = 1.0
    widget._device.value = "cpu"
    widget._run.clicked.emit()
    wait_for(lambda: widget._worker is None and widget._run.enabled)
    print(widget._status.value)
    dock, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    from napari_unet._session import workspace

    trained = workspace(viewer).versions()[-1].ref
    seg._image.value, seg._model.value, seg._device.value = img, trained, "cpu"
    seg._objects.value = True
    seg._run.clicked.emit()
    wait_for(lambda: seg._worker is None and seg._run.enabled)
    print(seg._status.value)
    viewer.window.remove_dock_widget(dock)  # the Train widget, with its plot, fills the side
    lab.visible = False
    viewer.layers["nuclei labels"].visible = False
    viewer.layers["nuclei objects"].contour = 0
    return save_shot(viewer, "train_widget")


if __name__ == "__main__":
    import sys

    DOCS.mkdir(exist_ok=True)
    shots = {"segment": segment_shot, "finetune": finetune_shot, "scribbles": scribbles_shot,
             "reopened": reopened_shot, "batch": batch_shot, "train": train_shot}  # fmt: skip
    for name in sys.argv[1:] or shots:
        shot = shots[name]
        print(f"wrote {shot()}")
