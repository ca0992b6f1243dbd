"""A user's day with the ecosystem's habits, in a real napari window of 1366 x 768 (run under
Xvfb):

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/ecosystem_walk.py

1. The EM sample segmented; *Save measurements...* writes its row.
2. Another tool's bioimage.io package (a dilated network in TorchScript whose weights pick
   out dark lines, made here as a stand-in for one from the BioImage Model Zoo) chosen as the
   model file and run on the same slice (``docs/foreign_segment.png``); then on the colour
   fundus photograph, on purpose.
3. *Fine-tune* on the package's labels of the em slice (its TorchScript weights are trainable),
   driven from the keyboard: Shift+F (a round), Shift+H (hide and
   show the prediction), Shift+N (the most uncertain region), Shift+U (undo the round).
4. *Batch-segment a folder* on two local dask workers (``docs/batch_workers.png``), then with
   a scheduler address where none listens, on purpose.
5. napari closed; the project reopened in a new viewer; Shift+F again
   (``docs/shortcuts_reopened.png``).
Prints every status line; writes the three PNGs.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_API", "pyqt6")
os.environ["HOME"] = tempfile.mkdtemp(prefix="napari-unet-ecosystem-walk-")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests" / "core"))

import foreign_packages as fp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from qtpy.QtCore import Qt  # noqa: E402
from qtpy.QtTest import QTest  # noqa: E402
from screenshot import new_viewer, save_shot, settle, wait_for  # noqa: E402

from napari_unet import PLUGIN  # noqa: E402
from napari_unet._widgets._model_picker import MODEL_FILE  # noqa: E402
from napari_unet._widgets._scale_out import LOCAL, SCHEDULER  # noqa: E402

FINETUNE = "Fine-tune"
WORK = Path(tempfile.mkdtemp(prefix="napari-unet-ecosystem-"))


def run(widget) -> str:
    widget._run.clicked.emit()
    wait_for(lambda: widget._worker is None and widget._run.enabled)
    return widget._status.value


def press(viewer, letter: str) -> str:
    """Shift+letter typed on the canvas; napari's status bar after it."""
    QTest.keyClick(viewer.window._qt_viewer.canvas.native, getattr(Qt.Key, f"Key_{letter}"),
                   Qt.KeyboardModifier.ShiftModifier)  # fmt: skip
    settle(viewer)
    return viewer.status


def segment_and_measure(viewer):
    viewer.open_sample(PLUGIN, "em")
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    seg._image.value, seg._model.value, seg._device.value = viewer.layers["em slice"], "em", "cpu"
    print("1. segment em:", run(seg))
    seg._saver.path = WORK / "em measurements.csv"
    seg._saver.button.clicked.emit()
    print("   save measurements:", seg._status.value)
    print("   csv:", (WORK / "em measurements.csv").read_text().splitlines()[:2])
    return seg


class DarkLines(fp.Dilated):
    """The stand-in's network with its weights set by hand: dark, smoothed pixels (EM's
    membranes, after the package's zero-mean, unit-variance preprocessing) come out likely."""

    def __init__(self, cin: int = 1, cout: int = 1):
        super().__init__(cin, cout)
        with torch.no_grad():
            for conv in (self.a, self.b, self.c):
                conv.weight.zero_(), conv.bias.zero_()
            self.a.weight[0] = -1.0 / (9 * cin)  # the negated local mean
            self.b.weight[0, 0, 1, 1] = 1.0
            self.c.weight[0, 0] = 6.0
            self.c.bias[0] = -3.0


def foreign(viewer, seg) -> None:
    fp.Dilated = DarkLines
    package = fp.torchscript_package(WORK / "dark-lines.zip", channels=("membrane",))
    seg._model.value = MODEL_FILE
    seg._model_file.value = package
    print("2. another tool's package on the em slice:", run(seg))
    viewer.open_sample(PLUGIN, "fundus")
    seg._image.value = viewer.layers["fundus"]
    print("   on the colour fundus photograph, on purpose:", run(seg))
    viewer.layers["fundus"].visible = False
    for name in [layer.name for layer in viewer.layers if layer.name.startswith("fundus")]:
        viewer.layers.remove(name)
    seg._image.value = viewer.layers["em slice"]
    print("   back on the em slice:", run(seg))


def keys(viewer, folder: Path):
    labels = viewer.layers["em slice labels"]
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    fine._pairs.image.value, fine._pairs.target.value = viewer.layers["em slice"], labels
    fine._project.folder.value = folder
    fine._device.value, fine._seconds.value = "cpu", 8
    rows = np.arange(40, 200)
    labels.data_setitem((rows, np.full(rows.size, 120)), 1)  # "membrane here"
    labels.data_setitem((rows, np.full(rows.size, 30)), 0)  # "and not here"
    viewer.layers.selection.active = labels
    print("3. Shift+F:", press(viewer, "F"))
    wait_for(lambda: fine._worker is None and not fine._project.saving)
    print("   round:", fine._status.value)
    print("   Shift+H:", press(viewer, "H"), "| visible:", labels.visible)
    print("   Shift+H:", press(viewer, "H"), "| visible:", labels.visible)
    print("   Shift+N:", press(viewer, "N"))
    print("   Shift+U:", press(viewer, "U"))
    wait_for(lambda: fine._worker is None)
    print("   undone:", fine._status.value)
    return fine


def batch(viewer) -> None:
    folder = WORK / "em slices"
    folder.mkdir()
    sample = ROOT / "sample_data" / "em_isbi2012_test00_crop.png"
    for i in range(3):
        shutil.copy(sample, folder / f"slice_{i}.png")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Batch-segment a folder")
    widget._input.value, widget._device.value = folder, "cpu"
    widget._model.value = "em"
    widget._scale_out.where.value = LOCAL
    widget._scale_out.workers.value = 2
    print("4. batch on 2 local workers:", run(widget))
    settle(viewer)
    viewer.window.screenshot(str(ROOT / "docs" / "batch_workers.png"), canvas_only=False)
    widget._scale_out.where.value = SCHEDULER
    widget._scale_out.address.value = "tcp://127.0.0.1:9"
    widget._overwrite.value = True
    print("   a scheduler where none listens, on purpose:", run(widget))


def main() -> None:
    project = WORK / "em.unet-project"
    viewer = new_viewer()
    seg = segment_and_measure(viewer)
    foreign(viewer, seg)
    settle(viewer)
    viewer.window.screenshot(str(ROOT / "docs" / "foreign_segment.png"), canvas_only=False)
    keys(viewer, project)
    batch(viewer)
    viewer.close()

    viewer = new_viewer()  # the next day
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    fine._project.folder.value = project
    fine._project.open.clicked.emit()
    wait_for(lambda: fine._worker is None)
    print("5. reopened:", fine._status.value)
    labels = viewer.layers["em slice labels"]
    viewer.layers.selection.active = labels
    fine._device.value, fine._seconds.value = "cpu", 8
    print("   Shift+F:", press(viewer, "F"))
    wait_for(lambda: fine._worker is None and not fine._project.saving)
    print("   round:", fine._status.value)
    print("   versions:", [v.name for v in fine._workspace.versions()])
    save_shot(viewer, "shortcuts_reopened")


if __name__ == "__main__":
    main()
