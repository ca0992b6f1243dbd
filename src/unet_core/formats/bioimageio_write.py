"""Write a bioimage.io model package (format 0.5) of any model of this tool.

The package's input is the image as the model card's ``preprocessing.channels`` selects it (e.g.
the luminance of a fundus photograph), float32, (batch, channel, y, x), or a 3-D model's
volume, (batch, channel, z, y, x), each spatial axis with the sizes the network takes along it;
its preprocessing is the card's normalisation as a bioimage.io operation
(``zero_mean_unit_variance`` or ``scale_range`` per image and channel); its output is the class
probabilities, smaller than the input by the network's margin along each axis for the paper's
unpadded network. Three weight formats hold the same network: ``pytorch_state_dict`` (with the
one-file architecture of :mod:`.bioimageio_architecture`), ``torchscript`` and, when the
``onnx`` package is installed, ``onnx``. The test tensors and cover come from a sample image
(:mod:`.bioimageio_sample`).
The whole model card travels in ``config.napari_unet``, so that ``--model FILE.zip`` runs the
package exactly as the model file it came from (:mod:`.bioimageio_read`).

What a package cannot say: the automatic scale of a task (a fundus model expects photographs
whose field of view is as wide as the card's ``fov_diameter``) and the task's finishing steps;
the package's README says so.
"""

from __future__ import annotations

import copy
import getpass
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..base.files import atomic_write
from ..model.card import card_of
from ..model.unet import UNet
from .bioimageio_architecture import CALLABLE, STATE_PREFIX, architecture_source
from .bioimageio_describe import citations, readme, tags
from .bioimageio_sample import EPS, cover_image, package_input, probabilities
from .onnx_torchscript import OPSET, export_model

#: what a package records beside the bioimage.io fields (``config.napari_unet``)
CONFIG_KEY = "napari_unet"
#: the ids of the spatial axes of a package's tensors, per number of spatial axes
SPACE_AXES = {2: ("y", "x"), 3: ("z", "y", "x")}


def export_package(model: UNet, out: str | os.PathLike, sample: np.ndarray,
                   author: str = "") -> Path:  # fmt: skip
    """Write ``model`` as a bioimage.io package (a .zip) to ``out``, atomically. ``sample`` is
    an image the model is meant for (a (D, H, W[, C]) volume for a 3-D model): its centre (at
    the model's scale) becomes the test input and the cover. ValueError for a sample the model
    cannot take. ``model`` is not changed."""
    if card_of(model).preprocessing.local_contrast != "none":
        raise ValueError("bioimage.io has no preprocessing step for this model's local contrast "
                         "equalisation (CLAHE): export it as onnx or torchscript and equalise "
                         "the input first")  # fmt: skip
    model = copy.deepcopy(model).cpu().eval()  # a copy, on the CPU, that has a card
    model.card = card_of(model)
    test_input = package_input(model, sample)
    if not np.isfinite(test_input).all():
        raise ValueError("the sample image holds NaN or infinite pixels: the package's test "
                         "would be of NaN; give an image the model is meant for (--sample)")
    test_output = probabilities(model, test_input)
    if not np.isfinite(test_output).all():
        raise ValueError("the model's output on the sample image holds NaN: its weights or "
                         "the sample are not usable for a package")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="napari-unet-package-") as tmp:
        descr = _describe(model, Path(tmp), test_input, test_output, author)
        return atomic_write(out, lambda part: _save(descr, part))


def _preprocessing(model: UNet) -> list:
    from bioimageio.spec.model import v0_5 as bio

    pre = model.card.preprocessing
    axes = [bio.AxisId(a) for a in _axis_ids(model)]  # per image (volume) and channel
    if pre.normalize == "zscore":
        kwargs = bio.ZeroMeanUnitVarianceKwargs(axes=axes, eps=EPS)
        return [bio.ZeroMeanUnitVarianceDescr(kwargs=kwargs)]
    if pre.normalize == "percentile":
        low, high = pre.percentiles
        kwargs = bio.ScaleRangeKwargs(axes=axes, min_percentile=low, max_percentile=high, eps=EPS)
        return [bio.ScaleRangeDescr(kwargs=kwargs)]
    return []


def _input_names(model: UNet) -> list[str]:
    channels = model.card.preprocessing.channels
    if channels in ("gray", "green"):
        return [channels]
    if channels == "rgb":
        return ["red", "green", "blue"]
    return [f"channel{i}" for i in range(model.in_channels)]


def _tensors(model: UNet, folder: Path, test_input: np.ndarray, test_output: np.ndarray):
    import tifffile
    from bioimageio.spec.model import v0_5 as bio

    for name, array in (("input", test_input), ("output", test_output)):
        np.save(folder / f"test_{name}.npy", array)
        # for viewers (FAIR)
        tifffile.imwrite(folder / f"sample_{name}.tif", array, photometric="minisblack")
    in_axes, out_axes = _space_axes(model)
    kind = "volume" if model.spatial_dims == 3 else "image"
    inputs = bio.InputTensorDescr(
        id=bio.TensorId("input"),
        description=f"the {kind} as channels={model.card.preprocessing.channels} selects it, "
        "float32, at the scale the model was trained at",
        axes=[
            bio.BatchAxis(),
            bio.ChannelAxis(channel_names=_identifiers(_input_names(model))),
            *in_axes,
        ],  # fmt: skip
        test_tensor=bio.FileDescr(source=folder / "test_input.npy"),
        sample_tensor=bio.FileDescr(source=folder / "sample_input.tif"),
        data=bio.IntervalOrRatioDataDescr(type="float32"),
        preprocessing=_preprocessing(model),
    )
    margins, axes = model.margins, ", ".join(_axis_ids(model))
    smaller = (f"{margins[0]} px smaller" if len(set(margins)) == 1
               else f"{' x '.join(map(str, margins))} px smaller ({axes})")  # fmt: skip
    outputs = bio.OutputTensorDescr(
        id=bio.TensorId("probabilities"),
        description="class probabilities (softmax over the classes)"
        + (f"; the centre of the input, {smaller}" if any(margins) else ""),
        axes=[
            bio.BatchAxis(),
            bio.ChannelAxis(channel_names=_identifiers(model.card.classes)),
            *out_axes,
        ],  # fmt: skip
        test_tensor=bio.FileDescr(source=folder / "test_output.npy"),
        sample_tensor=bio.FileDescr(source=folder / "sample_output.tif"),
        data=bio.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
    )
    return [inputs], [outputs]


def _axis_ids(model: UNet) -> tuple[str, ...]:
    if model.spatial_dims not in SPACE_AXES:
        raise ValueError(f"a bioimage.io package takes 2-D or 3-D models, not "
                         f"{model.spatial_dims}-D")  # fmt: skip
    return SPACE_AXES[model.spatial_dims]


def _space_axes(model: UNet) -> tuple[list, list]:
    """The spatial axes of the input (each its own smallest size and step: the network's
    :attr:`~UNet.min_input_shape` and :attr:`~UNet.grids`) and of the output (the input's size
    less the network's margin along that axis)."""
    from bioimageio.spec.model import v0_5 as bio

    ids = _axis_ids(model)
    inputs = [bio.SpaceInputAxis(id=bio.AxisId(a), size=bio.ParameterizedSize(min=low, step=step))
              for a, low, step in zip(ids, model.min_input_shape, model.grids)]  # fmt: skip
    outputs = [bio.SpaceOutputAxis(id=bio.AxisId(a), size=bio.SizeReference(
                   tensor_id=bio.TensorId("input"), axis_id=bio.AxisId(a), offset=-margin))
               for a, margin in zip(ids, model.margins)]  # fmt: skip
    return inputs, outputs


def _identifiers(names: list[str]) -> list:
    import re

    from bioimageio.spec.model import v0_5 as bio

    return [bio.Identifier(re.sub(r"\W+", "_", n).strip("_") or f"c{i}")
            for i, n in enumerate(names)]  # fmt: skip


def _weights(model: UNet, folder: Path):
    from bioimageio.spec.model import v0_5 as bio

    version = bio.Version(torch.__version__.split("+")[0])
    (folder / "unet.py").write_text(architecture_source(), encoding="utf-8")
    state = {STATE_PREFIX + k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, folder / "weights.pt")
    arch = bio.ArchitectureFromFileDescr(source=folder / "unet.py", callable=CALLABLE,
                                         kwargs=model.config)  # fmt: skip
    entries = {
        "pytorch_state_dict": bio.PytorchStateDictWeightsDescr(
            source=folder / "weights.pt", architecture=arch, pytorch_version=version),
        "torchscript": bio.TorchscriptWeightsDescr(
            source=export_model(model, folder / "weights_torchscript.pt", "torchscript"),
            pytorch_version=version, parent="pytorch_state_dict"),
    }  # fmt: skip
    try:
        import onnx

        entries["onnx"] = bio.OnnxWeightsDescr(
            source=export_model(model, folder / "weights.onnx", "onnx"),
            opset_version=OPSET, parent="pytorch_state_dict")  # fmt: skip
        del onnx
    except ImportError:  # ONNX weights need the onnx package; the others are enough
        pass
    return bio.WeightsDescr(**entries)


def _cover(model: UNet, folder: Path, test_input: np.ndarray, test_output: np.ndarray) -> Path:
    from PIL import Image

    path = folder / "cover.png"
    Image.fromarray(cover_image(model, test_input, test_output)).save(path)
    return path


def _describe(model: UNet, folder: Path, test_input, test_output, author: str):
    from bioimageio.spec.model import v0_5 as bio

    card = model.card
    inputs, outputs = _tensors(model, folder, test_input, test_output)
    (folder / "README.md").write_text(readme(card), encoding="utf-8")
    return bio.ModelDescr(
        name=_name(card.name or "napari-unet model"),
        description=(card.description or f"U-Net segmentation ({card.task})")[:1000],
        authors=[bio.Author(name=author or _default_author())],
        cite=[bio.CiteEntry(text=text, doi=bio.Doi(doi)) for text, doi in citations(card)],
        license=bio.LicenseId("BSD-3-Clause"),
        documentation=bio.FileDescr(source=folder / "README.md"),
        covers=[bio.FileDescr(source=_cover(model, folder, test_input, test_output))],
        tags=tags(card),
        inputs=inputs,
        outputs=outputs,
        weights=_weights(model, folder),
        config={
            CONFIG_KEY: {"card": json.loads(card.to_json())},
            "bioimageio": {"architecture_type": "U-Net"},
        },  # fmt: skip
    )


def _name(text: str) -> str:
    import re

    name = re.sub(r"[^\w +\-()]", " ", text).strip()[:116]
    return name if len(name) >= 5 else f"napari-unet {name}".strip()


def _default_author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "napari-unet user"


def _save(descr, path: Path) -> None:
    from bioimageio.spec import save_bioimageio_package

    save_bioimageio_package(descr, output_path=path)
