"""The plugin's packaging: manifest, import cost, samples, reader and writer."""

import subprocess
import sys

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_unet import PLUGIN
from napari_unet._reader import napari_get_reader
from napari_unet._writer import write_labels


def test_importing_the_plugin_does_not_import_torch():
    code = (
        "import sys, napari_unet, napari_unet._reader, napari_unet._writer, "
        "napari_unet._sample_data, napari_unet._jobs\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_manifest_is_valid_and_every_command_imports():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution(PLUGIN)
    manifest.validate_imports()
    ids = {c.id for c in manifest.contributions.commands}
    assert all(i.startswith("napari-paint-unet.") for i in ids)
    assert {w.command for w in manifest.contributions.widgets} <= ids
    segment_menu = manifest.contributions.menus["napari/layers/segment"]
    assert segment_menu[0].command == "napari-paint-unet.make_segment_widget"


def test_sample_data_open_as_named_layers(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "fundus")
    viewer.open_sample(PLUGIN, "em")
    fundus, em = viewer.layers["fundus"], viewer.layers["em slice"]
    assert fundus.rgb and fundus.data.shape == (1411, 1411, 3)
    assert em.data.shape == (256, 256) and em.data.dtype == np.uint8


def test_widgets_run_on_the_qt_binding_pytest_qt_was_given(make_napari_viewer):
    """PyQt6 by default (pyproject's qt_api): napari 0.9 deprecates PyQt5."""
    import os

    import qtpy

    from napari_unet._widgets.segment import SegmentWidget

    viewer = make_napari_viewer()
    viewer.window.add_dock_widget(SegmentWidget(viewer))
    assert qtpy.API_NAME.lower() == os.environ.get("QT_API", "pyqt6")
    assert qtpy.API_NAME == "PyQt6" or os.environ.get("QT_API") == "pyqt5"


def test_reader_claims_only_what_it_handles(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty_dir").mkdir()
    assert napari_get_reader(str(tmp_path / "notes.txt")) is None
    assert napari_get_reader(str(tmp_path / "missing.tif")) is None
    assert napari_get_reader(str(tmp_path / "empty_dir")) is None
    assert napari_get_reader([str(tmp_path / "a.tif"), str(tmp_path / "b.tif")]) is None
    assert napari_get_reader(12345) is None  # nonsense never raises


def test_reader_opens_our_outputs_and_gif_masks_and_leaves_other_tiffs_to_napari(tmp_path):
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10] = 255
    tifffile.imwrite(tmp_path / "x_mask.tif", mask)
    prob = np.random.default_rng(0).random((2, 20, 30)).astype(np.float32)
    tifffile.imwrite(tmp_path / "x_prob.tif", prob)
    Image.fromarray(mask).convert("P").save(tmp_path / "21_manual1.gif")
    rgb = np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "21_training.tif", rgb, compression="lzw", photometric="rgb")
    ((data, meta, kind),) = napari_get_reader(str(tmp_path / "x_mask.tif"))(
        str(tmp_path / "x_mask.tif")
    )
    assert kind == "labels" and set(np.unique(data)) == {0, 1}
    ((data, meta, kind),) = napari_get_reader(str(tmp_path / "x_prob.tif"))(
        str(tmp_path / "x_prob.tif")
    )
    assert kind == "image" and np.allclose(data, prob[1])
    gif = str(tmp_path / "21_manual1.gif")
    ((data, meta, kind),) = napari_get_reader(gif)(gif)
    assert kind == "labels" and data.sum() == 5 * 30
    lzw = str(tmp_path / "21_training.tif")
    assert napari_get_reader(lzw) is None  # napari's own reader opens it, with no dialog
    from npe2 import PluginManager

    pm = PluginManager.instance()
    claim = {p: [r.command for r in pm.iter_compatible_readers([p])] for p in (lzw, gif)}
    assert claim[lzw] == ["napari.get_reader"]  # one reader: no "choose a reader" dialog
    assert "napari-paint-unet.get_reader" in claim[gif]


def test_reader_opens_drive_and_isbi_folders(shared_data):
    drive = str(shared_data / "drive")
    layers = napari_get_reader(drive)(drive)
    kinds = {meta["name"]: (kind, data.shape) for data, meta, kind in layers}
    assert kinds["training images"] == ("image", (20, 584, 565, 3))
    assert kinds["training 1st_manual"] == ("labels", (20, 584, 565))
    isbi = str(shared_data / "isbi2012")
    layers = napari_get_reader(isbi)(isbi)
    labels = [d for d, m, k in layers if k == "labels"][0]
    assert labels.shape == (25, 512, 512) and 0.15 < labels.mean() < 0.3  # ~22 % membrane


def test_writer_round_trip(tmp_path):
    labels = np.zeros((12, 14), np.int32)
    labels[3:6, 2:9] = 2
    labels[0, 0] = 255
    (path,) = write_labels(str(tmp_path / "edited.tif"), labels, {})
    back = tifffile.imread(path)
    assert back.dtype == np.uint8 and np.array_equal(back, labels)
    # saved as the tool's labels: read back as they stand, 255 stays "not annotated"
    ignore_only = np.where(labels == 2, 0, labels)  # 0 and 255 only: no guess when marked
    (saved,) = write_labels(str(tmp_path / "painted_mask.tif"), ignore_only, {})
    ((data, _, kind),) = napari_get_reader(saved)(saved)
    assert kind == "labels" and np.array_equal(data, ignore_only)
    objects = np.arange(12 * 14, dtype=np.int32).reshape(12, 14) * 3  # beyond 8 bits: as is
    (saved,) = write_labels(str(tmp_path / "objects.tif"), objects, {})
    assert np.array_equal(tifffile.imread(saved), objects)
    with pytest.raises(ValueError, match="integer"):
        write_labels(str(tmp_path / "bad.tif"), np.zeros((2, 2), np.float32), {})
