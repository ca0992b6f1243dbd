"""The Segment widget, driven as a user would: samples, a model, the run, threshold, errors."""

import numpy as np
import pytest

from napari_unet import PLUGIN
from napari_unet._session import pair_of
from napari_unet._widgets._model_picker import MODEL_FILE

TIMEOUT = 60_000


def use_model_file(widget, path, tile=0):
    widget._model.value = MODEL_FILE
    widget._model_file.value = path
    widget._device.value = "cpu"
    widget._tile.value = tile


def run_and_wait(qtbot, widget):
    widget._run.clicked.emit()  # same as a click; starts the worker
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=TIMEOUT)


def test_segment_sample_threshold_and_edits(segment_widget, tiny_model_file, qtbot, messages):
    viewer, widget = segment_widget
    viewer.open_sample(PLUGIN, "em")
    image = viewer.layers["em slice"]
    image.scale = (2.0, 2.0)
    widget._image.value = image
    use_model_file(widget, tiny_model_file)
    assert not widget._model_file.native.isHidden()  # shown once "model file…" is chosen
    run_and_wait(qtbot, widget)
    assert widget._status.value.startswith("segmented 'em slice'"), widget._status.value
    prob = viewer.layers["em slice probability"]
    labels = viewer.layers["em slice labels"]
    assert prob.data.shape == labels.data.shape == (256, 256)
    assert prob.data.dtype == np.float32 and prob.data.min() >= 0 and prob.data.max() <= 1
    np.testing.assert_array_equal(labels.data, prob.data >= 0.5)
    assert tuple(labels.scale) == (2.0, 2.0)
    assert "1 = cell" in widget._legend.value and "255 = ignore" in widget._legend.value
    pair = pair_of(viewer, labels)  # the labels are a pair of the window's loop model
    assert pair.classes == ["background", "cell"] and pair.image.name == "em slice"
    assert pair.model == str(tiny_model_file)

    # the user paints a correction, then moves the threshold: the edit survives
    labels.data[:10, :10] = 255  # "ignore" painted by hand
    widget._threshold.value = 0.8
    rest = np.ones((256, 256), bool)
    rest[:10, :10] = False
    np.testing.assert_array_equal(labels.data[rest], (prob.data >= 0.8)[rest])
    assert np.all(labels.data[:10, :10] == 255)

    # running again updates the same layers instead of adding new ones
    n_layers = len(viewer.layers)
    run_and_wait(qtbot, widget)
    assert len(viewer.layers) == n_layers and viewer.layers["em slice labels"] is labels
    assert messages["error"] == []


def test_current_slice_of_a_stack(segment_widget, tiny_model_file, qtbot):
    viewer, widget = segment_widget
    stack = np.random.default_rng(0).integers(0, 255, (3, 64, 80), dtype=np.uint8)
    layer = viewer.add_image(stack, name="stack")
    viewer.dims.set_current_step(0, 1)
    widget._image.value = layer
    use_model_file(widget, tiny_model_file)
    run_and_wait(qtbot, widget)
    labels = viewer.layers["stack labels"].data
    prob = viewer.layers["stack probability"].data
    assert labels.shape == (3, 64, 80)
    assert prob[1].max() > 0 and prob[0].max() == 0 and prob[2].max() == 0


def test_a_multiscale_layer_is_read_tile_by_tile_and_gets_a_multiscale_result(
    segment_widget, tiny_model_file, qtbot, messages, recorded
):
    viewer, widget = segment_widget
    rng = np.random.default_rng(1)
    full = rng.integers(0, 255, (2048, 1536), dtype=np.uint8)
    levels = [recorded(full), full[::2, ::2].copy(), full[::4, ::4].copy()]
    layer = viewer.add_image(levels, multiscale=True, name="pyramid", contrast_limits=(0, 255),
                             scale=(0.5, 0.5))  # fmt: skip
    widget._image.value = layer
    assert not widget._levels.choice.native.isHidden()
    assert widget._levels.choice.value == 0  # full resolution unless the user chooses
    assert [c for c in widget._levels.choice.choices] == [0, 1, 2]
    use_model_file(widget, tiny_model_file, tile=256)
    levels[0].reads.clear()
    run_and_wait(qtbot, widget)
    assert messages["error"] == []
    reads = levels[0].reads
    assert reads and max(reads) <= full.size // 8, max(reads)  # tiles, never the whole image
    labels = viewer.layers["pyramid labels"]
    assert labels.data.shape == (2048, 1536) and set(np.unique(labels.data)) <= {0, 1}
    assert labels.editable and tuple(labels.scale) == (0.5, 0.5)
    prob = viewer.layers["pyramid probability"]
    assert prob.multiscale
    assert [d.shape for d in prob.data] == [(2048, 1536), (1024, 768), (512, 384)]
    np.testing.assert_array_equal(labels.data, np.asarray(prob.data[0]) >= 0.5)

    # a coarser level: a quarter of the pixels, placed where the image is
    widget._levels.choice.value = 1
    run_and_wait(qtbot, widget)
    labels = viewer.layers["pyramid labels"]
    assert labels.data.shape == (1024, 768) and tuple(labels.scale) == (1.0, 1.0)
    coarser = viewer.layers["pyramid probability"].data
    assert [d.shape for d in coarser] == [(1024, 768), (512, 384)]
    widget._image.value = viewer.add_image(full[:64, :64], name="plain")
    assert widget._levels.choice.native.isHidden()


def test_a_dask_layer_is_segmented_without_loading_it_whole(segment_widget, tiny_model_file,
                                                           qtbot, messages, recorded):  # fmt: skip
    da = pytest.importorskip("dask.array")
    viewer, widget = segment_widget
    image = np.random.default_rng(2).integers(0, 255, (1536, 1536), dtype=np.uint8)
    source = recorded(image)
    lazy = da.from_array(source, chunks=(1536, 1536))  # one chunk
    layer = viewer.add_image(lazy, name="lazy", contrast_limits=(0, 255))
    widget._image.value = layer
    use_model_file(widget, tiny_model_file, tile=256)
    source.reads.clear()
    run_and_wait(qtbot, widget)
    assert messages["error"] == []
    assert source.reads and max(source.reads) <= image.size // 4, max(source.reads)
    expected = viewer.layers["lazy labels"].data.copy()
    widget._image.value = viewer.add_image(image, name="in memory")
    run_and_wait(qtbot, widget)
    np.testing.assert_array_equal(viewer.layers["in memory labels"].data, expected)


def test_cancel_keeps_everything_as_it_was(segment_widget, tiny_model_file, qtbot):
    viewer, widget = segment_widget
    big = np.random.default_rng(0).integers(0, 255, (1500, 1500), dtype=np.uint8)
    widget._image.value = viewer.add_image(big, name="big")
    use_model_file(widget, tiny_model_file, tile=64)  # hundreds of tiles
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._progress.value >= 1, timeout=TIMEOUT)
    assert widget._cancel.enabled
    widget._cancel.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=TIMEOUT)
    assert widget._status.value.startswith("cancelled")
    assert "big labels" not in viewer.layers and widget._run.enabled


def test_error_paths_are_one_line_notifications(segment_widget, tiny_model_file, tmp_path, qtbot,
                                                messages):  # fmt: skip
    viewer, widget = segment_widget
    widget._run.clicked.emit()  # no image layer
    assert messages["error"] == ["Open or select an image layer first."]
    assert widget._status.value == "not started: open or select an image layer first"

    from unet_core import Preprocessing, UNet, save_model

    two = UNet(2, 2, base_channels=4, depth=2, padding="same", batch_norm=True)
    two_file = save_model(two, tmp_path / "two", preprocessing=Preprocessing("as_is"))
    widget._image.value = viewer.add_image(np.zeros((40, 40), np.uint8), name="gray")
    use_model_file(widget, two_file)
    run_and_wait(qtbot, widget)
    assert "expects 2 channel(s), got 1" in messages["error"][-1]

    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"not a model at all")
    widget._model_file.value = bogus
    run_and_wait(qtbot, widget)
    assert "not a napari-unet model file" in messages["error"][-1]

    widget._model_file.value = tmp_path / "missing.safetensors"
    widget._run.clicked.emit()
    assert "choose a model file" in messages["error"][-1]
    assert all("\n" not in m for m in messages["error"])
    assert "gray labels" not in viewer.layers


def test_a_runtime_error_in_the_job_is_reported_and_run_comes_back(segment_widget, qtbot,
                                                                   tiny_model_file, messages,
                                                                   monkeypatch):  # fmt: skip
    """torch's errors are RuntimeErrors (CUDA out of memory among them), which superqt's worker
    takes for a deleted Qt object: without the guard the widget said nothing and stayed busy."""
    from unet_core.inference.predictor import Predictor

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore details")
        yield

    viewer, widget = segment_widget
    monkeypatch.setattr(Predictor, "run", out_of_memory)
    widget._image.value = viewer.add_image(np.zeros((64, 64), np.uint8), name="gray")
    use_model_file(widget, tiny_model_file)
    run_and_wait(qtbot, widget)
    assert messages["error"][-1] == "napari-unet: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert widget._run.enabled and not widget._cancel.enabled
    assert widget._status.value.startswith("failed: CUDA out of memory")


def test_result_is_not_attached_to_a_removed_or_replaced_layer(segment_widget, tiny_model_file,
                                                                qtbot, messages):  # fmt: skip
    viewer, widget = segment_widget
    data = np.random.default_rng(0).integers(0, 255, (640, 640), dtype=np.uint8)
    for change in ("remove", "replace"):
        layer = viewer.add_image(data, name=f"img {change}")
        widget._image.value = layer
        use_model_file(widget, tiny_model_file, tile=64)
        widget._run.clicked.emit()
        if change == "remove":
            viewer.layers.remove(layer)
        else:
            layer.data = data[::2, ::2].copy()
        qtbot.waitUntil(lambda: widget._worker is None, timeout=TIMEOUT)
        assert widget._status.value.startswith("discarded"), widget._status.value
        assert f"img {change} labels" not in viewer.layers
    assert len(messages["warning"]) == 2


def test_fundus_sample_gets_scale_and_vessel_measurements(segment_widget, qtbot, messages):
    """The bundled drive model on the 1411 x 1411 sample: automatic scale shown, vessel
    measurements shown, and re-measured after the user erases part of the mask."""
    viewer, widget = segment_widget
    viewer.open_sample(PLUGIN, "fundus")
    widget._image.value = viewer.layers["fundus"]
    widget._model.value, widget._device.value = "drive", "cpu"
    assert widget._measure.native.isHidden()
    run_and_wait(qtbot, widget)
    assert "scale 0.3" in widget._status.value  # FOV ~1390 px brought to DRIVE's ~540 px
    assert not widget._measure.native.isHidden()
    text = widget._measurements.value
    area = float(text.split("vessels ")[1].split(" %")[0])
    assert 5 < area < 20 and "FOV diameters" in text and "branch points" in text
    labels = viewer.layers["fundus labels"]
    edited = np.array(labels.data)
    edited[:, : edited.shape[1] // 2] = 0  # erase the left half
    labels.data = edited
    widget._measure.clicked.emit()
    qtbot.waitUntil(lambda: widget._measurements.value.startswith("vessels"), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: widget._measurements.value != text, timeout=TIMEOUT)
    smaller = float(widget._measurements.value.split("vessels ")[1].split(" %")[0])
    assert 0.3 * area < smaller < 0.7 * area


def test_segmenting_again_with_arteries_and_veins_gives_the_labels_those_classes(
        segment_widget, qtbot, messages):  # fmt: skip
    """The sample segmented by drive, then by drive-av into the same labels: Fine-tune shows
    the labels' new classes at once (and a round would learn three)."""
    from napari_unet._session import pair_of

    viewer, widget = segment_widget
    viewer.open_sample(PLUGIN, "fundus")
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    widget._image.value, widget._device.value = viewer.layers["fundus"], "cpu"
    for model, names in (("drive", "background, vessel"),
                         ("drive-av", "background, artery, vein")):  # fmt: skip
        widget._model.value = model
        run_and_wait(qtbot, widget)
        labels = viewer.layers["fundus labels"]
        fine._pairs.target.value = labels
        assert pair_of(viewer, labels).classes == names.split(", ")
        assert fine._pairs.names.value == names, model
    assert "2 = vein" in fine._pairs.legend.value
    widget._measure.clicked.emit()  # the edited labels measured again: arteries and veins
    qtbot.waitUntil(lambda: widget._measurements.value.startswith("vessels"), timeout=TIMEOUT)
    measured = widget._saver.measured
    assert measured["artery_calibre_px"] is not None and measured["vein_calibre_px"] is not None


def test_a_bioimageio_package_segments_as_its_model_file(segment_widget, tiny_model_file,
                                                         qtbot, messages, tmp_path):  # fmt: skip
    """A package exported from a model file (napari-unet export --to bioimageio) chosen as the
    model file gives the same labels as the file itself; another tool's package is refused in
    one line."""
    pytest.importorskip("bioimageio.spec", reason="in the testing extra: pip install -e .[testing]")
    import zipfile

    import tifffile

    from unet_core.cli import main

    viewer, widget = segment_widget
    viewer.open_sample(PLUGIN, "em")
    widget._image.value = viewer.layers["em slice"]
    tifffile.imwrite(tmp_path / "em.tif", viewer.layers["em slice"].data)
    package = tmp_path / "tiny.zip"
    assert main(["export", str(tiny_model_file), "--to", "bioimageio", "--out", str(package),
                 "--sample", str(tmp_path / "em.tif")]) == 0  # fmt: skip
    results = []
    for path in (tiny_model_file, package):
        use_model_file(widget, path)
        run_and_wait(qtbot, widget)
        results.append(viewer.layers["em slice labels"].data.copy())
    assert messages["error"] == []
    assert results[0].any() and np.array_equal(results[0], results[1])

    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("rdf.yaml", "type: model\nname: cellpose cyto\nweights: {torchscript: {}}\n")
    widget._model_file.value = other
    run_and_wait(qtbot, widget)
    assert "not a U-Net of this tool" in messages["error"][-1]
    assert "\n" not in messages["error"][-1]


def test_the_default_model_follows_the_kind_of_image(segment_widget, qtbot, messages):
    """No silent vessel figures: the automatic choice takes em for an EM slice and refuses a
    photograph of a person in one line; drive chosen by hand on an EM slice says that it
    found no field of view and measures nothing."""
    from skimage import data

    viewer, widget = segment_widget
    assert widget._model.value.startswith("auto")
    widget._device.value = "cpu"
    viewer.open_sample(PLUGIN, "em")
    widget._image.value = viewer.layers["em slice"]
    run_and_wait(qtbot, widget)
    assert "(model em: a grayscale image that is not a fundus photograph" in widget._status.value
    assert widget._measure.native.isHidden() and messages["error"] == []

    widget._image.value = viewer.add_image(data.astronaut(), name="person", rgb=True)
    run_and_wait(qtbot, widget)
    assert messages["error"][-1].endswith("no bundled model fits this image: it is in colour "
                                          "but not a fundus photograph; choose a model, or "
                                          "train one for it")  # fmt: skip
    assert "person labels" not in viewer.layers

    widget._image.value = viewer.layers["em slice"]
    widget._model.value = "drive"
    run_and_wait(qtbot, widget)
    assert "no field of view found" in widget._status.value
    assert widget._measure.native.isHidden() and widget._measurements.value == ""
    assert "no field of view found" in messages["warning"][-1]


def test_labels_painted_on_an_earlier_image_are_kept_and_the_change_said(
    segment_widget, tiny_model_file, qtbot, messages
):
    viewer, widget = segment_widget
    rng = np.random.default_rng(3)
    layer = viewer.add_image(rng.integers(0, 255, (64, 64), dtype=np.uint8), name="cells")
    widget._image.value = layer
    use_model_file(widget, tiny_model_file)
    run_and_wait(qtbot, widget)
    labels = viewer.layers["cells labels"]
    labels.data[:5, :5] = 255
    layer.data = rng.integers(0, 255, (64, 64), dtype=np.uint8)  # the image was replaced
    run_and_wait(qtbot, widget)
    assert "note: 'cells' changed since 'cells labels' were made on it" in widget._status.value
    assert (labels.data[:5, :5] == 255).all() and viewer.layers["cells labels"] is labels
    assert pair_of(viewer, labels).image.digest is not None

    hand = viewer.add_labels(np.ones((64, 64), np.uint8), name="other labels")
    widget._image.value = viewer.add_image(np.zeros((64, 64), np.uint8), name="other")
    run_and_wait(qtbot, widget)  # a labels layer the tool did not make is left as it is
    assert (hand.data == 1).all() and "'other labels' was left as it is" in widget._status.value
    assert "other labels [1]" in viewer.layers


def test_a_tile_below_the_networks_smallest_is_said_in_the_status(segment_widget, tmp_path,
                                                                  qtbot, messages):  # fmt: skip
    """The tile box steps by 16 from 0 (auto): a paper-style network takes no 16-px tile; the
    run goes on with its smallest and the status line says so, as the command line does."""
    import torch

    from unet_core import Preprocessing, UNet, save_model

    torch.manual_seed(0)
    valid = UNet(1, 2, base_channels=4, depth=2, padding="valid")
    path = save_model(valid, tmp_path / "valid", name="valid", classes=["background", "cell"],
                      preprocessing=Preprocessing("gray", "zscore"))  # fmt: skip
    viewer, widget = segment_widget
    widget._image.value = viewer.add_image(np.random.default_rng(0).random((96, 96)), name="x")
    use_model_file(widget, path, tile=16)
    run_and_wait(qtbot, widget)
    assert widget._status.value.startswith("segmented 'x'"), widget._status.value
    assert "a tile of 16 px is below the smallest this network takes" in widget._status.value
    assert messages["warning"] and messages["error"] == []
