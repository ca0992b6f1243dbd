"""The U-Net's shapes, geometry and the paper's numbers."""

import pytest
import torch

from unet_core import UNet
from unet_core.model.blocks import DoubleConv, center_crop
from unet_core.model.build import build_model
from unet_core.model.unet import RefinedUNet


def test_paper_configuration_maps_572_to_388():
    model = UNet()  # the paper: 1 channel in, 2 classes, base 64, depth 4, valid padding
    with torch.no_grad():
        out = model(torch.zeros(1, 1, 572, 572))
    assert out.shape == (1, 2, 388, 388)
    assert model.output_size(572) == 388
    assert model.margin == 184


def test_paper_layer_and_parameter_counts():
    model = UNet()
    assert model.num_conv_layers() == 23  # "In total the network has 23 convolutional layers."
    n = model.num_parameters()
    print(f"paper U-Net parameters: {n:,}")
    assert n == 31_030_658


@pytest.mark.parametrize(
    ("depth", "padding", "size", "expected"),
    [
        (1, "valid", 18, 2),
        (2, "valid", 44, 4),
        (3, "valid", 92, 4),
        (3, "valid", 100, 12),
        (4, "valid", 188, 4),
        (4, "valid", 572, 388),
        (5, "valid", 380, 4),
        (1, "same", 2, 2),
        (3, "same", 40, 40),
        (4, "same", 64, 64),
        (4, "same", 96, 96),
    ],
)
def test_shape_table(depth, padding, size, expected):
    model = UNet(in_channels=3, num_classes=3, base_channels=2, depth=depth, padding=padding)
    assert model.output_size(size) == expected
    with torch.no_grad():
        out = model(torch.zeros(2, 3, size, size + model.grid))
    assert out.shape == (2, 3, expected, model.output_size(size + model.grid))


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_valid_sizes_step_by_grid_and_margin_is_constant(depth):
    model = UNet(base_channels=2, depth=depth)
    smallest = model.min_input_size
    assert not model.is_valid_input_size(smallest - 1)
    valid = [s for s in range(smallest, smallest + 4 * model.grid) if model.is_valid_input_size(s)]
    assert valid == [smallest + k * model.grid for k in range(4)]
    assert {s - model.output_size(s) for s in valid} == {model.margin}


def test_valid_input_size_rounding():
    model = UNet(base_channels=2)
    assert model.valid_input_size(572) == 572
    assert model.valid_input_size(565) == 572
    assert model.valid_input_size(565, "down") == 556
    assert model.valid_input_size(563, "nearest") == 556
    assert model.valid_input_size(565, "nearest") == 572
    assert model.valid_input_size(5) == model.min_input_size == 188
    with pytest.raises(ValueError, match="not valid"):
        model.output_size(570)
    with pytest.raises(ValueError, match="rounding"):
        model.valid_input_size(100, "sideways")


def test_same_padding_needs_multiple_of_grid():
    model = UNet(base_channels=2, depth=3, padding="same", batch_norm=True)
    with pytest.raises(ValueError, match="multiple of 8"):
        model.output_size(20)
    assert model.margin == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(depth=0),
        dict(base_channels=0),
        dict(padding="full"),
        dict(dropout=1.0),
        dict(in_channels=1.5),
        dict(refine=-1),
        dict(refine=8, padding="valid"),
        dict(drop_block=1.0),
        dict(drop_block=-0.1),
    ],
)
def test_bad_arguments_are_value_errors(kwargs):
    with pytest.raises(ValueError):
        build_model(kwargs)


def test_config_rebuilds_the_architecture():
    model = UNet(
        in_channels=3,
        num_classes=4,
        base_channels=8,
        depth=3,
        padding="same",
        batch_norm=True,
        dropout=0.2,
    )
    clone = UNet(**model.config)
    assert [p.shape for p in clone.parameters()] == [p.shape for p in model.parameters()]


def test_he_normal_initialisation():
    torch.manual_seed(0)
    model = UNet(base_channels=32, depth=2)
    conv = model.inc[0]
    fan_in = conv.in_channels * 9
    assert conv.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.1)
    assert torch.all(conv.bias == 0)


def test_dropout_sits_at_the_end_of_the_contracting_path():
    model = UNet(base_channels=2, dropout=0.5)
    assert isinstance(model.dropout, torch.nn.Dropout2d)
    assert model.dropout.p == 0.5


def test_blocks():
    block = DoubleConv(3, 5, padding="valid", batch_norm=True)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in block) == 2
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    assert torch.equal(center_crop(x, (2, 2)), x[..., 2:4, 2:4])


def test_refiner_starts_as_identity_then_corrects_the_first_pass(tmp_path):
    from unet_core import load_model, save_model

    torch.manual_seed(0)
    model = RefinedUNet(3, 2, base_channels=4, depth=4, padding="same", batch_norm=True,
                        refine=4)  # fmt: skip
    plain = UNet(3, 2, base_channels=4, depth=4, padding="same", batch_norm=True)
    assert model.config["refine"] == 4 and "refine" not in plain.config
    assert model.refiner.depth == 3 and model.refiner.in_channels == 3 + 2
    x = torch.randn(2, 3, 48, 64)
    model.eval()
    refined, first = model(x, aux=True)
    assert refined.shape == first.shape == (2, 2, 48, 64)
    torch.testing.assert_close(refined, first)  # zero output layer: identity at the start
    torch.nn.init.normal_(model.refiner.head.weight)
    refined, first = model(x, aux=True)
    assert not torch.allclose(refined, first)
    torch.testing.assert_close(model(x), refined)
    loaded = load_model(save_model(model, tmp_path / "w"), device="cpu")
    torch.testing.assert_close(loaded(x), refined)


def test_drop_block_drops_blocks_while_training_only(tmp_path):
    from unet_core import load_model, save_model
    from unet_core.model.blocks import DropBlock

    torch.manual_seed(0)
    block = DropBlock(0.2, size=7)
    x = torch.ones(8, 4, 64, 64)
    out = block.train()(x)
    dropped = out == 0
    assert 0.15 < dropped.float().mean() < 0.25  # about p of each map
    assert torch.allclose(out.mean(), torch.tensor(1.0))  # the rest rescaled: mean kept
    # dropped pixels come in blocks: a dropped pixel's neighbours are mostly dropped too
    assert (dropped[..., 1:, :] & dropped[..., :-1, :]).sum() > 0.8 * dropped.sum()
    assert torch.equal(block.eval()(x), x)
    for edge in (1, 2, 4, 6):  # maps smaller than the block: the block shrinks to fit
        small = block.train()(torch.ones(2, 3, edge, edge))
        assert small.shape == (2, 3, edge, edge) and torch.isfinite(small).all()
    with pytest.raises(ValueError):
        DropBlock(0.1, size=4)

    model = UNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True, drop_block=0.1)
    plain = UNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True)
    assert model.config["drop_block"] == 0.1 and "drop_block" not in plain.config
    assert sum(isinstance(m, DropBlock) for m in model.modules()) == 2 * (1 + 2 + 2)
    assert not any(isinstance(m, DropBlock) for m in plain.modules())
    x = torch.randn(2, 1, 32, 32)
    model.eval()
    torch.testing.assert_close(model(x), model(x))  # deterministic at inference
    loaded = load_model(save_model(model, tmp_path / "w"), device="cpu")
    torch.testing.assert_close(loaded(x), model(x))


def test_unet_is_always_a_unet_and_build_model_picks_the_network():
    with pytest.raises(TypeError):
        UNet(padding="same", refine=4)  # a cascade is built as one, never behind UNet's back
    arch = dict(base_channels=4, depth=2, padding="same", refine=4)
    cascade = build_model(arch)
    assert type(cascade) is RefinedUNet and cascade.config["refine"] == 4
    assert type(build_model(cascade.config)) is RefinedUNet
    plain = build_model({**arch, "refine": 0})
    assert type(plain) is UNet and "refine" not in plain.config
    assert type(build_model(plain.config)) is UNet
