"""The U-Net in three dimensions (Cicek et al., MICCAI 2016): geometry of the valid variant,
anisotropic pooling planned from the voxel size, the inference form, the card round trip."""

import numpy as np
import pytest
import torch

from unet_core import UNet
from unet_core.formats.safetensors_file import save_model
from unet_core.formats.store import load_model
from unet_core.model.build import build_model, check_architecture
from unet_core.model.fused import inference_form
from unet_core.model.geometry import plan_anisotropy


def test_cicek_valid_network_maps_132x132x116_to_44x44x28():
    # the paper's Fig. 1: depth 3, unpadded 3x3x3 convolutions, 2x2x2 pools
    model = UNet(3, 3, base_channels=4, depth=3, padding="valid", spatial_dims=3)
    assert model.output_shape((116, 132, 132)) == (28, 44, 44)
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 116, 132, 132))
    assert out.shape == (1, 3, 28, 44, 44)
    assert model.margins == (88, 88, 88) and model.grids == (8, 8, 8)
    # two per level down (4) and up (3), three up-convolutions, the 1x1x1 head
    assert model.num_conv_layers() == 2 * 4 + 2 * 3 + 3 + 1


@pytest.mark.parametrize("shape", [(92, 92, 92), (100, 108, 92), (116, 92, 124)])
def test_valid_3d_output_shape_matches_the_network(shape):
    model = UNet(1, 2, base_channels=2, depth=3, padding="valid", spatial_dims=3)
    assert all(model.is_valid_input_size(n, a) for a, n in enumerate(shape))
    with torch.no_grad():
        out = model(torch.zeros(1, 1, *shape))
    assert tuple(out.shape[2:]) == model.output_shape(shape)


def test_invalid_3d_sizes_are_refused():
    model = UNet(1, 2, base_channels=2, depth=3, padding="valid", spatial_dims=3)
    assert not model.is_valid_input_size(93, 0)
    assert model.valid_input_size(93, "up", axis=0) == 100
    assert model.valid_input_size(93, "down", axis=0) == 92
    with pytest.raises(ValueError, match="not valid|too small"):
        model.output_shape((60, 92, 92))
    with pytest.raises(ValueError, match="3 spatial sizes"):
        model.output_shape((92, 92))


def test_anisotropic_plan_pools_in_plane_until_the_voxel_is_near_isotropic():
    # ISBI 2012: 4 x 4 nm pixels, 50 nm sections
    pools, kernels = plan_anisotropy((50, 4, 4), 4)
    assert pools == [(1, 2, 2), (1, 2, 2), (1, 2, 2), (2, 2, 2)]
    assert kernels == [(1, 3, 3), (1, 3, 3), (1, 3, 3), (3, 3, 3), (3, 3, 3)]
    assert plan_anisotropy((1, 1, 1), 2) == ([(2, 2, 2)] * 2, [(3, 3, 3)] * 3)
    model = UNet(1, 2, 2, 4, "same", spatial_dims=3, pools=pools, kernels=kernels)
    assert model.grids == (2, 16, 16)
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 4, 32, 48)).shape == (1, 2, 4, 32, 48)
    valid = UNet(1, 2, 2, 2, "valid", spatial_dims=3, pools=[(1, 2, 2)] * 2,
                 kernels=[(1, 3, 3)] * 3)  # fmt: skip
    # z: neither pooled nor convolved, so any depth passes through unchanged
    assert valid.output_shape((5, 44, 44)) == (5, 4, 4)
    with torch.no_grad():
        assert valid(torch.zeros(1, 1, 5, 44, 44)).shape == (1, 2, 5, 4, 4)


@pytest.mark.parametrize("norm", ["batch_norm", "instance_norm"])
def test_inference_form_3d_equals_the_model(norm):
    torch.manual_seed(0)
    pools, kernels = plan_anisotropy((3, 1, 1), 2)
    model = UNet(1, 3, 4, 2, "same", spatial_dims=3, pools=pools, kernels=kernels, **{norm: True})
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    model.eval()
    x = torch.randn(2, 1, 8, 24, 24)
    with torch.no_grad():
        want = model(x).softmax(1)
        for fuse in (True, False):
            form = inference_form(model, fuse=fuse, memory_format=torch.channels_last_3d)
            got = form(x.contiguous(memory_format=torch.channels_last_3d)).softmax(1)
            assert torch.allclose(got, want, atol=1e-5)
        bf16 = inference_form(model, torch.bfloat16)(x.bfloat16()).float().softmax(1)
    assert (bf16 - want).abs().max() < 0.1


def test_3d_architecture_round_trips_through_a_model_file(tmp_path):
    pools, kernels = plan_anisotropy((50, 4, 4), 3)
    model = UNet(1, 2, 4, 3, "same", spatial_dims=3, pools=pools, kernels=kernels,
                 instance_norm=True)  # fmt: skip
    config = model.config
    assert config["spatial_dims"] == 3 and config["instance_norm"] is True
    assert config["pools"] == [[1, 2, 2], [1, 2, 2], [1, 2, 2]]
    check_architecture(config)
    path = save_model(model, tmp_path / "vol.safetensors")
    loaded = load_model(path, device="cpu")
    assert loaded.config == config and loaded.spatial_dims == 3
    x = torch.randn(1, 1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), model.eval()(x))
    # a 2-D network's card is as it was before volumes existed
    assert set(UNet(1, 2, 4, 2).config) == {"in_channels", "num_classes", "base_channels",
                                            "depth", "padding", "batch_norm", "dropout"}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"spatial_dims": 4}, "spatial_dims"),
        ({"spatial_dims": 3, "refine": 4, "padding": "same"}, "2-D networks"),
        ({"spatial_dims": 3, "drop_block": 0.1}, "2-D networks"),
        ({"spatial_dims": 3, "pools": [[2, 2]] * 2}, "pools must be 2 lists of 3"),
        ({"spatial_dims": 3, "kernels": [[5, 3, 3]] * 3}, "kernels must be"),
        ({"batch_norm": True, "instance_norm": True}, "exclude each other"),
    ],
)
def test_bad_3d_architectures_are_one_line_errors(entries, message):
    arch = {**UNet(1, 2, 4, 2).config, **entries}
    with pytest.raises(ValueError, match=message):
        check_architecture(arch)
    with pytest.raises(ValueError, match=message):
        build_model(arch)


def test_tiny_3d_network_learns_a_cube():
    # train-then-predict on one volume: a bright cube in noise
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    vol = rng.normal(0, 0.3, (16, 16, 16)).astype(np.float32)
    lab = np.zeros((16, 16, 16), np.int64)
    lab[4:12, 4:12, 4:12] = 1
    vol[lab == 1] += 1.0
    model = UNet(1, 2, 4, 2, "same", spatial_dims=3, batch_norm=True)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    x, y = torch.from_numpy(vol)[None, None], torch.from_numpy(lab)[None]
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = model.eval()(x).argmax(1)[0].numpy()
    assert (pred == lab).mean() > 0.95
