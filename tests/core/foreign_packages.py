"""bioimage.io packages of other architectures than this tool's U-Net, written here with plain
yaml and zipfile (as another tool would), for tests/core/test_foreign.py and the plugin's
Segment test: a dilated convolution net in TorchScript with a format 0.5 description, an ONNX
net without padding with a 0.4 description, and a state dict of a network only its own code
builds."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

RADIUS = 3  # the dilated net's receptive field: 7 x 7


class Dilated(nn.Module):
    """Not a U-Net: three convolutions, the second dilated, padded with zeros."""

    def __init__(self, cin: int = 1, cout: int = 1):
        super().__init__()
        self.a = nn.Conv2d(cin, 6, 3, padding=1)
        self.b = nn.Conv2d(6, 6, 3, padding=2, dilation=2)
        self.c = nn.Conv2d(6, cout, 1)

    def forward(self, x):
        return self.c(torch.relu(self.b(torch.relu(self.a(x)))))


class Valid(nn.Module):
    """Not a U-Net: unpadded convolutions (the output is 8 px smaller), then a softmax over
    three classes; takes and gives (B, H, W, C), channels last."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 4, 5)
        self.b = nn.Conv2d(4, 3, 5)

    def forward(self, x):
        x = x.permute(0, 3, 1, 2)
        return torch.softmax(self.b(torch.tanh(self.a(x))), dim=1).permute(0, 2, 3, 1)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _write(path: Path, rdf: dict, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("rdf.yaml", yaml.safe_dump(rdf, sort_keys=False))
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _common(name: str, version: str) -> dict:
    return {"format_version": version, "type": "model", "name": name,
            "description": f"{name}: a test network of another tool",
            "authors": [{"name": "Another Tool"}], "cite": [{"text": "A test", "url":
            "https://example.org"}], "license": "MIT", "documentation": "README.md",
            "tags": ["segmentation"]}  # fmt: skip


def zmuv(x: np.ndarray) -> np.ndarray:
    """The 0.5 package's preprocessing: zero mean, unit variance over y and x."""
    x = x.astype(np.float64)
    return ((x - x.mean()) / (x.std() + 1e-6)).astype(np.float32)


def torchscript_package(path: Path, seed: int = 0, scripted: bool = True,
                        channels: tuple[str, ...] = ("nucleus",),
                        post=("sigmoid",), fixed: int = 0,
                        inputs: tuple[str, ...] = ("gray",)) -> Path:  # fmt: skip
    """A 0.5 package: the dilated net in TorchScript (scripted: its weights take gradients),
    zero_mean_unit_variance, a sigmoid, sizes 16 + 8k, a halo of RADIUS + 1."""
    torch.manual_seed(seed)
    net = Dilated(len(inputs), len(channels)).eval()
    module = torch.jit.script(net) if scripted else torch.jit.freeze(torch.jit.script(net))
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    weights = buffer.getvalue()
    edge = fixed or 48
    test_in = np.random.default_rng(seed).normal(5, 2, (1, len(inputs), edge, edge))
    test_in = test_in.astype(np.float32)
    with torch.no_grad():
        test_out = net(torch.from_numpy(zmuv(test_in)))
        test_out = torch.sigmoid(test_out) if "sigmoid" in post else test_out
    size = fixed or {"min": 16, "step": 8}  # one size only, or 16 + 8k
    space = [{"type": "space", "id": a, "size": yaml.safe_load(yaml.safe_dump(size))}
             for a in "yx"]  # a copy each: yaml would write one object twice as an alias
    out_space = [{"type": "space", "id": a, "size": {"tensor_id": "raw", "axis_id": a},
                  "halo": RADIUS + 1} for a in "yx"]  # fmt: skip
    rdf = {**_common("Dilated nuclei test", "0.5.4"),
           "inputs": [{"id": "raw", "axes": [{"type": "batch"}, {"type": "channel",
                       "channel_names": list(inputs)}, *space], "data": {"type": "float32"},
                       "test_tensor": {"source": "test_input.npy",
                                       "sha256": _sha(_npy(test_in))},
                       "preprocessing": [{"id": "zero_mean_unit_variance",
                                          "kwargs": {"axes": ["y", "x"]}}]}],
           "outputs": [{"id": "prob", "axes": [{"type": "batch"}, {"type": "channel",
                        "channel_names": list(channels)}, *out_space],
                        "data": {"type": "float32"},
                        "test_tensor": {"source": "test_output.npy",
                                        "sha256": _sha(_npy(test_out.numpy()))},
                        "postprocessing": [{"id": p} for p in post]}],
           "weights": {"torchscript": {"source": "weights.pt", "sha256": _sha(weights),
                                       "pytorch_version": "2.0"}}}  # fmt: skip
    return _write(path, rdf, {"weights.pt": weights, "README.md": b"# test\n",
                              "test_input.npy": _npy(test_in),
                              "test_output.npy": _npy(test_out.numpy())})  # fmt: skip


def scale_range(x: np.ndarray, low: float = 5, high: float = 95) -> np.ndarray:
    """The 0.4 package's preprocessing: percentiles 5 and 95 to 0 and 1."""
    lo, hi = np.percentile(x.astype(np.float64), [low, high])
    return ((x - lo) / (hi - lo + 1e-6)).astype(np.float32)


def onnx_package(path: Path, seed: int = 1) -> Path:
    """A 0.4 package: the unpadded net in ONNX, axes "byxc" in and out, scale_range
    with percentiles 5 and 95, sizes 32 + 16k, output 8 px smaller, halo 2."""
    torch.manual_seed(seed)
    net = Valid().eval()
    buffer = io.BytesIO()
    x = torch.zeros(1, 48, 48, 1)
    free = {0: "b", 1: "h", 2: "w"}
    torch.onnx.export(net, (x,), buffer, input_names=["input0"], output_names=["output0"],
                      opset_version=17, dynamo=False,
                      dynamic_axes={"input0": free, "output0": free})
    weights = buffer.getvalue()
    test_in = np.random.default_rng(seed).uniform(0, 255, (1, 48, 48, 1)).astype(np.float32)
    with torch.no_grad():
        test_out = net(torch.from_numpy(scale_range(test_in))).numpy()
    rdf = {**_common("Valid three class test", "0.4.10"), "timestamp": "2024-01-01T00:00:00",
           "test_inputs": ["test_input.npy"], "test_outputs": ["test_output.npy"],
           "inputs": [{"name": "input0", "axes": "byxc", "data_type": "float32",
                       "data_range": [0.0, 255.0],
                       "shape": {"min": [1, 32, 32, 1], "step": [0, 16, 16, 0]},
                       "preprocessing": [{"name": "scale_range", "kwargs": {
                           "mode": "per_sample", "axes": "xy", "min_percentile": 5,
                           "max_percentile": 95}}]}],
           "outputs": [{"name": "output0", "axes": "byxc", "data_type": "float32",
                        "shape": {"reference_tensor": "input0", "scale": [1, 1, 1, 0],
                                  "offset": [0, -4, -4, 1.5]}, "halo": [0, 2, 2, 0]}],
           "weights": {"onnx": {"source": "weights.onnx", "sha256": _sha(weights),
                                "opset_version": 17}}}  # fmt: skip
    return _write(path, rdf, {"weights.onnx": weights, "README.md": b"# test\n",
                              "test_input.npy": _npy(test_in),
                              "test_output.npy": _npy(test_out)})  # fmt: skip


def state_dict_package(path: Path) -> Path:
    """A 0.5 package whose only weights are a state dict of its own network's code."""
    buffer = io.BytesIO()
    torch.save(Dilated().state_dict(), buffer)
    rdf = yaml.safe_load(yaml.safe_dump(_common("State dict test", "0.5.4")))
    rdf["inputs"] = [{"id": "raw", "axes": [{"type": "batch"}, {"type": "channel",
                      "channel_names": ["gray"]}, {"type": "space", "id": "y", "size": 32},
                      {"type": "space", "id": "x", "size": 32}], "data": {"type": "float32"},
                      "test_tensor": {"source": "t.npy"}}]  # fmt: skip
    rdf["outputs"] = [{"id": "out", "axes": [{"type": "batch"}, {"type": "channel",
                       "channel_names": ["fg"]}, {"type": "space", "id": "y", "size": 32},
                       {"type": "space", "id": "x", "size": 32}], "data": {"type": "float32"},
                       "test_tensor": {"source": "t.npy"}}]  # fmt: skip
    rdf["weights"] = {"pytorch_state_dict": {"source": "weights.pt", "sha256":
                      _sha(buffer.getvalue()), "architecture": {"source": "net.py",
                      "callable": "Dilated"}, "pytorch_version": "2.0"}}  # fmt: skip
    return _write(path, rdf, {"weights.pt": buffer.getvalue(), "net.py": b"import os\n",
                              "README.md": b"# test\n", "t.npy": _npy(np.zeros((1, 1, 32, 32),
                              np.float32))})  # fmt: skip
