"""Overlap-tile prediction of volumes with a 3-D U-Net: tiled equals whole, out-of-memory
retry, one-line errors, slab-by-slab streaming equal to one pass, batch segmentation."""

import numpy as np
import pytest
import tifffile
import torch

from unet_core import ModelCard, UNet
from unet_core.base.events import Partial
from unet_core.batch.segment import segment_file
from unet_core.data.io import read_mask
from unet_core.inference.bands import predict_bands
from unet_core.inference.predictor import Predictor
from unet_core.model.geometry import plan_anisotropy
from unet_core.postprocess import probabilities_to_labels


def model_3d(padding="valid", **kw):
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding=padding, spatial_dims=3, **kw).eval()
    model.card = ModelCard(model.config)
    return model


@pytest.fixture
def volume():
    rng = np.random.default_rng(0)
    return (rng.random((30, 52, 61)) * 255).astype(np.uint8)


def test_tiled_equals_whole_volume_in_fp32(volume):
    model = model_3d("valid")
    whole = Predictor(model, device="cpu", precision="fp32")
    assert len(whole.plan(volume.shape)) == 1
    tiled = Predictor(model, device="cpu", precision="fp32", tile=48, batch_size=3)
    assert len(tiled.plan(volume.shape)) >= 8  # several tiles along every axis
    a, b = whole(volume), tiled(volume)
    assert a.shape == (2, *volume.shape)
    np.testing.assert_allclose(b, a, atol=1e-6)
    np.testing.assert_allclose(a.sum(0), 1.0, atol=1e-5)


def test_anisotropic_same_network_tiles_each_axis_on_its_own_grid(volume):
    pools, kernels = plan_anisotropy((4, 1, 1), 2)
    model = model_3d("same", batch_norm=True, pools=pools, kernels=kernels)
    p = Predictor(model, device="cpu", precision="fp32", tile=(16, 32, 32))
    grid = p.plan(volume.shape)
    assert grid.tile_in[0] == 16 and grid.contexts[0] < grid.contexts[1]
    assert all(s % 1 == 0 for s in grid.starts[0]) and all(s % 4 == 0 for s in grid.starts[1])
    prob = p(volume)
    assert prob.shape == (2, *volume.shape)
    np.testing.assert_allclose(prob.sum(0), 1.0, atol=1e-5)


def test_out_of_memory_in_3d_is_retried_in_smaller_tiles(volume, monkeypatch, caplog):
    import unet_core.inference.network as network

    model = model_3d("valid")
    expected = Predictor(model, device="cpu", precision="fp32")(volume)
    real = network.inference_form

    def form(*args, **kwargs):
        net = real(*args, **kwargs)

        def call(x):
            if x.shape[0] > 1 or x.shape[-1] > 60:  # one tile of at most 60 px at a time
                raise RuntimeError("CUDA out of memory. Tried to allocate 4.00 GiB")
            return net(x)

        return call

    monkeypatch.setattr(network, "inference_form", form)
    got = Predictor(model, device="cpu", precision="fp32", tile=124, batch_size=2)(volume)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert "trying again with tiles of" in caplog.text


def test_wrong_shapes_for_a_3d_model_are_one_line_errors():
    model = model_3d("same")
    with pytest.raises(ValueError, match=r"expected a volume.*a 3-D model segments volumes"):
        Predictor(model, device="cpu")(np.zeros((64, 64), np.float32))
    with pytest.raises(ValueError, match="own voxel size"):
        Predictor(model, device="cpu", scale=0.5)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_volume_streamed_slab_by_slab_equals_one_pass(volume, padding):
    model = model_3d(padding, batch_norm=padding == "same")
    p = Predictor(model, device="cpu", precision="fp32", tile=40)
    whole = p(volume)
    slabs = [e.value for e in _partials(predict_bands(p, volume, rows=7))]
    assert [s.y0 for s in slabs] == [0, 7, 14, 21, 28]
    streamed = np.concatenate([s.prob for s in slabs], axis=1)
    # the halo holds the whole receptive field along z: the same tiles' values where the
    # tiles fall alike, and within blending's rounding where they do not
    np.testing.assert_allclose(streamed, whole, atol=1e-5 if padding == "valid" else 0.02)


def _partials(job):
    out = []
    while True:
        try:
            event = next(job)
        except StopIteration:
            return out
        if isinstance(event, Partial):
            out.append(event)


def test_batch_segments_a_tiff_stack_in_3d_streamed_or_whole(tmp_path, volume):
    model = model_3d("valid")
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "stack.tif", volume)
    p = Predictor(model, device="cpu", precision="fp32", tile=48)
    whole = segment_file(p, src / "stack.tif", tmp_path / "whole", instances=True)
    streamed = segment_file(p, src / "stack.tif", tmp_path / "streamed", stream_pixels=10_000)
    assert whole.status == "ok" and "segmented in 3-D" in whole.reason
    assert streamed.status == "ok" and "slab by slab" in streamed.reason
    a = read_mask(tmp_path / "whole" / "stack_mask.tif")
    b = read_mask(tmp_path / "streamed" / "stack_mask.tif")
    assert a.shape == volume.shape and np.array_equal(a, b)
    expected = probabilities_to_labels(Predictor(model, device="cpu", precision="fp32")(volume))
    assert np.array_equal(a, expected)
    assert whole.measurements["volume_foreground"] == int((a == 1).sum())
    assert whole.measurements["objects"] >= 1
    flat = segment_file(p, src / "stack.tif", tmp_path / "x", overwrite=True)
    tifffile.imwrite(src / "flat.tif", volume[0])
    flat = segment_file(p, src / "flat.tif", tmp_path / "x")
    assert flat.status == "failed" and "3-D model segments volumes" in flat.reason


def test_segment_command_reports_voxels_per_class_and_3d_objects(tmp_path, volume):
    import csv

    from unet_core import save_model
    from unet_core.cli import main

    model = model_3d("same", batch_norm=True)
    path = save_model(model, tmp_path / "vol", name="vol", classes=["background", "nucleus"])
    tifffile.imwrite(tmp_path / "stack.tif", volume)
    assert main(["segment", str(tmp_path / "stack.tif"), "--model", str(path), "--out",
                 str(tmp_path / "out"), "--device", "cpu", "--instances"]) == 0  # fmt: skip
    with open(tmp_path / "out" / "segmentation.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if not r["file"].startswith("#")]
    (row,) = rows
    mask = read_mask(tmp_path / "out" / "stack_mask.tif")
    assert mask.shape == volume.shape
    assert int(row["volume_nucleus"]) == int((mask == 1).sum())
    assert "mean_object_volume" in row and int(row["objects"]) >= 0
    assert "segmented in 3-D" in row["reason"]
