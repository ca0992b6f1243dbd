"""Segment a whole stack into one 3-D labels layer: a 2-D model slice by slice, a 3-D model at
once; a 3-D model on one slice is a clear one-line error."""

import numpy as np
import pytest

from napari_unet._session import pair_of
from napari_unet._widgets._model_picker import MODEL_FILE

TIMEOUT = 60_000


def run(qtbot, widget, path):
    widget._model.value = MODEL_FILE
    widget._model_file.value = path
    widget._device.value = "cpu"
    progress = []
    widget._progress.changed.connect(progress.append)
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=TIMEOUT)
    return progress


@pytest.mark.parametrize("model", ["tiny_model_file", "tiny_3d_model_file"])
def test_whole_stack_becomes_one_3d_labels_layer(segment_widget, qtbot, request, model,
                                                 messages):  # fmt: skip
    viewer, widget = segment_widget
    stack = np.random.default_rng(0).integers(0, 255, (6, 48, 56), dtype=np.uint8)
    layer = viewer.add_image(stack, name="stack")
    widget._image.value = layer
    assert not widget._whole.native.isHidden()
    widget._whole.value = True
    progress = run(qtbot, widget, request.getfixturevalue(model))
    assert widget._status.value.startswith("segmented 'stack'"), widget._status.value
    how = "slice by slice" if model == "tiny_model_file" else "in 3-D"
    assert f"6 slices {how}, shown in 3-D" in widget._status.value
    assert viewer.dims.ndisplay == 3
    assert messages["warning"] == [], messages
    labels, prob = viewer.layers["stack labels"], viewer.layers["stack probability"]
    assert labels.data.shape == prob.data.shape == stack.shape
    assert all(prob.data[z].max() > 0 for z in range(6))  # every slice, not the current one
    np.testing.assert_array_equal(labels.data, prob.data >= 0.5)
    assert progress and progress[-1] == widget._progress.max
    pair = pair_of(viewer, labels)
    assert pair is not None and np.shape(pair.labels) == stack.shape
    # an edit survives moving the threshold over the whole stack
    labels.data[3, :5, :5] = 255
    widget._threshold.value = 0.7
    assert (labels.data[3, :5, :5] == 255).all()
    np.testing.assert_array_equal(labels.data[0], prob.data[0] >= 0.7)


def test_a_3d_model_on_one_slice_says_to_segment_the_whole_stack(segment_widget, qtbot,
                                                                  tiny_3d_model_file):  # fmt: skip
    viewer, widget = segment_widget
    layer = viewer.add_image(np.zeros((4, 32, 32), np.uint8), name="stack")
    widget._image.value = layer
    run(qtbot, widget, tiny_3d_model_file)
    assert "a 3-D model segments whole stacks: tick 'whole stack'" in widget._status.value
    assert "stack labels" not in viewer.layers
    flat = viewer.add_image(np.zeros((32, 32), np.uint8), name="flat")
    widget._image.value = flat
    assert widget._whole.native.isHidden()
    run(qtbot, widget, tiny_3d_model_file)  # no box to tick for a 2-D image: not asked to
    assert widget._status.value.endswith("a 3-D model segments stacks (volumes), and this "
                                         "image is 2-D: choose a 2-D model")  # fmt: skip
