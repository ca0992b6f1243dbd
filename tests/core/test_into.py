"""Prediction into given (on-disk zarr) arrays band by band: the same result as a whole-image
pass, a later threshold applied band by band keeping painted pixels, no folder overwritten."""

import numpy as np
import pytest
import torch

from unet_core import ModelCard, Preprocessing, UNet
from unet_core.inference.into import (
    create_outputs,
    predict_into,
    result_bytes,
    rethreshold_into,
)
from unet_core.inference.predictor import Predictor


def tiny():
    """Valid convolutions: bands with enough real context are exactly a whole-image pass (a
    padded network's differ at the seams, tests/core/test_batch.py)."""
    torch.manual_seed(0)
    model = UNet(in_channels=1, base_channels=4, depth=2, padding="valid", batch_norm=True)
    model.card = ModelCard(model.config, Preprocessing(channels="gray"),
                           ["background", "foreground"], "tiny")  # fmt: skip
    return model.eval()


def test_bands_into_zarr_equal_a_whole_pass_and_a_threshold_keeps_paint(tmp_path):
    zarr = pytest.importorskip("zarr")
    image = np.random.default_rng(0).integers(0, 255, (3, 300, 170), dtype=np.uint8)
    predictor = Predictor(tiny(), device="cpu", tile=92)
    whole = predictor(image[1])
    prob, labels = create_outputs(tmp_path / "out.zarr", image.shape)
    job = predict_into(predictor, image[1], prob, labels, threshold=0.5, index=(1,), rows=64)
    events = []
    try:
        while True:
            events.append(next(job))
    except StopIteration as done:
        counts = done.value
    assert events[-1].done == events[-1].total and events[-1].unit == "tiles"
    on_disk = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    np.testing.assert_allclose(on_disk["probability"][1], whole[1], atol=1e-5)
    np.testing.assert_array_equal(on_disk["labels"][1], (whole[1] >= 0.5).astype(np.uint8))
    assert not on_disk["labels"][0].any() and not on_disk["probability"][2].any()
    assert sum(counts.values()) == 300 * 170
    assert on_disk["labels"].chunks == (1, 300, 170)

    labels[1, :5, :5] = 255  # painted
    changed = list(rethreshold_into(prob, labels, 0.5, 0.8, index=(1,), rows=70))
    assert [e.done for e in changed] == [0, 1, 2, 3, 4, 5]
    rest = np.ones((300, 170), bool)
    rest[:5, :5] = False
    np.testing.assert_array_equal(labels[1][rest], (whole[1] >= 0.8)[rest])
    assert (labels[1, :5, :5] == 255).all()

    with pytest.raises(FileExistsError):
        create_outputs(tmp_path / "out.zarr", image.shape)
    assert result_bytes((3, 300, 170)) == 3 * 300 * 170 * 13


def test_a_volume_goes_slab_by_slab_into_zarr(tmp_path):
    pytest.importorskip("zarr")
    torch.manual_seed(0)
    model = UNet(in_channels=1, base_channels=4, depth=2, padding="same", batch_norm=True,
                 spatial_dims=3)  # fmt: skip
    model.card = ModelCard(model.config, Preprocessing(channels="gray"),
                           ["background", "foreground"], "tiny3d")  # fmt: skip
    volume = np.random.default_rng(1).integers(0, 255, (12, 40, 36), dtype=np.uint8)
    predictor = Predictor(model.eval(), device="cpu")
    prob, labels = create_outputs(tmp_path / "v.zarr", volume.shape)
    list(predict_into(predictor, volume, prob, labels, threshold=0.5, rows=4))
    whole = predictor(volume)
    assert np.abs(prob[:] - whole[1]).mean() < 0.01  # padded slabs: the same up to the seams
    assert (labels[:] == (prob[:] >= 0.5)).all()
