"""Render the Segment widget with a segmented sample in a real napari window; save a PNG.

Run under a display (e.g. ``xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshot.py``).
Writes ``docs/segment_widget.png``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

OUT = Path(__file__).resolve().parents[1] / "docs" / "segment_widget.png"


def wait_for(predicate, timeout: float = 300) -> None:
    end = time.time() + timeout
    while not predicate():
        QApplication.processEvents()
        if time.time() > end:
            raise TimeoutError("the segmentation did not finish in time")
        time.sleep(0.02)


def main(sample: str = "fundus", model: str = "drive") -> Path:
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    viewer.open_sample("napari-unet", sample)
    _, widget = viewer.window.add_plugin_dock_widget("napari-unet", "Segment")
    widget._model.value = model
    widget._device.value = "cpu"
    widget._run.clicked.emit()
    wait_for(lambda: widget._worker is None and widget._run.enabled)
    labels = [layer for layer in viewer.layers if layer.name.endswith("labels")][0]
    labels.opacity = 0.6
    viewer.reset_view()
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.05)
    OUT.parent.mkdir(exist_ok=True)
    viewer.window.screenshot(str(OUT), canvas_only=False)
    print(f"{widget._status.value}\nwrote {OUT}")
    viewer.close()
    return OUT


if __name__ == "__main__":
    main(*sys.argv[1:])
