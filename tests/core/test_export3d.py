"""3-D models exported for other tools: ONNX and TorchScript of (N, C, D, H, W) volumes give the
PyTorch probabilities to 1e-4 at sizes other than the one exported; a bioimage.io package of a
3-D model (axes batch, channel, z, y, x; each spatial axis with the network's own sizes) passes
bioimageio.core's test, reads back as the model and segments a stack as the model does."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import tifffile
import torch

from unet_core import ModelCard, Preprocessing, save_model
from unet_core.cli import main
from unet_core.formats.onnx_torchscript import example_input, export_model
from unet_core.formats.probabilities import Probabilities
from unet_core.formats.store import load_model, read_card
from unet_core.model.build import build_model
from unet_core.model.geometry import plan_anisotropy


def tiny3d(padding: str = "same"):
    """Pooled in-plane first (z voxels 4 times longer), batch norm with statistics that are
    not the identity (same) or instance norm (valid), weights that make the output decide."""
    pools, kernels = plan_anisotropy((4, 1, 1), 2)
    norm = dict(batch_norm=True) if padding == "same" else dict(instance_norm=True)
    torch.manual_seed(0)
    model = build_model(dict(in_channels=1, base_channels=4 if padding == "same" else 2,
                             depth=2, padding=padding, spatial_dims=3,
                             pools=[list(p) for p in pools], kernels=[list(k) for k in kernels],
                             **norm)).eval()  # fmt: skip
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
        if isinstance(m, torch.nn.InstanceNorm3d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    for p in model.parameters():
        p.data.mul_(2.0)
    model.card = ModelCard(model.config, Preprocessing("gray"), ["background", "cell"], "tiny 3-D")
    return model


def reference(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return Probabilities(model).eval()(torch.from_numpy(x)).numpy()


def other_shape(model) -> tuple[int, ...]:
    """A valid volume shape, not cubic, unlike the one the graph was traced with."""
    more = zip(model.min_input_shape, (5, 19, 35))
    shape = tuple(model.valid_input_size(low + n, axis=a) for a, (low, n) in enumerate(more))
    traced = example_input(model).shape[2:]
    assert all(n != t for n, t in zip(shape, traced)), (shape, traced)
    return shape


def volume(shape, seed=1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_onnx_of_a_3d_model_gives_the_pytorch_probabilities(padding, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    import onnx

    model = tiny3d(padding)
    saved = save_model(model, tmp_path / "m.safetensors")
    assert main(["export", str(saved), "--to", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    assert "input (N, 1, D, H, W) float32, the volume" in capsys.readouterr().out
    graph = onnx.load(str(tmp_path / "m.onnx"))
    dims = [d.dim_param for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "", "depth", "height", "width"]
    meta = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(meta["napari_unet_card"])["architecture"] == model.config
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = volume((2, 1, *other_shape(model)))
    (out,) = session.run(None, {"input": x})
    expected = reference(model, x)
    assert out.shape == (2, 2, *model.output_shape(x.shape[2:])) == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-4)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_torchscript_of_a_3d_model_gives_the_pytorch_probabilities(padding, tmp_path):
    model = tiny3d(padding)
    path = export_model(model, tmp_path / "m.pt", "torchscript")
    extra = {"model_card.json": ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    x = volume((1, 1, *other_shape(model)), seed=2)
    with torch.no_grad():
        out = loaded(torch.from_numpy(x)).numpy()
    assert out.shape[2:] == model.output_shape(x.shape[2:])
    np.testing.assert_allclose(out, reference(model, x), atol=1e-4)
    assert json.loads(extra["model_card.json"])["architecture"]["spatial_dims"] == 3


@pytest.fixture
def bioimageio_core(tmp_path, monkeypatch):
    core = pytest.importorskip("bioimageio.core", reason="in the testing extra")
    monkeypatch.setenv("BIOIMAGEIO_CACHE_PATH", str(tmp_path / "bioimageio-cache"))
    return core


def _rdf(package) -> dict:
    import yaml

    with zipfile.ZipFile(package) as zf:
        return yaml.safe_load(zf.read("rdf.yaml"))


def _passes(core, package) -> None:
    summary = core.test_model(package)
    failed = [(d.name, d.errors) for d in summary.details if d.status == "failed"]
    assert summary.status == "passed", failed
    names = [d.name for d in summary.details]
    assert sum("Reproduce test outputs" in n for n in names) == 3, names
    assert sum("size parameter n: 2" in n for n in names) == 6, names  # 3 formats, 2 batches


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_a_3d_package_passes_bioimageio_test_and_runs_here_as_the_model(
    padding, tmp_path, bioimageio_core
):
    model = tiny3d(padding)
    saved = save_model(model, tmp_path / "m.safetensors")
    stack = tmp_path / "stack.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(stack, (rng.random((8, 20, 24)) * 255).astype(np.uint8))
    package = tmp_path / "m.zip"
    assert main(["export", str(saved), "--to", "bioimageio", "--out", str(package),
                 "--sample", str(stack)]) == 0  # fmt: skip
    rdf = _rdf(package)
    (inp,), (out,) = rdf["inputs"], rdf["outputs"]
    assert [a.get("id", a["type"]) for a in inp["axes"]] == ["batch", "channel", "z", "y", "x"]
    sizes = [{"min": low, "step": step} for low, step in zip(model.min_input_shape, model.grids)]
    assert [a["size"] for a in inp["axes"][2:]] == sizes
    assert [a["size"]["offset"] for a in out["axes"][2:]] == [-m for m in model.margins]
    assert "3d" in rdf["tags"] and "2d" not in rdf["tags"]
    with zipfile.ZipFile(package) as zf:
        test_in, test_out = (np.load(zf.open(f"test_{n}.npy")) for n in ("input", "output"))
    assert test_in.ndim == 5 and test_out.shape[:2] == (1, 2)
    assert test_out.shape[2:] == model.output_shape(test_in.shape[2:])
    assert test_out.shape[2:] == (8, 20, 24)  # the whole sample
    _passes(bioimageio_core, package)
    back = load_model(package, "cpu")
    assert back.config == model.config and read_card(package) == read_card(saved)
    assert all(torch.equal(v, back.state_dict()[k]) for k, v in model.state_dict().items())
    masks = []
    for source, name in ((saved, "a"), (package, "b")):
        assert main(["segment", str(stack), "--model", str(source), "--out",
                     str(tmp_path / name)]) == 0  # fmt: skip
        masks.append(tifffile.imread(tmp_path / name / "stack_mask.tif"))
    assert masks[0].shape == (8, 20, 24) and np.array_equal(*masks)
    assert len(np.unique(masks[0])) == 2


def test_what_a_3d_model_cannot_be_exported_with_is_said_in_one_line(tmp_path, capsys):
    pytest.importorskip("bioimageio.spec")
    from unet_core.formats.bioimageio_write import export_package

    model = tiny3d()
    with pytest.raises(ValueError, match="expected a volume") as info:
        export_package(model, tmp_path / "m.zip", np.zeros((64, 64), np.uint8))
    assert "\n" not in str(info.value) and not (tmp_path / "m.zip").exists()
    saved = save_model(model, tmp_path / "m.safetensors")
    assert main(["export", str(saved), "--to", "bioimageio", "--out",
                 str(tmp_path / "m.zip")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert "give --sample STACK" in err and "\n" not in err
    assert not (tmp_path / "m.zip").exists()
