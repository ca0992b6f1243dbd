"""The Measure widget as a user meets it, in a real napari window of 1366 x 768 (run under
Xvfb):

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/retina_walk.py

1. The fundus sample segmented into arteries and veins (model ``drive-av``).
2. *Measure vessels (retina)* docked below it, the camera's 45-degree angle given, measured;
   the measured segments, disc and zone shown, the Segment dock closed
   (``docs/retina_measure.png``).
3. A vessel erased with the brush: the table follows.
4. A photograph of another size chosen, on purpose.
5. Measure again, and Cancel at once.
Prints every status line.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_API", "pyqt6")
os.environ["HOME"] = tempfile.mkdtemp(prefix="napari-unet-retina-walk-")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from screenshot import new_viewer, segment, settle, wait_for  # noqa: E402

from napari_unet import PLUGIN  # noqa: E402


def main() -> None:
    viewer = new_viewer()
    seg = segment(viewer, "fundus", "drive-av")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Measure vessels (retina)")
    labels = next(layer for layer in viewer.layers if layer.name.endswith(" labels"))
    widget._target.value = labels
    widget._angle.value = 45
    widget._run.clicked.emit()
    wait_for(lambda: widget._worker is None and bool(widget._measured))
    print("measured:", widget._status.value)
    print("typed box ticked by the model's classes:", widget._typed.value)
    widget._show.clicked.emit()
    viewer.window.remove_dock_widget(seg.native)  # the Segment dock closed: the table shows
    viewer.layers["fundus probability"].visible = False
    viewer.layers["fundus labels"].opacity = 0.35
    settle(viewer)
    shot = Path(__file__).resolve().parents[1] / "docs" / "retina_measure.png"
    viewer.window.screenshot(str(shot), canvas_only=False)
    print("wrote", shot)
    before = widget._measured["values"]["segments"]
    labels.data_setitem(np.nonzero(labels.data[:700] > 0), 0)  # the upper half erased
    labels.events.paint(value=[])
    wait_for(lambda: widget._measured["values"]["segments"] != before, timeout=120)
    wait_for(lambda: widget._worker is None)
    print("after erasing the upper half:", widget._status.value)
    labels.undo() if hasattr(labels, "undo") else None
    other = viewer.add_image(np.zeros((100, 120, 3), np.uint8), name="another photograph")
    widget._image.value = other
    widget._run.clicked.emit()
    wait_for(lambda: widget._worker is None)
    print("another photograph chosen:", widget._status.value)
    viewer.layers.remove(other)
    widget._image.value = viewer.layers[0]
    widget._run.clicked.emit()  # measured again, and cancelled at once
    widget._runner.cancel()
    wait_for(lambda: widget._worker is None)
    print("measuring cancelled:", widget._status.value)
    viewer.close()


if __name__ == "__main__":
    main()
