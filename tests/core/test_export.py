"""Export for other tools: ONNX (run with onnxruntime) and TorchScript give the probabilities
of the PyTorch model to 1e-4, at sizes other than the one exported, with the card inside."""

import json

import numpy as np
import pytest
import torch

from unet_core import ModelCard, Preprocessing, save_model
from unet_core.cli import main
from unet_core.formats.onnx_torchscript import export_model
from unet_core.formats.probabilities import Probabilities
from unet_core.model.build import build_model


def tiny(padding="same", refine=0):
    torch.manual_seed(0)
    model = build_model(dict(in_channels=1, base_channels=4, depth=2, padding=padding,
                             batch_norm=True, refine=refine)).eval()  # fmt: skip
    for m in model.modules():  # batch norm statistics that are not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    model.card = ModelCard(model.config, Preprocessing("gray"), ["background", "cell"], "tiny")
    return model


def reference(model, x):
    with torch.no_grad():
        return Probabilities(model).eval()(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("padding, refine", [("same", 0), ("same", 4), ("valid", 0)])
def test_onnx_gives_the_pytorch_probabilities(tmp_path, padding, refine):
    ort = pytest.importorskip("onnxruntime")
    import onnx

    model = tiny(padding, refine)
    path = export_model(model, tmp_path / "m.onnx", "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    size = 92 if padding == "valid" else 96  # another size than the example exported
    x = np.random.default_rng(1).normal(size=(2, 1, size, size + 8 * (padding == "same")))
    x = x.astype(np.float32)
    (out,) = session.run(None, {"input": x})
    expected = reference(model, x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-4)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta["napari_unet_card"])["classes"] == ["background", "cell"]


def test_torchscript_gives_the_pytorch_probabilities(tmp_path):
    model = tiny("same", 4)
    path = export_model(model, tmp_path / "m.pt", "torchscript")
    extra = {"model_card.json": ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    x = np.random.default_rng(2).normal(size=(1, 1, 64, 128)).astype(np.float32)
    with torch.no_grad():
        out = loaded(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, reference(model, x), atol=1e-4)
    assert json.loads(extra["model_card.json"])["name"] == "tiny"


def test_the_export_command_writes_the_bundled_model_and_never_overwrites(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "em.onnx"
    assert main(["export", "em", "--to", "onnx", "--out", str(out)]) == 0
    assert "input (N, 1, H, W) float32" in capsys.readouterr().out and out.stat().st_size > 1e6
    assert main(["export", "em", "--to", "onnx", "--out", str(out)]) == 2
    assert "exists (use --overwrite" in capsys.readouterr().err
    model_file = save_model(tiny(), tmp_path / "t.safetensors")
    assert main(["export", str(model_file), "--to", "torchscript", "--out",
                 str(tmp_path / "t.pt")]) == 0  # fmt: skip


def test_every_format_holds_the_one_softmax_wrapper(tmp_path):
    """A bioimage.io package's one-file architecture is made of the modules the exporters use:
    its ``Probabilities(**architecture)`` builds the cascade and gives the same probabilities."""
    from unet_core.formats.bioimageio_architecture import CALLABLE, architecture_source

    model = tiny("same", 4)
    source = architecture_source()
    assert source.count("class Probabilities(") == 1 and CALLABLE == "Probabilities"
    (tmp_path / "unet.py").write_text(source, encoding="utf-8")
    namespace: dict = {}
    exec(compile(source, str(tmp_path / "unet.py"), "exec"), namespace)
    net = namespace[CALLABLE](**model.config).eval()
    net.load_state_dict({"net." + k: v for k, v in model.state_dict().items()})
    x = np.random.default_rng(3).normal(size=(1, 1, 32, 48)).astype(np.float32)
    with torch.no_grad():
        out = net(torch.from_numpy(x)).numpy()
    assert type(net.net).__name__ == "RefinedUNet"
    np.testing.assert_allclose(out, reference(model, x), atol=1e-6)
    model_before = {k: v.clone() for k, v in model.state_dict().items()}
    export_model(model, tmp_path / "m.pt", "torchscript")
    assert model.card.name == "tiny" and all(
        torch.equal(v, model_before[k]) for k, v in model.state_dict().items())
