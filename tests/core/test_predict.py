"""Overlap-tile prediction: exactness, blending, odd sizes, channels, TTA, progress."""

import numpy as np
import pytest
import torch

from unet_core import Cancelled, ModelCard, Predictor, Preprocessing, UNet, predict
from unet_core.base.arrays import read_window
from unet_core.data.preprocess import Normalizer


def whole_image_reference(model: UNet, image: np.ndarray, context: int) -> np.ndarray:
    """One forward pass over the whole mirror-padded image, cropped back to the image."""
    H, W = image.shape[:2]
    if model.padding == "valid":
        size = [model.valid_input_size(n + model.margin) for n in (H, W)]
    else:
        size = [-(-(n + 2 * context) // model.grid) * model.grid for n in (H, W)]
    window = read_window(image, -context, -context, *size)
    pre = model.card.preprocessing if model.card else Preprocessing()
    from unet_core.data.preprocess import select_channels

    x = Normalizer(pre).fit(image)(select_channels(window, pre.channels))
    with torch.no_grad():
        p = torch.softmax(model.eval()(torch.from_numpy(x)[None]), 1)[0].numpy()
    off = 0 if model.padding == "valid" else context
    return p[:, off : off + H, off : off + W]


@pytest.fixture
def valid_model():
    torch.manual_seed(0)
    return UNet(base_channels=4, depth=3, padding="valid")


@pytest.mark.parametrize("shape", [(150, 203), (37, 300), (1, 1), (5, 9)])
def test_tiled_equals_whole_image_for_valid_padding(valid_model, shape):
    rng = np.random.default_rng(1)
    image = rng.random(shape).astype(np.float32)
    predictor = Predictor(valid_model, tile=124, device="cpu")
    assert len(predictor.plan(shape)) > 1 or max(shape) < 40
    out = predictor(image)
    ref = whole_image_reference(valid_model, image, valid_model.margin // 2)
    assert out.shape == (2, *shape) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref, atol=1e-5)
    np.testing.assert_allclose(out.sum(0), 1.0, atol=1e-5)


def test_tiled_equals_whole_image_in_batches_and_multichannel():
    torch.manual_seed(0)
    model = UNet(in_channels=3, num_classes=3, base_channels=4, depth=2)
    image = np.random.default_rng(2).integers(0, 65535, (97, 61, 3), dtype=np.uint16)
    out = predict(model, image, tile=60, batch_size=3, device="cpu")
    np.testing.assert_allclose(
        out, whole_image_reference(model, image, model.margin // 2), atol=1e-5
    )


def test_same_padding_blends_seams_close_to_whole_image():
    torch.manual_seed(0)
    model = UNet(base_channels=8, depth=3, padding="same", batch_norm=True)
    with torch.no_grad():  # non-trivial batch-norm statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 2.0)
                m.running_mean.uniform_(-0.2, 0.2)
    yy, xx = np.mgrid[:300, :260]
    image = (np.sin(yy / 9.0) * np.cos(xx / 13.0) * 100 + 120).astype(np.uint8)
    blended = Predictor(model, tile=96, device="cpu")
    hard = Predictor(model, tile=96, device="cpu", overlap=0)
    assert len(blended.plan(image.shape)) > 4
    ref = whole_image_reference(model, image, blended.margin // 2)
    err_blend = np.abs(blended(image) - ref)
    err_hard = np.abs(hard(image) - ref)
    print(
        f"same padding vs whole: blended max {err_blend.max():.4f} mean {err_blend.mean():.5f};"
        f" hard seams max {err_hard.max():.4f} mean {err_hard.mean():.5f}"
    )
    assert err_blend.mean() < 0.01
    assert err_blend.mean() < err_hard.mean()


def test_default_tiles_of_the_trained_em_model_are_seamless():
    """The issue's limit: tiled probabilities within 0.05 of one untiled pass away from the
    image border, with the default context (a third of the receptive field, on the pooling
    grid); the previous default (16 px) was not. A single-tile image keeps 16 px of context."""
    from unet_core.data.io import read_image
    from unet_core.formats.store import load_model
    from unet_core.tasks import sample_path

    model = load_model("em", "cpu")
    crop = read_image(sample_path("em"))  # 256 x 256
    image = np.block([[crop, crop[:, ::-1]], [crop[::-1], crop[::-1, ::-1]]])  # 512 x 512
    tiled = Predictor(model, device="cpu", tile=384, precision="fp32")
    assert len(tiled.plan(image.shape)) > 1 and tiled.margin == 2 * 64  # capped by the tile
    one = Predictor(model, device="cpu", tile=4096, context=128, precision="fp32")
    ref, inner = one(image)[1], (slice(32, -32), slice(32, -32))
    seams = np.abs(tiled(image)[1] - ref)[inner].max()
    old = Predictor(model, device="cpu", tile=384, context=16, overlap=16, precision="fp32")
    before = np.abs(old(image)[1] - ref)[inner].max()
    print(f"tile 384: max difference {seams:.3f} (context 16: {before:.3f})")
    assert seams <= 0.05 < before
    whole = Predictor(model, device="cpu", precision="fp32").plan(image.shape)
    assert len(whole) == 1 and whole.context == model.grid


def test_tiles_are_not_larger_than_the_image_needs(valid_model):
    predictor = Predictor(valid_model, device="cpu")  # default tile from the memory budget
    grid = predictor.plan((50, 70))
    assert len(grid) == 1
    assert grid.tile_out[0] - 50 < valid_model.grid and grid.tile_out[1] - 70 < valid_model.grid


def test_a_tile_below_the_smallest_the_network_takes_is_said(caplog):
    """A tile asked for below the smallest the network takes runs on that smallest (mostly
    context, slow) and says so; one it takes says nothing."""
    model = UNet(1, 2, base_channels=4, depth=2, padding="same")
    smallest = Predictor(model, device="cpu", tile=3).tile
    assert smallest > 3 and "a tile of 3 px is below the smallest" in caplog.text
    assert f"tiles of {smallest} px" in caplog.text
    assert Predictor(model, device="cpu", tile=3).window.note.startswith("a tile of 3 px")
    caplog.clear()
    taken = Predictor(model, device="cpu", tile=4 * smallest)
    assert taken.tile <= 4 * smallest and taken.window.note == ""
    assert "below the smallest" not in caplog.text


def test_uint8_and_uint16_give_the_same_result(valid_model):
    image = np.random.default_rng(3).integers(0, 256, (64, 64)).astype(np.uint8)
    a = predict(valid_model, image, device="cpu")
    b = predict(valid_model, image.astype(np.uint16) * 257, device="cpu")
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_channel_modes_from_the_card():
    torch.manual_seed(0)
    model = UNet(in_channels=1, base_channels=4, depth=2)
    model.card = ModelCard(model.config, Preprocessing(channels="green"))
    rgb = np.random.default_rng(4).random((40, 50, 3)).astype(np.float32)
    np.testing.assert_allclose(
        predict(model, rgb, device="cpu"), predict(model, rgb[..., 1], device="cpu"), atol=1e-6
    )
    model.card = ModelCard(model.config, Preprocessing(channels="as_is"))
    with pytest.raises(ValueError, match="expects 1 channel"):
        predict(model, rgb, device="cpu")
    rgb_model = UNet(in_channels=3, base_channels=4, depth=2)
    rgb_model.card = ModelCard(rgb_model.config, Preprocessing(channels="rgb"))
    gray = rgb[..., 0]  # a grayscale photograph into a colour model: repeated into 3 channels
    np.testing.assert_allclose(
        predict(rgb_model, gray, device="cpu"),
        predict(rgb_model, np.stack([gray] * 3, axis=-1), device="cpu"),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="expects an RGB or grayscale image"):
        predict(rgb_model, rgb[..., :2], device="cpu")


@pytest.mark.parametrize("bad", [np.zeros((3, 40, 40, 2)), np.zeros(10), np.zeros((40, 40, 7))])
def test_bad_shapes_are_one_line_value_errors(valid_model, bad):
    with pytest.raises(ValueError, match="expected a 2-D image"):
        predict(valid_model, bad, device="cpu")


def test_nan_pixels_do_not_poison_the_output(valid_model):
    image = np.random.default_rng(5).random((60, 60)).astype(np.float32)
    image[10:20, 10:20] = np.nan
    out = predict(valid_model, image, device="cpu")
    assert np.isfinite(out).all()


def test_tta_is_invariant_to_flipping_the_input(valid_model):
    # 52 = one tile output exactly, so the mirrored window is symmetric
    image = np.random.default_rng(6).random((52, 52)).astype(np.float32)
    a = predict(valid_model, image, tta=True, device="cpu", tile=140)
    b = predict(valid_model, image[:, ::-1].copy(), tta=True, device="cpu", tile=140)
    np.testing.assert_allclose(a, b[:, :, ::-1], atol=1e-5)
    plain = predict(valid_model, image, device="cpu", tile=140)
    assert not np.allclose(a, plain, atol=1e-4)


def test_progress_reports_and_can_cancel(valid_model):
    image = np.zeros((200, 200), np.float32)
    calls = []
    predict(valid_model, image, tile=124, device="cpu", progress=lambda d, t: calls.append((d, t)))
    total = calls[-1][1]
    assert calls[0] == (0, total) and calls[-1] == (total, total) and total > 1
    seen = []

    def stop_after_two(done, total):
        seen.append(done)
        return done < 2

    with pytest.raises(Cancelled):
        predict(valid_model, image, tile=124, device="cpu", progress=stop_after_two)
    assert seen == [0, 1, 2]


def test_preallocated_output_and_training_flag_restored(valid_model, tmp_path):
    image = np.random.default_rng(7).random((80, 90)).astype(np.float32)
    out = np.lib.format.open_memmap(tmp_path / "p.npy", "w+", np.float32, (2, 80, 90))
    valid_model.train()
    result = predict(valid_model, image, device="cpu", out=out)
    assert result is out and valid_model.training
    np.testing.assert_allclose(out, predict(valid_model, image, device="cpu"), atol=1e-6)
    with pytest.raises(ValueError, match="out must be float32"):
        predict(valid_model, image, device="cpu", out=np.zeros((2, 80, 91), np.float32))


def test_the_callers_model_is_neither_moved_nor_changed(valid_model):
    """The predictor runs a copy (its inference form, channels-last on the CPU): the caller's
    weights keep their values, layout and device, and its card is not touched."""
    import copy

    before = copy.deepcopy(valid_model.state_dict())
    card = getattr(valid_model, "card", None)
    image = np.random.default_rng(8).random((90, 70)).astype(np.float32)
    Predictor(valid_model, device="cpu", precision="bf16")(image)
    for name, tensor in valid_model.state_dict().items():
        assert torch.equal(tensor, before[name]) and tensor.dtype == before[name].dtype, name
        assert tensor.is_contiguous() and tensor.device.type == "cpu", name
    assert getattr(valid_model, "card", None) is card


def test_device_choice():
    from unet_core.base.device import available_devices, resolve_device

    assert resolve_device("auto").type == available_devices()[0]
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="device must be one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            resolve_device("cuda")


def test_running_out_of_memory_retries_with_fewer_and_smaller_tiles(monkeypatch, caplog):
    """A forward pass that runs out of memory is tried again with half the batch, then half
    the tile, and says so; the result is that of the smaller tiles."""
    from unet_core import ModelCard
    from unet_core.inference.predictor import Predictor

    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="valid").eval()
    model.card = ModelCard(model.config)
    image = np.random.default_rng(0).random((150, 170)).astype(np.float32)
    big = Predictor(model, device="cpu", tile=140, batch_size=4)
    expected = Predictor(model, device="cpu", tile=70, batch_size=1)(image)
    import unet_core.inference.network as network

    real = network.inference_form

    def failing(check):  # the network's inference form, running out of memory when ``check``
        def form(*args, **kwargs):
            net = real(*args, **kwargs)

            def call(x):
                check(x)
                return net(x)

            return call

        return form

    def tight(x):  # memory for one tile of up to 100 px at a time
        if len(x) > 1 or x.shape[-1] > 100:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def always(x):
        raise RuntimeError("out of memory")

    def shape_error(x):
        raise RuntimeError("a shape error")

    monkeypatch.setattr(network, "inference_form", failing(tight))
    np.testing.assert_allclose(big(image), expected, atol=1e-5)
    assert "trying again with 2 tile(s) at a time" in caplog.text
    assert f"trying again with tiles of {model.valid_input_size(70, 'down')} px" in caplog.text
    monkeypatch.setattr(network, "inference_form", failing(always))
    with pytest.raises(MemoryError, match="out of memory even with one tile of"):
        Predictor(model, device="cpu", tile=70)(image)
    monkeypatch.setattr(network, "inference_form", failing(shape_error))
    with pytest.raises(RuntimeError, match="a shape error"):  # other errors are not retried
        Predictor(model, device="cpu", tile=140, batch_size=4)(image)
