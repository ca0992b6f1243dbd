"""A user's day with a stack, in a real napari window of 1366 x 768 (run under Xvfb):

    xvfb-run -a -s "-screen 0 1366x768x24" .venv/bin/python scripts/volume_walk.py

1. A nuclei stack (simulated, 48 x 128 x 128) with its labels painted on every 8th slice only
   (the rest 255, not annotated): *Train a new model* makes a 3-D U-Net in a project folder.
2. *Segment* > *whole stack* with it: one 3-D labels layer, shown in the 3-D view
   (``docs/volume_segment.png``).
3. The wrong layer on purpose: the 3-D model on one slice (unticked), and on a 2-D image.
4. A correction painted on one slice, *Fine-tune*: a round on the volume.
5. napari closed; the project reopened in a new viewer: the labels, the correction, the
   versions come back; another round (``docs/volume_reopened.png``).
Prints every status line; writes the two PNGs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from napari_unet import PLUGIN

os.environ.setdefault("QT_API", "pyqt6")
os.environ["HOME"] = tempfile.mkdtemp(prefix="napari-unet-volume-walk-")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from screenshot import DOCS, new_viewer, reopen, save_shot, wait_for  # noqa: E402

from unet_core.base.labels import IGNORE_LABEL  # noqa: E402

FINETUNE = "Fine-tune"


def nuclei(shape=(48, 128, 128), n=40, seed=0):
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape)
    lab = np.zeros(shape, bool)
    for _ in range(n):
        c, r = rng.uniform(0, 1, 3) * np.array(shape), rng.uniform(4, 9, 3)
        lab |= ((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2 < 1
    img = ndimage.gaussian_filter(lab.astype(np.float32), 1.2) + rng.normal(0, 0.25, shape)
    return (np.clip(img, -1, 2) * 15000 + 15000).astype(np.uint16), lab.astype(np.uint8)


def segment_whole(viewer, image, ref):
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    seg._image.value, seg._model.value, seg._device.value = image, ref, "cpu"
    seg._whole.value = True
    seg._run.clicked.emit()
    wait_for(lambda: seg._worker is None and seg._run.enabled)
    print("segment:", seg._status.value)
    return seg


def day_one(folder: Path) -> None:
    from napari_unet._session import workspace

    stack, truth = nuclei()
    sparse = np.full(stack.shape, IGNORE_LABEL, np.uint8)
    sparse[::8] = truth[::8]
    viewer = new_viewer()
    img = viewer.add_image(stack, name="nuclei stack")
    lab = viewer.add_labels(sparse, name="painted slices")
    dock, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Train a new model")
    train._image.value, train._mask_layer.value = img, lab
    train._add_pair.clicked.emit()
    train._minutes.value, train._device.value, train._size.value = 1.5, "cpu", "small"
    train._project.value = folder
    train._run.clicked.emit()
    wait_for(lambda: train._worker is None and train._run.enabled, timeout=600)
    print("train:", train._status.value)
    viewer.window.remove_dock_widget(dock)
    ref = workspace(viewer).versions()[-1].ref
    lab.visible = False
    seg = segment_whole(viewer, img, ref)
    labels = viewer.layers["nuclei stack labels"]
    pred = labels.data > 0
    print(f"IoU against the truth: {(pred & (truth > 0)).sum() / (pred | (truth > 0)).sum():.3f}")
    save_shot_keep(viewer, "volume_segment")

    # the wrong layer on purpose
    viewer.dims.ndisplay = 2
    seg._whole.value = False
    seg._run.clicked.emit()
    wait_for(lambda: seg._worker is None and seg._run.enabled)
    print("one slice, 3-D model:", seg._status.value)
    flat = viewer.add_image(stack[10], name="one slice")
    seg._image.value = flat
    print("whole stack offered for a 2-D image:", not seg._whole.native.isHidden())
    seg._run.clicked.emit()
    wait_for(lambda: seg._worker is None and seg._run.enabled)
    print("2-D image, 3-D model:", seg._status.value)
    viewer.layers.remove(flat)

    # a correction on slice 20, a round on the volume
    ys, xs = np.nonzero(labels.data[20] != truth[20])
    print(f"slice 20: {len(ys)} pixels the model got wrong; painting them right")
    labels.data_setitem((np.full(len(ys), 20), ys, xs), truth[20][ys, xs])
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    fine._pairs.image.value, fine._pairs.target.value = img, labels
    fine._project.folder.value = folder
    fine._device.value, fine._seconds.value = "cpu", 20
    fine._run.clicked.emit()
    wait_for(lambda: fine._worker is None and not fine._project.saving, timeout=300)
    print("round 1:", fine._status.value)
    viewer.close()


def save_shot_keep(viewer, name: str) -> Path:
    from screenshot import settle

    settle(viewer)
    out = DOCS / f"{name}.png"
    viewer.window.screenshot(str(out), canvas_only=False)
    print("wrote", out)
    return out


def day_two(folder: Path) -> None:
    viewer, fine = reopen(folder)
    labels = viewer.layers["nuclei stack labels"]
    fine._pairs.image.value = viewer.layers["nuclei stack"]
    fine._pairs.target.value = labels
    fine._device.value, fine._seconds.value = "cpu", 20
    fine._run.clicked.emit()
    wait_for(lambda: fine._worker is None and not fine._project.saving, timeout=300)
    print("round 2:", fine._status.value)
    viewer.layers["painted slices"].visible = False  # 255 (magenta) on every unpainted slice
    viewer.dims.set_current_step(0, 20)
    viewer.layers.selection.active = labels
    save_shot(viewer, "volume_reopened")


if __name__ == "__main__":
    project = Path(tempfile.mkdtemp(prefix="napari-unet-volumes-")) / "nuclei.unet-project"
    day_one(project)
    day_two(project)
