"""The "Train a new model" widget: from open layers or folders, live plot, stop, versions."""

import numpy as np
import pytest
import tifffile

import napari_unet._widgets._runner as jobs_module
from napari_unet import PLUGIN
from napari_unet._session import pair_of, workspace
from napari_unet._widgets import train as train_module
from unet_core import read_card

TIMEOUT = 180_000


@pytest.fixture
def messages(monkeypatch):
    seen = {"error": [], "info": []}
    for kind in seen:
        monkeypatch.setattr(train_module, f"show_{kind}", seen[kind].append)
    monkeypatch.setattr(jobs_module, "show_error", seen["error"].append)  # a job that failed
    return seen


@pytest.fixture
def trainer(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Train a new model")
    widget._device.value = "cpu"
    widget._size.value = "small"
    return viewer, widget


def wait(qtbot, widget):
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=TIMEOUT)


def test_train_from_open_layers_becomes_a_version_and_a_model_file(trainer, discs, qtbot,
                                                                   tmp_path, messages):  # fmt: skip
    viewer, widget = trainer
    for seed in (0, 1):
        image, labels = discs(seed, 96, 3)
        img = viewer.add_image(image, name=f"cells{seed}")
        lab = viewer.add_labels(labels, name=f"cells{seed} labels")
        widget._image.value, widget._mask_layer.value = img, lab
        widget._add_pair.clicked.emit()
    assert widget._pairs_view.value == "cells0 + cells0 labels; cells1 + cells1 labels"
    widget._classes.value = "background, nucleus, border"
    assert widget._legend.value.startswith("0 = background, 1 = nucleus (lime), 2 = border (cyan)")
    widget._minutes.value = 0.15
    widget._project.value = tmp_path / "proj"
    widget._run.clicked.emit()
    assert widget._cancel.enabled and not widget._run.enabled
    wait(qtbot, widget)
    assert messages["error"] == [], messages
    (version,) = workspace(viewer).versions()
    assert version.name == "trained v1", widget._status.value
    assert (
        widget._status.value.startswith("trained v1 (done)")
        and "held-out IoU" in widget._status.value
    )
    assert len(widget.plot.losses) > 5 and widget.plot.dice.values  # live loss and IoU
    model_file = tmp_path / "proj" / "versions" / "trained_v1.safetensors"
    card = read_card(model_file)
    assert card.classes == ["background", "nucleus", "border"]
    qtbot.waitUntil(lambda: (tmp_path / "proj" / "project.json").exists(), timeout=TIMEOUT)
    pair = pair_of(viewer, viewer.layers["cells0 labels"])
    assert pair.model == version.ref and pair.complete  # labels drawn by hand, every pixel
    # Fine-tune's "latest" goes on from the new model, with its classes in the legend
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    fine._pairs.target.value = viewer.layers["cells0 labels"]
    assert fine._base_ref(pair) == version.ref
    assert "2 = border (cyan)" in fine._pairs.legend.value

    # the Segment widget lists the new model and segments with it
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    assert version.ref in seg._model.choices
    seg._image.value, seg._model.value, seg._device.value = (
        viewer.layers["cells0"],
        version.ref,
        "cpu",
    )
    seg._objects.value = True
    seg._run.clicked.emit()
    qtbot.waitUntil(lambda: seg._worker is None and seg._run.enabled, timeout=TIMEOUT)
    assert "'cells0 labels' was left as it is" in seg._status.value  # drawn by hand: kept
    labels = viewer.layers["cells0 labels [1]"].data
    assert set(np.unique(labels)) <= {0, 1, 2} and (labels == 1).any()
    assert "2 = border (cyan)" in seg._legend.value
    assert viewer.layers["cells0 objects"].data.max() >= 2


def test_stop_keeps_the_best_weights_so_far(trainer, discs, qtbot, tmp_path):
    viewer, widget = trainer
    image, labels = discs(0, 96)
    widget._image.value = viewer.add_image(image, name="cells")
    widget._mask_layer.value = viewer.add_labels(labels, name="cells labels")
    widget._minutes.value = 30
    widget._project.value = tmp_path / "proj"
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: len(widget.plot.losses) >= 8, timeout=TIMEOUT)
    widget._cancel.clicked.emit()
    wait(qtbot, widget)
    assert "stopped early, best weights kept" in widget._status.value, widget._status.value
    assert [v.name for v in workspace(viewer).versions()] == ["trained v1"]
    assert read_card(tmp_path / "proj" / "versions" / "trained_v1.safetensors").provenance[
        "stopped_early"]  # fmt: skip


def test_folders_and_one_line_errors(trainer, discs, qtbot, tmp_path, messages):
    viewer, widget = trainer
    widget._source.value = "two folders"
    assert not widget._images_dir.native.isHidden() and widget._image.native.isHidden()
    widget._run.clicked.emit()
    assert messages["error"] == [
        "napari-unet: choose the images folder and the labels folder first"
    ]
    for sub in ("images", "labels"):
        (tmp_path / sub).mkdir()
    for name in ("a", "b"):
        image, labels = discs(ord(name), 96)
        tifffile.imwrite(tmp_path / "images" / f"{name}.tif", image)
        tifffile.imwrite(tmp_path / "labels" / f"{name}.tif", labels)
    tifffile.imwrite(tmp_path / "images" / "c.tif", image)
    widget._images_dir.value, widget._labels_dir.value = tmp_path / "images", tmp_path / "labels"
    widget._run.clicked.emit()
    assert "no label file for 1 image(s): c.tif" in messages["error"][-1]
    assert widget._status.value.startswith("not started")
    (tmp_path / "images" / "c.tif").unlink()
    widget._minutes.value = 0.1
    widget._run.clicked.emit()
    wait(qtbot, widget)
    assert [v.name for v in workspace(viewer).versions()] == ["trained v1"], widget._status.value
    assert (tmp_path / "images.unet-project" / "versions" / "trained_v1.safetensors").exists()


def test_a_resnet_network_with_imagenet_weights_and_a_plateau(trainer, discs, qtbot, tmp_path,
                                                              messages):  # fmt: skip
    """The network choice offers the ResNet encoders, whose ImageNet row appears with them;
    the stall choice is the recipe's plateau schedule and patience; the card records all."""
    import torch

    from unet_core.model.resnet import ResNetEncoder

    viewer, widget = trainer
    assert widget._imagenet.native.isHidden()
    widget._size.value = "resnet18"
    assert not widget._imagenet.native.isHidden()
    torch.save(ResNetEncoder(3, "resnet18").state_dict(), tmp_path / "resnet18.pth")
    widget._imagenet.value = tmp_path / "resnet18.pth"
    widget._stall.value = "lower it, then stop"
    image, labels = discs(0, 96, 2)
    widget._image.value = viewer.add_image(image, name="cells")
    widget._mask_layer.value = viewer.add_labels(labels, name="cells labels")
    widget._minutes.value = 0.1
    widget._project.value = tmp_path / "proj"
    widget._run.clicked.emit()
    wait(qtbot, widget)
    assert messages["error"] == [], messages
    card = read_card(tmp_path / "proj" / "versions" / "trained_v1.safetensors")
    assert card.architecture["encoder"] == "resnet18"
    assert (card.provenance["recipe"]["schedule"], card.provenance["recipe"]["patience"]) == (
        "plateau", 6)
    assert "ImageNet weights resnet18.pth" in card.provenance["choices"]["encoder"]
