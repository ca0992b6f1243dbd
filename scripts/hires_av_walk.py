"""Arteries and veins on a high-resolution photograph, as a user meets them, in a real napari
window of 1366 x 768 (run under Xvfb):

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/hires_av_walk.py

1. The fundus sample as a 3504 x 2336 camera gives it (enlarged, on a black frame), saved as
   a TIFF and opened; *Segment* with ``drive-av``.
2. *Fine-tune* docked: a vein painted as an artery over one stretch (a brush stroke, paint
   events), the live answer timed; one round of 20 s in a project folder.
3. The wrong layer on purpose: the photograph's labels paired with another image.
4. napari closed; the project reopened in a new viewer: its classes and labels come back;
   two strokes, their live answers timed (``docs/hires_av_reopened.png``).
Prints every status line.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_API", "pyqt6")
os.environ["HOME"] = tempfile.mkdtemp(prefix="napari-unet-hires-walk-")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from screenshot import DOCS, new_viewer, reopen, settle, wait_for  # noqa: E402

from napari_unet import PLUGIN  # noqa: E402

FINETUNE = "Fine-tune"


def photograph(folder: Path) -> Path:
    """The sample photograph at 2336 px high on a 3504-px-wide black frame (a 45-degree camera's
    full frame), as a TIFF."""
    import tifffile
    from skimage.io import imread

    from unet_core.base.arrays import resize
    from unet_core.tasks import sample_path

    image = imread(sample_path("fundus"))
    square = np.clip(resize(image, (2336, 2336)) + 0.5, 0, 255).astype(np.uint8)
    frame = np.zeros((2336, 3504, 3), np.uint8)
    frame[:, 584 : 584 + 2336] = square
    path = folder / "hires_fundus.tif"
    tifffile.imwrite(path, frame)
    return path


def stroke(layer, points, value: int) -> None:
    """A brush stroke as napari makes one: a paint event per dab."""
    layer.brush_size = 12
    for point in points:
        layer.paint(tuple(int(v) for v in point), value, refresh=False)
    layer.refresh()


def a_vessel_stretch(labels: np.ndarray, kind: int, near: tuple[int, int]) -> np.ndarray:
    """Points along the skeleton of the ``kind`` pixels nearest to ``near``: 40 of them."""
    from skimage.morphology import skeletonize

    ys, xs = np.nonzero(skeletonize(labels == kind))
    order = np.argsort(np.hypot(ys - near[0], xs - near[1]))[:40]
    return np.stack([ys[order], xs[order]], 1)


def live_answer(fine, started: float) -> str:
    """Wait for the answer to the last stroke (not an earlier one's still on screen)."""
    last = fine._live._stroke
    wait_for(lambda: fine._live.shown == last and fine._live.worker is None, timeout=120)
    return f"{fine._live.status.value} (walk's clock: {time.monotonic() - started:.1f} s)"


def day_one(folder: Path, path: Path) -> None:
    viewer = new_viewer()
    viewer.open(str(path))  # napari's own reader, as for any TIFF
    image = viewer.layers[-1]
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    seg._image.value, seg._model.value, seg._device.value = image, "drive-av", "cpu"
    start = time.monotonic()
    seg._run.clicked.emit()
    wait_for(lambda: seg._worker is None and seg._run.enabled)
    print(f"segment ({time.monotonic() - start:.1f} s):", seg._status.value)
    labels = viewer.layers[f"{image.name} labels"]
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    fine._pairs.image.value, fine._pairs.target.value = image, labels
    fine._project.folder.value = folder
    fine._device.value, fine._seconds.value = "cpu", 20
    print("classes:", fine._pairs.names.value)
    points = a_vessel_stretch(labels.data, 2, (1168, 1752 + 500))
    started = time.monotonic()
    stroke(labels, points, 1)  # a vein painted as an artery, on purpose
    print("live, day 1:", live_answer(fine, started))
    fine._run.clicked.emit()
    wait_for(lambda: fine._worker is None and not fine._project.saving, timeout=600)
    print("round 1:", fine._status.value)
    other = viewer.add_image(np.zeros((300, 400), np.uint8), name="another image")
    fine._pairs.image.value = other  # the wrong image for these labels, on purpose
    fine._run.clicked.emit()
    wait_for(lambda: fine._worker is None, timeout=120)
    print("wrong image:", fine._status.value)
    viewer.close()


def day_two(folder: Path) -> None:
    viewer, fine = reopen(folder)
    print("classes:", fine._pairs.names.value)
    labels = next(layer for layer in viewer.layers if layer.name.endswith(" labels"))
    points = a_vessel_stretch(labels.data, 1, (900, 1752 - 400))
    started = time.monotonic()
    stroke(labels, points, 2)
    print("live, day 2:", live_answer(fine, started))
    points = a_vessel_stretch(labels.data, 2, (1500, 1752 + 300))
    started = time.monotonic()
    stroke(labels, points, 2)  # a second stroke: the image's features are kept
    print("live, day 2, a second stroke:", live_answer(fine, started))
    viewer.layers.selection.active = labels
    settle(viewer)
    out = DOCS / "hires_av_reopened.png"
    viewer.window.screenshot(str(out), canvas_only=False)
    print("wrote", out)
    viewer.close()


if __name__ == "__main__":
    folder = Path(tempfile.mkdtemp(prefix="napari-unet-hires-"))
    day_one(folder / "hires.unet-project", photograph(folder))
    day_two(folder / "hires.unet-project")
