"""The image and labels drop-downs offer the layers a user may segment, train on or measure:
never the layers the tool draws to show a probability, what a round changed or the live
answer, also when the chosen labels are removed; and they read their own window, docked or
not."""

import numpy as np

from napari_unet import PLUGIN
from napari_unet._widgets._loop_view import LoopView

FINETUNE = "Fine-tune"


def test_display_layers_are_never_offered_as_labels(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((64, 64), np.uint8), name="cells")
    labels = viewer.add_labels(np.zeros((64, 64), np.uint8), name="cells labels")
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    _, measure = viewer.window.add_plugin_dock_widget(PLUGIN, "Measure vessels (retina)")
    _, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Train a new model")
    changed = np.zeros((64, 64), bool)
    changed[10:20, 10:20] = True
    LoopView(viewer).outline(image, changed)  # what a round changed, as the round draws it
    assert "cells changed" in viewer.layers
    drop_downs = [fine._pairs.target, fine._held_labels, measure._target, train._mask_layer]
    for widget in drop_downs:
        offered = [layer.name for layer in widget.choices if layer is not None]
        assert offered == ["cells labels"], (widget.label, offered)
    outline = viewer.layers["cells changed"]  # a copy of it (napari's duplicate keeps the
    kept = viewer.add_labels(outline.data.copy(), name="cells changed copy",  # metadata) is
                             metadata=dict(outline.metadata))  # the user's to choose
    assert kept in measure._target.choices
    viewer.layers.remove(kept)
    viewer.layers.remove(labels)  # the chosen labels go: no drop-down lands on the outline
    for widget in drop_downs:
        assert widget.value is None and widget.choices in ((), (None,)), widget.label
    assert fine._pairs.image.value is image and measure._image.value is image


def test_an_undocked_widget_lists_its_own_window(make_napari_viewer):
    from napari_unet._widgets.measure import MeasureWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.uint8), name="eye")
    viewer.add_labels(np.zeros((32, 32), np.uint8), name="eye labels")
    widget = MeasureWidget(viewer)  # napari's own layer drop-down would list nothing here
    assert widget._image.value.name == "eye" and widget._target.value.name == "eye labels"


def test_a_probability_map_is_never_offered_as_an_image(make_napari_viewer, qtbot):
    """Segment's probability layer is not offered as an image to segment, fine-tune on or
    measure (the tool's own display); a copy of it the user makes is theirs."""
    from skimage import data

    viewer = make_napari_viewer()
    viewer.add_image(data.camera()[::4, ::4], name="cam")
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    _, measure = viewer.window.add_plugin_dock_widget(PLUGIN, "Measure vessels (retina)")
    seg._model.value, seg._device.value = "em", "cpu"
    seg._run.clicked.emit()
    qtbot.waitUntil(lambda: seg._worker is None and seg._run.enabled, timeout=60_000)
    assert "cam probability" in viewer.layers
    drop_downs = [seg._image, fine._pairs.image, fine._held_image, measure._image]
    for widget in drop_downs:
        offered = [layer.name for layer in widget.choices if layer is not None]
        assert offered == ["cam"], (widget.label, offered)
    prob = viewer.layers["cam probability"]
    mine = viewer.add_image(prob.data.copy(), name="cam probability copy",
                            metadata=dict(prob.metadata))  # fmt: skip
    assert all(mine in widget.choices for widget in drop_downs)
