"""Batch segmentation of a messy folder: every bad file explained, resume, report, streaming
of huge TIFFs, and a dask LocalCluster giving the same masks as the local run."""

import csv
import json

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from unet_core import ModelCard, Preprocessing, UNet, read_image, save_model
from unet_core.base.events import Partial, Progress, Status
from unet_core.base.labels import is_marked
from unet_core.batch import REPORT_NAME, BatchError, BatchRun, FileResult
from unet_core.data.io import read_metadata
from unet_core.inference.bands import predict_bands
from unet_core.inference.predictor import Predictor


def tiny(padding="same", classes=("background", "foreground"), scale=None, channels="gray",
         task="generic"):  # fmt: skip
    torch.manual_seed(0)
    model = UNet(in_channels=1, base_channels=4, depth=2, padding=padding, batch_norm=True)
    model.card = ModelCard(model.config, Preprocessing(channels=channels), list(classes),
                           "tiny", scale=scale or {}, task=task)  # fmt: skip
    return model.eval()


@pytest.fixture
def model_file(tmp_path):
    return save_model(tiny(), tmp_path / "tiny.safetensors")


@pytest.fixture
def messy(tmp_path):
    """A folder with good files and one of each kind of bad file."""
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(0)
    good = rng.integers(0, 255, (60, 70), dtype=np.uint8)
    tifffile.imwrite(d / "good.tif", good, compression="zlib")
    Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(d / "rgb.png")
    (d / "empty.tif").write_bytes(b"")
    tifffile.imwrite(d / "whole.tif", good)
    (d / "truncated.tif").write_bytes((d / "whole.tif").read_bytes()[:600])
    (d / "whole.tif").unlink()
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (d / "notes.txt").write_text("a lab note")
    tifffile.imwrite(d / "twochannel.tif", rng.random((30, 30, 2)).astype(np.float32))
    stack = rng.integers(0, 255, (3, 32, 36), dtype=np.uint8)
    tifffile.imwrite(d / "stack.tif", stack, photometric="minisblack")
    nan = rng.random((30, 40)).astype(np.float32)
    nan[:5, :5] = np.nan
    tifffile.imwrite(d / "somenan.tif", nan)
    tifffile.imwrite(d / "allnan.tif", np.full((20, 20), np.nan, np.float32))
    tifffile.imwrite(d / "one.tif", np.array([[7]], np.uint8))
    return d


def report_rows(out):
    lines = (out / REPORT_NAME).read_text().splitlines()
    return list(csv.DictReader([x for x in lines if not x.startswith("#")])), lines[-1]


def test_a_messy_folder_is_segmented_and_every_bad_file_explained(tmp_path, messy, model_file):
    before = {p.name: p.read_bytes() for p in messy.iterdir()}
    out = tmp_path / "out"
    run = BatchRun(messy, out, model=str(model_file), device="cpu", save_prob=True)
    results = {r.path.name: r for r in run}
    status = {k: (r.status, r.reason) for k, r in results.items()}
    assert status["good.tif"] == ("ok", "")
    assert status["rgb.png"][0] == "ok" and status["one.tif"][0] == "ok"
    assert status["stack.tif"] == ("ok", "a stack of 3 slices, segmented slice by slice")
    assert status["somenan.tif"][0] == "ok" and "25 NaN/inf pixel(s)" in status["somenan.tif"][1]
    assert status["notes.txt"] == ("skipped", "not an image file (.txt)")
    assert status["empty.tif"] == ("failed", "the file is empty")
    assert status["truncated.tif"][0] == "failed" and "cannot be read" in status["truncated.tif"][1]
    assert status["corrupt.png"][0] == "failed" and "cannot be read" in status["corrupt.png"][1]
    assert status["twochannel.tif"] == ("failed", "this model expects a grayscale or RGB image, "
                                        "got 2 channels")  # fmt: skip
    assert status["allnan.tif"] == ("failed", "the image has no finite pixel values")
    assert all("\n" not in reason for _, reason in status.values())
    assert run.counts == {"ok": 5, "skipped": 1, "failed": 5}

    mask = read_image(out / "good_mask.tif")
    assert mask.shape == (60, 70) and set(np.unique(mask)) <= {0, 1}  # class indices
    assert read_image(out / "stack_mask.tif").shape == (3, 32, 36)
    assert read_image(out / "stack_prob.tif").shape == (3, 2, 32, 36)
    assert read_image(out / "one_mask.tif").shape == (1, 1)
    nan_mask = read_image(out / "somenan_mask.tif")
    assert not nan_mask[:5, :5].any()  # nothing claimed where there was no data
    assert not list(out.glob("*.part")) and not list(out.glob(".*"))
    assert {p.name: p.read_bytes() for p in messy.iterdir()} == before  # inputs untouched

    rows, summary = report_rows(out)
    assert len(rows) == 11 and {r["file"] for r in rows} == {str(p) for p in messy.iterdir()}
    good = next(r for r in rows if r["file"].endswith("good.tif"))
    assert (good["status"], good["height"], good["width"], good["channels"]) == ("ok", "60", "70",
                                                                                 "1")  # fmt: skip
    assert float(good["foreground_fraction"]) == pytest.approx(np.mean(mask > 0), abs=1e-5)
    assert float(good["seconds"]) > 0 and good["mask"] == str(out / "good_mask.tif")
    assert summary == f"# 11 file(s): 5 segmented, 1 skipped, 5 failed in {run.seconds:.1f} s"


def test_unusable_output_folders_stop_the_run_before_it_starts(tmp_path, messy, model_file):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(BatchError, match="it is a file"):
        BatchRun(messy, blocker, model=str(model_file))
    with pytest.raises(BatchError, match="cannot create the output folder"):
        BatchRun(messy, blocker / "sub", model=str(model_file))
    with pytest.raises(BatchError, match="no such file or folder"):
        BatchRun(tmp_path / "nothing_here", tmp_path / "o", model=str(model_file))
    (tmp_path / "only_notes").mkdir()
    (tmp_path / "only_notes" / "n.txt").write_text("x")
    with pytest.raises(BatchError, match="no image files found"):
        BatchRun(tmp_path / "only_notes", tmp_path / "o", model=str(model_file))
    with pytest.raises(BatchError, match="no bundled model"):
        BatchRun(messy, tmp_path / "o", model="no-such-model")


def test_cancel_leaves_no_partial_output_and_a_rerun_resumes(tmp_path, model_file):
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(1)
    for name in "abc":
        tifffile.imwrite(d / f"{name}.tif", rng.integers(0, 255, (200, 220), dtype=np.uint8))
    out = tmp_path / "out"
    run = BatchRun(d, out, model=str(model_file), device="cpu", tile=64, save_prob=True)
    events = run.events()
    seen_b_tiles = 0
    for event in events:
        if (isinstance(event, Progress) and event.unit == "tiles"
                and event.values["file"].name == "b.tif" and event.done):  # fmt: skip
            seen_b_tiles += 1
            if seen_b_tiles == 2:  # in the middle of b.tif
                break
    events.close()
    assert run.cancelled and run.counts == {"ok": 1, "skipped": 0, "failed": 0}
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a_mask.tif", "a_prob.tif", REPORT_NAME, "segmentation_run.json",
                     "segmentation_runs.jsonl"]
    record = json.loads((out / "segmentation_run.json").read_text())
    assert record["options"]["save_prob"] is True and "cancelled" in record["summary"]
    assert record["model"]["classes"] == run.classes
    rows, summary = report_rows(out)
    assert [r["file"] for r in rows] == [str(d / "a.tif")]
    assert "cancelled with 2 not processed" in summary
    first = rows[0]

    rerun = BatchRun(d, out, model=str(model_file), device="cpu", tile=64, save_prob=True)
    statuses = {r.path.name: r.status for r in rerun}
    assert statuses == {"a.tif": "skipped", "b.tif": "ok", "c.tif": "ok"}
    rows, summary = report_rows(out)
    again = next(r for r in rows if r["file"] == first["file"])
    assert again["foreground_fraction"] == first["foreground_fraction"]  # carried over
    assert summary.startswith("# 3 file(s): 2 segmented, 1 skipped, 0 failed")
    # a run on one file into the same folder keeps the other files' rows
    (d / "new.tif").write_bytes((d / "a.tif").read_bytes())
    list(BatchRun(d / "new.tif", out, model=str(model_file), device="cpu", tile=64))
    rows, summary = report_rows(out)
    assert [r["file"] for r in rows] == [str(d / n) for n in ("new.tif", "a.tif", "b.tif",
                                                                "c.tif")]  # fmt: skip
    assert summary.startswith("# 1 file(s): 1 segmented")


def test_a_rerun_with_another_model_says_what_made_the_outputs_it_skips(tmp_path, model_file):
    """A file skipped because a run with another model segmented it says so (a note: the
    report keeps that model's results), and keeps what was said of it then."""
    d = tmp_path / "in"
    d.mkdir()
    nan = np.random.default_rng(2).random((30, 40)).astype(np.float32)
    nan[:5, :5] = np.nan
    tifffile.imwrite(d / "somenan.tif", nan)
    out = tmp_path / "out"
    assert [r.status for r in BatchRun(d, out, model=str(model_file), device="cpu")] == ["ok"]
    same = list(BatchRun(d, out, model=str(model_file), device="cpu"))
    assert same[0].status == "skipped" and same[0].notes == ()
    other = tmp_path / "other.safetensors"
    model = tiny()
    with torch.no_grad():
        model.head.bias += 1.0  # other weights: another model
    save_model(model, other)
    skipped = list(BatchRun(d, out, model=str(other), device="cpu"))
    assert skipped[0].status == "skipped"
    assert skipped[0].notes and "its outputs were made with tiny@" in skipped[0].notes[0]
    rows, _ = report_rows(out)
    assert rows[0]["reason"].startswith(FileResult.EXISTS + "; 25 NaN/inf pixel(s)")
    assert rows[0]["model"].startswith("tiny@") and rows[0]["model"] in skipped[0].notes[0]
    assert rows[0]["reason"].count(FileResult.EXISTS) == 1  # not once per rerun
    report = out / REPORT_NAME  # a report an earlier release wrote, in its words
    report.write_text(report.read_text().replace(FileResult.EXISTS, FileResult.EXISTS_BEFORE))
    list(BatchRun(d, out, model=str(other), device="cpu"))
    rows, _ = report_rows(out)
    assert rows[0]["reason"].startswith(FileResult.EXISTS + "; 25 NaN/inf pixel(s)")
    assert FileResult.EXISTS_BEFORE not in rows[0]["reason"]


def test_overwrite_takes_away_what_showed_the_mask_it_replaced(tmp_path, model_file):
    """Overwriting a file's mask without a probability map or an overlay removes those of the
    earlier run (they showed the old mask); a file that was not redone keeps its own."""
    d = tmp_path / "in"
    d.mkdir()
    image = np.random.default_rng(3).integers(0, 255, (40, 50), dtype=np.uint8)
    for name in ("a", "b"):
        tifffile.imwrite(d / f"{name}.tif", image)
    out = tmp_path / "out"
    list(BatchRun(d, out, model=str(model_file), device="cpu", save_prob=True,
                  save_overlay=True))  # fmt: skip
    names = {p.name for p in out.iterdir()}
    assert {"a_prob.tif", "a_overlay.png", "b_prob.tif", "b_overlay.png"} <= names
    redone = list(BatchRun(d / "a.tif", out, model=str(model_file), device="cpu",
                           overwrite=True))  # fmt: skip
    assert redone[0].status == "ok"
    names = {p.name for p in out.iterdir()}
    assert "a_mask.tif" in names and not {"a_prob.tif", "a_overlay.png"} & names
    assert {"b_prob.tif", "b_overlay.png", "b_mask.tif"} <= names


def test_vessel_models_report_their_measurements(tmp_path):
    from unet_core.retina.biomarkers import measure_photograph
    from unet_core.retina.vessels import measure_vessels
    from unet_core.tasks.fov import fov_diameter, fov_mask

    model = tiny(classes=("background", "vessel"), scale={"fov_diameter": 60}, channels="green",
                 task="fundus")  # fmt: skip
    rng = np.random.default_rng(5)
    img = np.zeros((80, 80, 3), np.uint8)
    yy, xx = np.mgrid[:80, :80]
    disc = np.hypot(yy - 40, xx - 40) < 30  # a fundus-like field of view: reddish, dark around
    img[disc] = rng.integers(60, 200, (disc.sum(), 3)) * np.array([1.0, 0.6, 0.2])
    Image.fromarray(img).save(tmp_path / "eye.png")
    prob = Predictor(model, device="cpu")(img)[1]
    threshold = float(np.median(prob[disc]))  # an untrained model: half the disc is "vessel"
    run = BatchRun(tmp_path / "eye.png", tmp_path / "o", model=model, device="cpu",
                   threshold=threshold)  # fmt: skip
    (result,) = list(run)
    assert result.status == "ok" and result.scale == pytest.approx(1.0, abs=0.05)
    mask = read_image(tmp_path / "o" / "eye_mask.tif") > 0
    fov = fov_mask(img)
    expected = measure_vessels(mask, fov, fov_diameter(fov))
    measured = dict(result.measurements)
    assert measured.pop("area_vessel") == mask.sum()  # every model: each class's area
    assert measured.pop("vessel_area_fraction") == expected["area_fraction"]
    published = measure_photograph(mask, fov, img)  # issue 35: what research publishes
    assert {k: measured.pop(k) for k in published} == published
    assert measured == {k: v for k, v in expected.items() if k != "area_fraction"}
    assert "no arteries and veins" in published["not_measured"]
    assert 0 < expected["area_fraction"] < 1
    assert expected["skeleton_length"] > 0 and "mean_width_per_fov" in expected
    rows, _ = report_rows(tmp_path / "o")
    assert float(rows[0]["vessel_area_fraction"]) == pytest.approx(expected["area_fraction"],
                                                                   rel=1e-4)  # fmt: skip
    assert float(rows[0]["skeleton_length"]) == pytest.approx(expected["skeleton_length"], 1e-4)
    assert int(rows[0]["branch_points"]) == expected["branch_points"]
    # a model that is not a vessel model gets no vessel columns, only its classes' areas
    (plain,) = list(BatchRun(tmp_path / "eye.png", tmp_path / "p", model=tiny(), device="cpu"))
    assert list(plain.measurements) == ["area_foreground"]


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_bands_match_the_whole_image_prediction(padding):
    model = tiny(padding)
    image = np.random.default_rng(2).integers(0, 255, (300, 170), dtype=np.uint8)
    predictor = Predictor(model, device="cpu", tile=96)
    whole = predictor(image)
    bands = {}
    for event in predict_bands(predictor, image, rows=64):
        if isinstance(event, Partial):
            bands[event.value.y0] = event.value.prob
    assert sorted(bands) == [0, 64, 128, 192, 256]
    streamed = np.concatenate([bands[y] for y in sorted(bands)], axis=1)
    assert streamed.shape == whole.shape
    if padding == "valid":  # enough real context above and below: identical
        np.testing.assert_allclose(streamed, whole, atol=1e-5)
    else:  # blended tiles fall differently: the same up to seams
        assert np.abs(streamed - whole).mean() < 0.01


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_huge_tiffs_are_streamed_to_the_same_mask(tmp_path, compression):
    model = tiny("valid")
    image = np.random.default_rng(3).integers(0, 255, (400, 300), dtype=np.uint8)
    tile = (64, 64) if compression else None
    tifffile.imwrite(tmp_path / "big.tif", image, compression=compression, tile=tile)
    common = dict(model=model, device="cpu", save_prob=True, tile=92)
    (plain,) = list(BatchRun(tmp_path / "big.tif", tmp_path / "a", **common))
    (streamed,) = list(BatchRun(tmp_path / "big.tif", tmp_path / "b", stream_pixels=1000,
                                **common))  # fmt: skip
    assert plain.status == streamed.status == "ok"
    assert "streamed band by band" in streamed.reason
    np.testing.assert_array_equal(read_image(tmp_path / "a" / "big_mask.tif"),
                                  read_image(tmp_path / "b" / "big_mask.tif"))  # fmt: skip
    assert read_metadata(tmp_path / "b" / "big_mask.tif")["classes"] == ["background",
                                                                         "foreground"]
    prob = read_image(tmp_path / "b" / "big_prob.tif")
    assert prob.shape == (400, 300)  # the foreground probability
    np.testing.assert_allclose(prob, read_image(tmp_path / "a" / "big_prob.tif")[1], atol=1e-5)
    assert streamed.foreground == pytest.approx(plain.foreground, abs=1e-9)


def test_a_local_dask_cluster_gives_the_same_masks(tmp_path, model_file):
    pytest.importorskip("dask.distributed")
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(4)
    for i in range(4):
        tifffile.imwrite(d / f"{i}.tif", rng.integers(0, 255, (50 + 10 * i, 60), dtype=np.uint8))
    (d / "bad.tif").write_bytes(b"II*\x00garbage")  # fails on the worker
    local = {r.path.name: r for r in BatchRun(d, tmp_path / "local", model=str(model_file),
                                              device="cpu")}  # fmt: skip
    run = BatchRun(d, tmp_path / "dask", model=str(model_file), device="cpu", workers=2,
                   threads=1)  # fmt: skip
    remote = {r.path.name: r for r in run}
    assert all(isinstance(r, FileResult) for r in remote.values())
    assert {k: r.status for k, r in remote.items()} == {k: r.status for k, r in local.items()}
    assert remote["bad.tif"].status == "failed"
    for i in range(4):
        np.testing.assert_array_equal(read_image(tmp_path / "local" / f"{i}_mask.tif"),
                                      read_image(tmp_path / "dask" / f"{i}_mask.tif"))  # fmt: skip
    rows, summary = report_rows(tmp_path / "dask")
    assert len(rows) == 5 and "4 segmented, 0 skipped, 1 failed" in summary


def test_a_run_yields_the_events_of_every_job(tmp_path, model_file):
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(4)
    for name in "ab":
        tifffile.imwrite(d / f"{name}.tif", rng.integers(0, 255, (80, 90), dtype=np.uint8))
    out = tmp_path / "out"
    out.mkdir()
    (out / REPORT_NAME).write_bytes(b'file,status\n"unclosed' + b"x" * 200_000 + b"\n")
    events = list(BatchRun(d, out, model=str(model_file), device="cpu", tile=64).events())
    assert all(isinstance(e, (Progress, Status, Partial)) for e in events)
    assert isinstance(events[0], Status) and "could not be read" in events[0].text
    assert events[1] == Progress(0, 2, "files")
    files = [e for e in events if isinstance(e, Progress) and e.unit == "files"]
    assert [(e.done, e.total) for e in files] == [(0, 2), (1, 2), (2, 2)]
    results = [e.value for e in events if isinstance(e, Partial)]
    assert [r.path.name for r in results] == ["a.tif", "b.tif"]
    assert all(isinstance(r, FileResult) and r.status == "ok" for r in results)
    tiles = [e for e in events if isinstance(e, Progress) and e.unit == "tiles"]
    assert {e.values["file"].name for e in tiles} == {"a.tif", "b.tif"}
    assert all(0 <= e.done <= e.total for e in tiles) and tiles[-1].fraction == 1.0
    mask = out / "a_mask.tif"
    assert is_marked(read_metadata(mask)) and read_metadata(mask)["classes"] == [
        "background", "foreground"]  # fmt: skip


def test_a_rerun_at_another_pixel_size_says_its_skipped_files_keep_their_measures(tmp_path):
    """Fundus photographs measured in pixels, then the run again with a pixel size, then with
    another: each skipped file says its measures are those of before (overwrite redoes them)."""
    from pathlib import Path

    sample = Path(__file__).resolve().parents[2] / "sample_data" / "fundus_retina.jpg"
    out = tmp_path / "out"
    assert [r.status for r in BatchRun(sample, out, model="drive", device="cpu")] == ["ok"]
    (again,) = BatchRun(sample, out, model="drive", device="cpu", pixel_size_um=9.0)
    assert again.status == "skipped"
    assert any("measured in pixels (no pixel size or angle then)" in n for n in again.notes)
    list(BatchRun(sample, out, model="drive", device="cpu", pixel_size_um=9.0, overwrite=True))
    (other,) = BatchRun(sample, out, model="drive", device="cpu", pixel_size_um=5.0)
    assert any("measured at 9 um per pixel, not 5" in n for n in other.notes), other.notes
    (same,) = BatchRun(sample, out, model="drive", device="cpu", pixel_size_um=9.0)
    assert same.status == "skipped" and same.notes == ()


def test_choosing_the_model_can_stop_between_pictures(tmp_path):
    """``auto`` reads the folder's pictures one by one, saying which: a background run stops
    between two (the widget's Cancel), without reading the rest."""
    from skimage import data

    from unet_core.base.jobs import Cancelled, drain
    from unet_core.batch.auto_model import choosing_model

    for i in range(3):  # colour pictures no bundled model fits: each is read in turn
        Image.fromarray(data.astronaut()[::8, ::8]).save(tmp_path / f"{i}.png")
    seen = []
    with pytest.raises(Cancelled):
        drain(choosing_model(str(tmp_path)), lambda item: seen.append(item.text) or len(seen) < 2)
    assert seen == ["reading 0.png to choose the model…", "reading 1.png to choose the model…"]
