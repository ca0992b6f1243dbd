"""Models other tools can run: ONNX (onnxruntime, OpenVINO, Fiji's and QuPath's ONNX runners)
and TorchScript (deepImageJ, DJL, C++).

The exported graph maps the *preprocessed* image, (N, in_channels, H, W) float32 as the model
card's ``preprocessing`` says (e.g. a photograph's luminance, z-scored per image), to the
(N, classes, H, W) class probabilities (:class:`~.probabilities.Probabilities`); H and W are
free (for padded networks any multiple of ``2**depth``; the paper's network gives a smaller
output, as here).
A 3-D model's graph maps (N, in_channels, D, H, W) volumes the same way, D, H and W free (each
a valid size along its axis: ``model.grids``, ``model.min_input_shape``).
The card travels with the file: in the ONNX model's metadata (``napari_unet_card``) and in the
TorchScript archive's extra file ``model_card.json``.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import torch

from ..base.files import atomic_write
from ..model.card import card_of
from ..model.unet import UNet
from .probabilities import Probabilities

FORMATS = ("onnx", "torchscript")
OPSET = 17
#: the edge of the example input the graph is traced with, per number of spatial axes (a
#: volume's is smaller: tracing runs the network a few times, and 32**3 voxels are half of
#: 256**2 pixels); along each axis at least two steps of the network's grid
EXAMPLE_EDGE = {2: 256, 3: 32}
#: the names of the free axes of the input and output, per number of spatial axes
FREE_AXES = {2: ("batch", None, "height", "width"), 3: ("batch", None, "depth", "height", "width")}


def example_input(model: UNet, edge: int | None = None) -> torch.Tensor:
    """A (1, C, S, S) input (a (1, C, D, H, W) volume for a 3-D model) of a size the network
    takes along each axis, the valid size at or above ``edge`` (and two steps of its grid)."""
    nd = model.spatial_dims
    if nd not in EXAMPLE_EDGE:
        raise ValueError(f"ONNX and TorchScript export takes 2-D or 3-D models, not {nd}-D")
    edge = edge or EXAMPLE_EDGE[nd]
    shape = (model.valid_input_size(max(edge, 2 * g), axis=a) for a, g in enumerate(model.grids))
    return torch.zeros(1, model.in_channels, *shape)


def export_model(model: UNet, out: str | os.PathLike, to: str = "onnx") -> Path:
    """Write ``model`` (a copy on the CPU, in eval mode; ``model`` is not changed) as ``to``
    ("onnx" or "torchscript") to ``out``, atomically; ValueError for another format."""
    if to not in FORMATS:
        raise ValueError(f"--to must be one of {', '.join(FORMATS)}, got {to!r}")
    card = card_of(model).to_json()
    net = Probabilities(copy.deepcopy(model).cpu().eval()).eval()
    x = example_input(model)
    if to == "torchscript":
        extra = {"model_card.json": card}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes; TorchScript's deprecation notice
            traced = torch.jit.freeze(torch.jit.trace(net, x))
            return atomic_write(out, lambda tmp: torch.jit.save(traced, str(tmp),
                                                                _extra_files=extra))  # fmt: skip
    return atomic_write(out, lambda tmp: _onnx(net, x, tmp, card))


def _onnx(net: torch.nn.Module, x: torch.Tensor, path: Path, card: str) -> None:
    import onnx

    free = {i: name for i, name in enumerate(FREE_AXES[x.dim() - 2]) if name}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        torch.onnx.export(net, (x,), str(path), input_names=["input"],
                          output_names=["probabilities"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"input": free, "probabilities": free})  # fmt: skip
    graph = onnx.load(str(path))
    graph.metadata_props.add(key="napari_unet_card", value=card)
    onnx.save(graph, str(path))
