"""Paint-and-retrain on a stack: scribbles or corrections on a 3-D labels layer fine-tune a 2-D
model on the painted slices or a 3-D model on the volume; the project keeps it all."""

import numpy as np
import pytest
import torch

from unet_core import ModelCard, Preprocessing, UNet, save_model
from unet_core.base.labels import IGNORE_LABEL
from unet_core.loop import CORRECTIONS, SCRIBBLES, ImageId, LoopError, LoopProject, Pair, round_job
from unet_core.loop.project import snapshot
from unet_core.loop.storage import save_job
from unet_core.postprocess import probabilities_to_labels
from unet_core.training.finetune import iter_finetune


def stack(depth=8, size=40, seed=0):
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 80, (depth, size, size)).astype(np.uint8)
    out[:, 10:26, 12:30] = 220
    return out


def prob_of(mask):
    fg = np.where(mask > 0, 0.8, 0.2).astype(np.float32)
    return np.stack([1 - fg, fg])


def tiny(tmp_path, dims):
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True,
                 spatial_dims=dims)  # fmt: skip
    model.card = ModelCard(model.config, Preprocessing("gray", "zscore"),
                           classes=["background", "cell"], name=f"tiny{dims}d")  # fmt: skip
    return model.eval(), str(save_model(model, tmp_path / f"tiny{dims}", name=f"tiny{dims}d"))


def run(job):
    try:
        while True:
            next(job)
    except StopIteration as done:
        return done.value


def test_scribbles_on_a_stack_fine_tune_a_2d_model_on_the_painted_slices(tmp_path):
    model, path = tiny(tmp_path, 2)
    img = stack()
    labels = np.zeros(img.shape, np.uint8)
    pair = Pair(ImageId.of(img, "vol"), "vol labels", SCRIBBLES, ["background", "cell"], labels,
                np.zeros(img.shape, np.uint8), pixels=img)  # fmt: skip
    pair.labels[2, 12:20, 14:24] = 2  # class 1 ("cell") is painted as 2 in scribbles
    pair.labels[2, 30:36, 30:36] = 1
    pair.labels[5, 0:6, 0:6] = 1
    data = snapshot([pair])
    assert data[0].labels.shape == img.shape
    assert set(np.flatnonzero((data[0].labels != IGNORE_LABEL).any(axis=(1, 2)))) == {2, 5}
    result = run(round_job(model, data, parent=path, steps=4, seconds=None, device="cpu"))
    assert result.prob.shape == (2, *img.shape)  # every slice re-segmented
    assert result.steps == 4 and result.model.spatial_dims == 2


def test_corrections_of_a_stack_segmented_slice_by_slice_teach_only_those_slices():
    img = stack()
    pair = Pair(ImageId.of(img, "vol"), "vol labels", CORRECTIONS, ["background", "cell"],
                np.zeros(img.shape, np.uint8), pixels=img)  # fmt: skip
    for z in (1, 4):
        pair.record(prob_of(img[z] > 128), "em", index=(z,), fresh=z == 1)
    with pytest.raises(LoopError, match="correct it with the brush first"):
        pair.training_labels()
    pair.labels[4, 0:3, 0:3] = 1
    labels, corrected = pair.training_labels()
    known = (labels != IGNORE_LABEL).any(axis=(1, 2))
    assert np.flatnonzero(known).tolist() == [1, 4]  # never-segmented slices say nothing
    assert corrected.sum() == 9 and corrected[4, 0:3, 0:3].all()


def test_a_3d_model_fine_tunes_on_a_corrected_volume_and_the_project_reopens(tmp_path):
    model, path = tiny(tmp_path, 3)
    img = stack(depth=16, size=32)
    project = LoopProject(tmp_path / "p")
    pair = project.add_pair(Pair(ImageId.of(img, "vol"), "vol labels", CORRECTIONS,
                                 ["background", "cell"], np.zeros(img.shape, np.uint8),
                                 pixels=img))  # fmt: skip
    pair.record(prob_of(img > 128), path, fresh=True)  # a whole-stack prediction
    pair.labels[3, 0:4, 0:4] = 1
    result = run(round_job(model, snapshot([pair]), parent=path, steps=3, seconds=None,
                           device="cpu"))  # fmt: skip
    assert result.model.spatial_dims == 3 and result.prob.shape == (2, *img.shape)
    version, changed = project.add_round(result, parent_name="tiny3d")
    assert pair.model == version.ref and (pair.labels[3, 0:4, 0:4] == 1).all()
    rest = ~pair.painted()
    assert (pair.labels[rest] == probabilities_to_labels(result.prob)[rest]).all()
    save_job(project)()
    again = LoopProject.open(tmp_path / "p")
    p = again.pair(pair.id)
    np.testing.assert_array_equal(p.labels, pair.labels)
    assert p.painted().sum() == 16 and again.model_of(again.version(version.ref)).spatial_dims == 3


def test_a_3d_model_fine_tunes_from_sparse_slices_and_refuses_2d_labels(tmp_path):
    model, _ = tiny(tmp_path, 3)
    img = stack(depth=12, size=32)
    labels = np.full(img.shape, IGNORE_LABEL, np.uint8)
    labels[::4] = (img[::4] > 128).astype(np.uint8)
    new = run(iter_finetune(model, img, labels, steps=3, ignore_label=IGNORE_LABEL,
                            device="cpu"))  # fmt: skip
    assert new.spatial_dims == 3 and new.card.provenance["finetune"]["steps"] == 3
    assert not all(torch.equal(a, b) for a, b in zip(new.state_dict().values(),
                                                     model.state_dict().values()))  # fmt: skip
    with pytest.raises(ValueError, match="a 3-D model fine-tunes on volumes"):
        run(iter_finetune(model, [img[0]], [labels[0]], steps=1, ignore_label=IGNORE_LABEL))
