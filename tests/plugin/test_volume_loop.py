"""Fine-tune and Train on a 3-D labels layer in which a few slices are painted: scribbles teach
a 2-D model slice by slice, a whole stack segmented and corrected teaches a 3-D model, and a
stack of sparse labels trains a new 3-D model."""

import numpy as np

from napari_unet import PLUGIN
from napari_unet._session import pair_of, workspace

TIMEOUT = 180_000
FINETUNE = "Fine-tune"


def cells_stack(depth=10, size=48, seed=1):
    rng = np.random.default_rng(seed)
    stack = rng.integers(0, 120, (depth, size, size), dtype=np.uint8)
    stack[:, 12:30, 14:34] = 230
    return stack


def run_round(fine, qtbot):
    fine._run.clicked.emit()
    qtbot.waitUntil(lambda: fine._worker is None and fine._saving is None, timeout=TIMEOUT)


def test_scribbles_on_a_few_slices_teach_a_2d_model_the_stack(make_napari_viewer, qtbot,
                                                              tiny_model_file):  # fmt: skip
    viewer = make_napari_viewer()
    image = viewer.add_image(cells_stack(), name="stack")
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    fine._pairs.image.value = image
    fine._base.value = "model file…"
    fine._base_file.value = tiny_model_file
    fine._pairs.new_scribbles.clicked.emit()
    scribbles = viewer.layers["stack scribbles"]
    assert scribbles.data.shape == (10, 48, 48)
    for z in (2, 7):  # two painted slices of ten
        scribbles.data_setitem((np.full(10, z), np.full(10, 40), np.arange(2, 12)), 1)
        scribbles.data_setitem((np.full(10, z), np.full(10, 20), np.arange(18, 28)), 2)
    fine._device.value = "cpu"
    fine._steps.value = 6
    run_round(fine, qtbot)
    assert [v.name for v in workspace(viewer).versions()] == ["fine-tuned v1"], fine._status.value
    prediction = viewer.layers["stack scribbles prediction"]
    assert prediction.data.shape == (10, 48, 48)
    assert all(prediction.data[z].any() for z in (0, 5, 9))  # unpainted slices segmented too


def test_a_corrected_whole_stack_teaches_a_3d_model(make_napari_viewer, qtbot,
                                                    tiny_3d_model_file):  # fmt: skip
    viewer = make_napari_viewer()
    image = viewer.add_image(cells_stack(depth=16, size=32), name="stack")
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    seg._image.value, seg._whole.value = image, True
    seg._model.value, seg._model_file.value = "model file…", tiny_3d_model_file
    seg._device.value = "cpu"
    seg._run.clicked.emit()
    qtbot.waitUntil(lambda: seg._worker is None, timeout=TIMEOUT)
    labels = viewer.layers["stack labels"]
    assert labels.data.shape == (16, 32, 32), seg._status.value
    ys, xs = np.nonzero(labels.data[4] == 0)  # paint "cell" where the model said background
    stroke = (np.full(8, 4), ys[:8], xs[:8])
    labels.data_setitem(stroke, 1)
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    fine._pairs.image.value, fine._pairs.target.value = image, labels
    fine._device.value = "cpu"
    fine._steps.value = 3
    run_round(fine, qtbot)
    (version,) = workspace(viewer).versions()
    assert version.name == "fine-tuned v1", fine._status.value
    assert workspace(viewer).model(version.ref, "cpu").spatial_dims == 3
    assert (labels.data[stroke] == 1).all()  # the correction survives the round
    assert pair_of(viewer, labels).model == version.ref


def test_train_a_3d_model_from_a_stack_painted_on_a_few_slices(make_napari_viewer, qtbot,
                                                              tmp_path):  # fmt: skip
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Train a new model")
    widget._device.value, widget._size.value = "cpu", "small"
    stack = cells_stack(depth=12, size=32)
    sparse = np.full(stack.shape, 255, np.uint8)
    sparse[::4] = (stack[::4] > 180).astype(np.uint8)
    img = viewer.add_image(stack, name="vol")
    lab = viewer.add_labels(sparse, name="vol labels")
    widget._image.value, widget._mask_layer.value = img, lab
    widget._add_pair.clicked.emit()
    widget._minutes.value = 0.1
    widget._project.value = tmp_path / "proj"
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=TIMEOUT)
    (version,) = workspace(viewer).versions()
    assert version.name == "trained v1", widget._status.value
    model = workspace(viewer).model(version.ref, "cpu")
    assert model.spatial_dims == 3
    assert "3-D U-Net" in model.card.provenance["choices"]["dims"]
