"""The ResNet-encoder U-Net: its geometry answered by the model (sizes, receptive field), the
same model through every format (model file, ONNX, TorchScript, bioimage.io), the inference
form, the predictor's tiling, and ImageNet weights from a file (a fake one made here)."""

import numpy as np
import pytest
import tifffile
import torch
from torch import nn

from unet_core import ModelCard, Predictor, Preprocessing, load_model, save_model
from unet_core.cli import main
from unet_core.formats.onnx_torchscript import export_model
from unet_core.formats.probabilities import Probabilities
from unet_core.model.build import build_model, check_architecture
from unet_core.model.fused import inference_form
from unet_core.model.resnet import ENCODERS, ResNetEncoder, ResNetUNet
from unet_core.model.resnet_weights import load_imagenet


def resnet(encoder="resnet18", in_channels=1, num_classes=2, seed=0) -> ResNetUNet:
    """A small-decoder ResNet U-Net whose batch norms are not the identity (as after
    training), with a card."""
    torch.manual_seed(seed)
    model = build_model(dict(in_channels=in_channels, num_classes=num_classes, base_channels=4,
                             encoder=encoder)).eval()  # fmt: skip
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    channels = "gray" if in_channels == 1 else "rgb"
    classes = ["background", *(f"class {i}" for i in range(1, num_classes))]
    model.card = ModelCard(model.config, Preprocessing(channels), classes, f"tiny {encoder}")
    return model


def probabilities(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return Probabilities(model).eval()(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_geometry_is_the_models_own(encoder):
    model = build_model(dict(in_channels=3, num_classes=3, base_channels=2, encoder=encoder))
    assert isinstance(model, ResNetUNet) and model.config["encoder"] == encoder
    assert model.grid == 32 and model.min_input_shape == (32, 32) and model.margins == (0, 0)
    assert model.output_shape((64, 96)) == (64, 96)
    assert model.valid_input_size(100) == 128 and model.valid_input_size(100, "down") == 96
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 96))
        feats = model.features(torch.zeros(1, 3, 64, 96))
    assert out.shape == (1, 3, 64, 96) and feats.shape == (1, 2, 64, 96)
    rebuilt = build_model(model.config)
    assert type(rebuilt) is ResNetUNet and rebuilt.config == model.config


def test_receptive_field_bounds_what_reaches_an_output_pixel():
    """The gradient of the centre output pixel reaches no input pixel farther than half the
    receptive field the model states (and does reach most of that far)."""
    model = build_model(dict(in_channels=1, num_classes=2, base_channels=8, encoder="resnet18"))
    model.eval()
    rf = model.receptive_field
    size = 640
    x = torch.randn(1, 1, size, size, generator=torch.Generator().manual_seed(0))
    x.requires_grad_()
    model.features(x)[0, :, size // 2, size // 2].sum().backward()
    rows = np.nonzero(x.grad[0, 0].abs().sum(1).numpy())[0]
    extent = rows.max() - rows.min() + 1
    assert extent <= rf and extent > rf * 0.6, (extent, rf)


def test_architectures_it_cannot_be_are_refused_in_one_line():
    base = dict(in_channels=1, num_classes=2, encoder="resnet34")
    check_architecture(base)
    for wrong, words in [(dict(depth=4), "cannot take ['depth']"),
                         (dict(padding="valid"), "cannot take ['padding']"),
                         (dict(refine=4), "cannot take ['refine']"),
                         (dict(encoder="resnet101"), "encoder must be one of")]:  # fmt: skip
        with pytest.raises(ValueError, match=r"^[^\n]*$") as err:
            check_architecture({**base, **wrong})
        assert words in str(err.value)
        with pytest.raises(ValueError):
            build_model({**base, **wrong})


def test_model_file_round_trip_and_inference_form(tmp_path):
    model = resnet("resnet34", in_channels=3, num_classes=3)
    path = save_model(model, tmp_path / "r34.safetensors")
    loaded = load_model(path, device="cpu")
    assert type(loaded) is ResNetUNet and loaded.config == model.config
    x = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    np.testing.assert_allclose(probabilities(loaded, x), probabilities(model, x), atol=1e-6)
    net = inference_form(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    with torch.no_grad():
        got, want = net(torch.from_numpy(x)), model(torch.from_numpy(x))
    torch.testing.assert_close(got, want, atol=1e-3, rtol=1e-3)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # untouched
    assert main(["info", str(path)]) == 0


def test_predictor_tiles_an_image_of_any_size_like_one_pass():
    model = resnet("resnet18")
    image = (np.random.default_rng(1).random((150, 200)) * 255).astype(np.uint8)
    whole = Predictor(model, device="cpu", tile=256)(image)
    tiled = Predictor(model, device="cpu", tile=96, overlap=32)(image)
    assert whole.shape == tiled.shape == (2, 150, 200)
    np.testing.assert_allclose(whole.sum(0), 1, atol=1e-5)
    # tiles of 96 px see less context than one pass: close, not equal, far from the edges
    assert np.abs(whole - tiled).mean() < 0.05


def test_onnx_and_torchscript_give_the_pytorch_probabilities(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = resnet("resnet18", in_channels=3, num_classes=3)
    x = np.random.default_rng(2).normal(size=(1, 3, 96, 128)).astype(np.float32)
    session = ort.InferenceSession(str(export_model(model, tmp_path / "m.onnx", "onnx")),
                                   providers=["CPUExecutionProvider"])  # fmt: skip
    (out,) = session.run(None, {"input": x})
    np.testing.assert_allclose(out, probabilities(model, x), atol=1e-4)
    scripted = torch.jit.load(str(export_model(model, tmp_path / "m.pt", "torchscript")))
    with torch.no_grad():
        out = scripted(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, probabilities(model, x), atol=1e-4)


def test_bioimageio_package_passes_its_test_and_segments_as_the_model(tmp_path, monkeypatch):
    core = pytest.importorskip("bioimageio.core", reason="bioimageio.core: the testing extra")
    monkeypatch.setenv("BIOIMAGEIO_CACHE_PATH", str(tmp_path / "cache"))
    model = resnet("resnet18")
    for p in model.parameters():  # an untrained net's output is near uniform: make it decide
        p.data.mul_(1.5)
    path = save_model(model, tmp_path / "r18.safetensors")
    image = (np.random.default_rng(0).random((120, 100)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "cells.tif", image)
    package = tmp_path / "r18.zip"
    assert main(["export", str(path), "--to", "bioimageio", "--out", str(package),
                 "--sample", str(tmp_path / "cells.tif")]) == 0  # fmt: skip
    summary = core.test_model(package, weight_format="pytorch_state_dict", devices=["cpu"])
    assert summary.status == "passed", [d.errors for d in summary.details if d.errors]
    masks = []
    for name, model_ref in (("a", path), ("b", package)):
        assert main(["segment", str(tmp_path / "cells.tif"), "--model", str(model_ref),
                     "--out", str(tmp_path / name)]) == 0  # fmt: skip
        masks.append(tifffile.imread(tmp_path / name / "cells_mask.tif"))
    assert np.array_equal(*masks)


def imagenet_file(tmp_path, encoder: str):
    """A file shaped as torchvision's ImageNet ResNet: the encoder's keys, plus ``fc``."""
    torch.manual_seed(5)
    state = dict(ResNetEncoder(3, encoder).state_dict())
    width = 2048 if ENCODERS[encoder][1] else 512
    state.update({"fc.weight": torch.randn(1000, width), "fc.bias": torch.zeros(1000)})
    path = tmp_path / f"{encoder}-imagenet.pth"
    torch.save(state, path)
    return path, state


def test_imagenet_weights_load_from_a_file_and_gray_sums_the_rgb_filters(tmp_path):
    path, state = imagenet_file(tmp_path, "resnet34")
    gray, rgb = resnet("resnet34"), resnet("resnet34", in_channels=3)
    assert load_imagenet(rgb, path) == ["fc.weight", "fc.bias"]
    assert torch.equal(rgb.encoder.layer3[2].conv2.weight, state["layer3.2.conv2.weight"])
    load_imagenet(gray, path)
    torch.testing.assert_close(gray.encoder.conv1.weight, state["conv1.weight"].sum(1, True))
    # a gray pixel gives the response the RGB filters gave that colour
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(gray.encoder.conv1(x), rgb.encoder.conv1(x.repeat(1, 3, 1, 1)))


def test_a_wrong_imagenet_file_is_refused_in_one_line_and_changes_nothing(tmp_path):
    path, _ = imagenet_file(tmp_path, "resnet18")
    model = resnet("resnet34")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"does not fit a resnet34 encoder: .* missing"):
        load_imagenet(model, path)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    bottleneck, _ = imagenet_file(tmp_path, "resnet50")
    with pytest.raises(ValueError, match="of another shape|unknown"):
        load_imagenet(model, bottleneck)

    class Code:  # a pickle that would run code: refused by the weights_only loader
        def __reduce__(self):
            return (print, ("ran",))

    torch.save({"conv1.weight": Code()}, tmp_path / "code.pth")
    with pytest.raises(ValueError, match="not a file of plain PyTorch weights"):
        load_imagenet(model, tmp_path / "code.pth")


@pytest.mark.parametrize("arch", [
    dict(padding="same", batch_norm=True, base_channels=4, depth=2),
    dict(padding="same", batch_norm=True, base_channels=4, depth=2, refine=4),
    dict(base_channels=4, encoder="resnet18"),
    dict(padding="valid", base_channels=4, depth=2),
])  # fmt: skip
def test_a_class_added_keeps_the_old_classes_predictions(arch):
    from unet_core.model.widen import with_classes

    torch.manual_seed(0)
    model = build_model(dict(in_channels=1, num_classes=2, **arch)).eval()
    wider = with_classes(model, 3).eval()
    assert wider.num_classes == 3 and type(wider) is type(model)
    size = 92 if arch.get("padding") == "valid" else 64
    x = torch.randn(2, 1, size, size)
    with torch.no_grad():
        before, after = model(x).softmax(1), wider(x).softmax(1)
    assert (after[:, :2] - before).abs().max() < 0.01 and after[:, 2].max() < 0.01
    assert model.num_classes == 2  # the model itself untouched
    with pytest.raises(ValueError, match="can be given more classes, not fewer"):
        with_classes(wider, 2)


def test_a_resnet_unet_fine_tunes_and_answers_live():
    """The loop's two learners on a ResNet U-Net: a fine-tuning round changes its weights (the
    model itself untouched), and the live head reads its decoder's last features."""
    from unet_core import finetune
    from unet_core.base.labels import IGNORE_LABEL
    from unet_core.loop.live import LiveHead, image_features

    model = resnet("resnet18")
    rng = np.random.default_rng(0)
    image = rng.normal(50, 10, (96, 96)).astype(np.float32)
    labels = np.full((96, 96), IGNORE_LABEL, np.int64)
    image[20:50, 20:50] += 120
    labels[25:45, 25:45], labels[60:90, 60:90] = 1, 0
    before = {k: v.clone() for k, v in model.state_dict().items()}
    new = finetune(model, image, labels, steps=3, seed=0, device="cpu", patch=64,
                   ignore_label=IGNORE_LABEL,
                   batch_size=2)  # fmt: skip
    assert type(new) is ResNetUNet and new.config == model.config
    assert any(not torch.equal(v, new.state_dict()[k]) for k, v in before.items()
               if v.is_floating_point())  # fmt: skip
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    features = image_features(model, image)
    assert features.values.shape[0] >= 4 and features.shape == image.shape
    head = LiveHead(model, features)
    assert head.predict().shape == (2, 96, 96)
