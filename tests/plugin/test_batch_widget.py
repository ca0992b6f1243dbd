"""The Batch widget driven as a user would: a folder with a bad file, cancel and resume,
opening a result next to its image."""

import numpy as np
import pytest
import tifffile

import napari_unet._widgets.batch as batch_module
from napari_unet import PLUGIN
from napari_unet._widgets._model_picker import MODEL_FILE

TIMEOUT = 120_000


@pytest.fixture
def batch_widget(make_napari_viewer, monkeypatch):
    shown = {"error": [], "info": []}
    for kind in shown:
        monkeypatch.setattr(batch_module, f"show_{kind}", shown[kind].append)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Batch-segment a folder")
    return viewer, widget, shown


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "images"
    d.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        tifffile.imwrite(d / f"{name}.tif", rng.integers(0, 255, (96, 120), dtype=np.uint8))
    (d / "broken.tif").write_bytes(b"II*\x00 this is not a tiff")
    return d


def setup(widget, folder, model_file):
    widget._input.value = folder
    widget._model.value = MODEL_FILE
    widget._model_file.value = model_file
    widget._device.value = "cpu"


def wait_idle(qtbot, widget):
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=TIMEOUT)


def test_folder_run_reports_failures_and_opens_a_result(batch_widget, folder, tiny_model_file,
                                                        qtbot):  # fmt: skip
    viewer, widget, shown = batch_widget
    setup(widget, folder, tiny_model_file)
    out = folder / "segmented"
    assert widget._output.value == out  # suggested from the input folder
    widget._run.clicked.emit()
    wait_idle(qtbot, widget)
    assert widget._progress.max == 4 and widget._progress.value == 4
    assert "4 file(s): 3 segmented, 0 skipped, 1 failed" in widget._status.value
    assert shown["info"] and not shown["error"]
    assert not widget._failures.native.isHidden()
    (row,) = widget._failures.data.to_list()
    assert row[0] == "broken.tif" and "cannot be read" in row[1]
    assert sorted(p.name for p in out.glob("*_mask.tif")) == ["a_mask.tif", "b_mask.tif",
                                                               "c_mask.tif"]  # fmt: skip
    assert (out / "segmentation.csv").is_file()

    assert list(widget._results.choices) == ["a.tif", "b.tif", "c.tif"]
    widget._results.value = "b.tif"
    widget._open.clicked.emit()
    assert [layer.name for layer in viewer.layers] == ["b", "b labels"]
    labels = viewer.layers["b labels"].data
    mask = tifffile.imread(out / "b_mask.tif")
    assert labels.shape == (96, 120) and np.array_equal(labels, mask)
    # a mask of an earlier version (0/255, unmarked) opens as the same class indices
    tifffile.imwrite(out / "c_mask.tif", (tifffile.imread(out / "c_mask.tif") > 0) * np.uint8(255))
    widget._results.value = "c.tif"
    widget._open.clicked.emit()
    old = viewer.layers["c labels"].data
    assert set(np.unique(old)) <= {0, 1} and np.array_equal(old > 0, tifffile.imread(
        out / "c_mask.tif") == 255)  # fmt: skip


def test_cancel_keeps_finished_files_and_a_second_run_resumes(batch_widget, tmp_path,
                                                              tiny_model_file, qtbot):  # fmt: skip
    viewer, widget, shown = batch_widget
    d = tmp_path / "many"
    d.mkdir()
    rng = np.random.default_rng(1)
    for i in range(6):
        tifffile.imwrite(d / f"{i}.tif", rng.integers(0, 255, (600, 600), dtype=np.uint8))
    setup(widget, d, tiny_model_file)
    widget._run.clicked.emit()
    # cancel once the second file is being tiled
    qtbot.waitUntil(lambda: "1/6 done; 1.tif, tile" in widget._status.value, timeout=TIMEOUT)
    widget._cancel.clicked.emit()
    wait_idle(qtbot, widget)
    assert widget._status.value.startswith("cancelled")
    out = d / "segmented"
    done = sorted(p.name for p in out.glob("*_mask.tif"))
    assert 1 <= len(done) < 6 and not list(out.glob(".*.part"))
    report = (out / "segmentation.csv").read_text()
    assert "not processed" in report.splitlines()[-1]

    widget._run.clicked.emit()  # resume
    wait_idle(qtbot, widget)
    assert f"{len(done)} skipped, 0 failed" in widget._status.value
    assert len(list(out.glob("*_mask.tif"))) == 6


def test_a_fine_tuned_version_of_this_session_segments_the_folder(
    batch_widget, folder, tmp_path, tiny_model_file, qtbot
):
    from napari_unet._session import workspace
    from unet_core import load_model
    from unet_core.loop import LoopProject, Version

    viewer, widget, shown = batch_widget
    project = LoopProject(tmp_path / "p")
    version = Version("fine-tuned v1", str(tiny_model_file), "tiny", images=["a"], steps=5,
                      model=load_model(tiny_model_file, device="cpu"))  # fmt: skip
    project.versions.append(version)
    workspace(viewer).attach(project)
    assert version.ref in widget._model.choices  # listed as soon as it exists
    widget._input.value = folder
    widget._output.value = tmp_path / "by_version"
    widget._model.value = version.ref
    widget._device.value = "cpu"
    widget._run.clicked.emit()
    wait_idle(qtbot, widget)
    assert "3 segmented" in widget._status.value
    masks = sorted(p.name for p in (tmp_path / "by_version").glob("*_mask.tif"))
    assert masks == ["a_mask.tif", "b_mask.tif", "c_mask.tif"]

    # a result opened next to its image is a pair of the loop, ready to correct and fine-tune
    widget._results.value = "a.tif"
    widget._open.clicked.emit()
    from napari_unet._session import pair_of

    pair = pair_of(viewer, viewer.layers["a labels"])
    assert pair is not None and pair.model == version.ref and pair.prediction() is not None
    assert not pair.painted().any()


def test_the_default_model_follows_the_folder(batch_widget, tmp_path, qtbot, monkeypatch):
    """A folder of EM slices gets the em model (chosen in the background job), and the status
    says why."""
    import shutil
    import threading
    from pathlib import Path

    from unet_core.batch import auto_model

    viewer, widget, shown = batch_widget
    (tmp_path / "em").mkdir()
    sample = Path(__file__).resolve().parents[2] / "sample_data" / "em_isbi2012_test00_crop.png"
    shutil.copy(sample, tmp_path / "em" / "slice.png")
    widget._input.value = tmp_path / "em"
    assert widget._model.value.startswith("auto")
    widget._device.value = "cpu"
    threads = []
    chooser = auto_model.choosing_model

    def spied(*args):
        threads.append(threading.current_thread())
        return (yield from chooser(*args))

    monkeypatch.setattr(auto_model, "choosing_model", spied)
    widget._run.clicked.emit()  # the pictures are read in the job, not on the window's thread
    wait_idle(qtbot, widget)
    assert threads and threads[0] is not threading.main_thread()
    assert "1 segmented" in widget._status.value, widget._status.value
    assert "with em (slice.png is a grayscale image" in widget._status.value


def test_auto_on_a_folder_without_pictures_fails_in_one_line(batch_widget, tmp_path, qtbot):
    """auto reads the folder in the job: a folder with no picture ends the run with one line
    naming the folder, and nothing is written; a folder that is not there is named too."""
    viewer, widget, shown = batch_widget
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no pictures here")
    widget._input.value = tmp_path / "notes"
    widget._device.value = "cpu"
    widget._run.clicked.emit()
    wait_idle(qtbot, widget)
    status = widget._status.value
    assert status == f"failed: no file to segment in {tmp_path / 'notes'}", status
    assert not (tmp_path / "notes" / "segmented").exists()
    widget._input.value = tmp_path / "moved away"  # a folder that is not there (any more)
    widget._run.clicked.emit()
    assert widget._status.value == (f"the input folder {tmp_path / 'moved away'} does not exist "
                                    "(or is no folder)") and widget._worker is None  # fmt: skip


def test_a_local_cluster_of_two_workers_writes_the_masks_of_a_local_run(
    batch_widget, folder, tmp_path, tiny_model_file, qtbot
):
    pytest.importorskip("dask.distributed")
    viewer, widget, shown = batch_widget
    setup(widget, folder, tiny_model_file)
    widget._output.value = tmp_path / "here"
    widget._run.clicked.emit()
    wait_idle(qtbot, widget)
    assert "3 segmented" in widget._status.value

    assert widget._scale_out.workers.native.isHidden()
    widget._scale_out.where.value = "local workers"
    assert not widget._scale_out.workers.native.isHidden()
    widget._scale_out.workers.value = 2
    widget._output.value = tmp_path / "cluster"
    seen = []
    widget._progress.changed.connect(seen.append)
    widget._run.clicked.emit()
    assert "on 2 local worker processes" in widget._status.value
    wait_idle(qtbot, widget)
    assert "4 file(s): 3 segmented, 0 skipped, 1 failed" in widget._status.value, \
        widget._status.value  # fmt: skip
    assert widget._progress.max == 4 and widget._progress.value == 4 and 4 in seen
    assert not shown["error"]
    for name in "abc":
        np.testing.assert_array_equal(tifffile.imread(tmp_path / "cluster" / f"{name}_mask.tif"),
                                      tifffile.imread(tmp_path / "here" / f"{name}_mask.tif"))
    assert not list((tmp_path / "cluster").glob(".*.part"))
    (row,) = widget._failures.data.to_list()
    assert row[0] == "broken.tif"


def test_cancel_on_a_cluster_leaves_the_files_not_started(batch_widget, tmp_path,
                                                          tiny_model_file, qtbot):  # fmt: skip
    pytest.importorskip("dask.distributed")
    viewer, widget, shown = batch_widget
    d = tmp_path / "many"
    d.mkdir()
    rng = np.random.default_rng(1)
    for i in range(12):
        tifffile.imwrite(d / f"{i:02d}.tif", rng.integers(0, 255, (900, 900), dtype=np.uint8))
    setup(widget, d, tiny_model_file)
    widget._scale_out.where.value = "local workers"
    widget._scale_out.workers.value = 2
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._progress.value >= 1, timeout=TIMEOUT)
    widget._cancel.clicked.emit()
    wait_idle(qtbot, widget)
    assert widget._status.value.startswith("cancelled"), widget._status.value
    out = d / "segmented"
    done = sorted(p.name for p in out.glob("*_mask.tif"))
    assert 1 <= len(done) < 12 and not list(out.glob(".*.part")) and not list(out.glob("*.part"))
    assert "not processed" in (out / "segmentation.csv").read_text().splitlines()[-1]


def test_a_bad_scheduler_address_or_no_dask_is_one_line(batch_widget, folder, tiny_model_file,
                                                        qtbot, monkeypatch):  # fmt: skip
    pytest.importorskip("dask.distributed")
    import napari_unet._widgets._runner as runner_module
    import napari_unet._widgets._scale_out as scale_out
    from unet_core.batch import cluster

    viewer, widget, shown = batch_widget
    errors = []
    monkeypatch.setattr(runner_module, "show_error", errors.append)
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1.0)
    setup(widget, folder, tiny_model_file)
    widget._scale_out.where.value = "dask scheduler"
    widget._run.clicked.emit()  # no address typed
    assert widget._status.value.startswith("type the dask scheduler's address")
    widget._scale_out.address.value = "tcp://127.0.0.1:9"  # nothing listens there
    widget._run.clicked.emit()
    wait_idle(qtbot, widget)
    assert widget._status.value.startswith("failed: cannot reach the dask scheduler at "
                                           "tcp://127.0.0.1:9"), widget._status.value
    assert len(errors) == 1 and "\n" not in errors[0]
    assert not list((folder / "segmented").glob("*_mask.tif"))

    monkeypatch.setattr(scale_out, "has_distributed", lambda: False)
    widget._run.clicked.emit()
    assert widget._status.value == scale_out.MISSING and widget._run.enabled
    assert shown["error"][-1] == scale_out.MISSING


def test_a_fundus_folder_is_measured_in_microns_from_the_cameras_angle(batch_widget, tmp_path,
                                                                       qtbot):  # fmt: skip
    """Issue 35: the camera's field of view given in the widget, the report's calibres come in
    microns as from ``napari-unet segment --fov-degrees``."""
    import shutil
    from pathlib import Path

    from unet_core.batch.report import read_report

    viewer, widget, shown = batch_widget
    (tmp_path / "eyes").mkdir()
    sample = Path(__file__).resolve().parents[2] / "sample_data" / "fundus_retina.jpg"
    shutil.copy(sample, tmp_path / "eyes" / "eye.jpg")
    widget._input.value = tmp_path / "eyes"
    widget._device.value = "cpu"
    widget._fov_angle.value = 45
    widget._run.clicked.emit()
    wait_idle(qtbot, widget)
    (row,) = read_report(tmp_path / "eyes" / "segmented" / "segmentation.csv")
    assert float(row["microns_per_pixel"]) > 0 and float(row["calibre_um"]) > 0
    assert float(row["calibre_um"]) == pytest.approx(
        float(row["calibre_px"]) * float(row["microns_per_pixel"]), rel=0.01)


def test_auto_passes_over_a_picture_no_model_fits_and_the_table_says_what_to_know(
        batch_widget, tmp_path, qtbot):  # fmt: skip
    """A folder whose first picture is a colour photograph of a person and then a fundus
    photograph: auto takes drive from the fundus photograph (not refusing the folder), and the
    table says of the other that it is no fundus photograph (its vessels were not measured)."""
    import shutil
    from pathlib import Path

    from skimage import data
    from skimage.io import imsave

    viewer, widget, shown = batch_widget
    (tmp_path / "mixed").mkdir()
    imsave(tmp_path / "mixed" / "a_person.png", data.astronaut()[::2, ::2])
    sample = Path(__file__).resolve().parents[2] / "sample_data" / "fundus_retina.jpg"
    shutil.copy(sample, tmp_path / "mixed" / "b_eye.jpg")
    widget._input.value = tmp_path / "mixed"
    widget._device.value = "cpu"
    widget._run.clicked.emit()
    wait_idle(qtbot, widget)
    assert "2 segmented" in widget._status.value, widget._status.value
    assert "with drive (b_eye.jpg is a fundus photograph" in widget._status.value
    rows = widget._failures.value["data"]
    assert [r[0] for r in rows] == ["a_person.png"] and not widget._failures.native.isHidden()
    assert rows[0][1].startswith("note: no field of view found")


def test_an_angle_no_fundus_camera_has_is_refused_before_any_file(batch_widget, folder,
                                                                 tiny_model_file):  # fmt: skip
    """A field-of-view angle of 5 degrees: one line, and no file is segmented (each would
    have written its mask and then failed to measure)."""
    viewer, widget, shown = batch_widget
    setup(widget, folder, tiny_model_file)
    widget._fov_angle.value = 5
    widget._run.clicked.emit()
    assert widget._status.value.startswith("the field of view's angle (degrees) of a fundus "
                                           "photograph lies between 10 and 220, got 5")
    assert widget._worker is None and not (folder / "segmented").exists()
