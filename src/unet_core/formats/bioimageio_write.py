"""Write a bioimage.io model package (format 0.5) of any model of this tool.

The package's input is the image as the model card's ``preprocessing.channels`` selects it (e.g.
the green channel of a fundus photograph), float32, (batch, channel, y, x); its preprocessing is
the card's normalisation as a bioimage.io operation (``zero_mean_unit_variance`` or
``scale_range`` per image and channel); its output is the class probabilities. Three weight
formats hold the same network: ``pytorch_state_dict`` (with the one-file architecture of
:mod:`.bioimageio_architecture`), ``torchscript`` and, when the ``onnx`` package is installed,
``onnx``.
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
from .onnx_torchscript import OPSET, export_model
from .probabilities import Probabilities

#: what a package records beside the bioimage.io fields (``config.napari_unet``)
CONFIG_KEY = "napari_unet"
#: the edge of the test input (the nearest size the network takes)
TEST_EDGE = 256
EPS = 1e-6  # bioimage.io's default epsilon of its normalisations


def export_package(model: UNet, out: str | os.PathLike, sample: np.ndarray,
                   author: str = "") -> Path:  # fmt: skip
    """Write ``model`` as a bioimage.io package (a .zip) to ``out``, atomically. ``sample`` is
    an image the model is meant for: its centre (at the model's scale) becomes the test input
    and the cover. ValueError for a sample the model cannot take. ``model`` is not changed."""
    if card_of(model).preprocessing.local_contrast != "none":
        raise ValueError("bioimage.io has no preprocessing step for this model's local contrast "
                         "equalisation (CLAHE): export it as onnx or torchscript and equalise "
                         "the input first")  # fmt: skip
    model = copy.deepcopy(model).cpu().eval()  # a copy, on the CPU, that has a card
    model.card = card_of(model)
    test_input = test_image(model, sample)
    if not np.isfinite(test_input).all():
        raise ValueError("the sample image holds NaN or infinite pixels: the package's test "
                         "would be of NaN; give an image the model is meant for (--sample)")
    with torch.no_grad():
        test_output = probabilities(model, test_input)
    if not np.isfinite(test_output).all():
        raise ValueError("the model's output on the sample image holds NaN: its weights or "
                         "the sample are not usable for a package")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="napari-unet-package-") as tmp:
        descr = _describe(model, Path(tmp), test_input, test_output, author)
        return atomic_write(out, lambda part: _save(descr, part))


def test_image(model: UNet, sample: np.ndarray) -> np.ndarray:
    """(1, in_channels, S, S) float32: the centre of ``sample`` as the package's input takes it
    (channels selected, at the model's scale), S the valid size nearest :data:`TEST_EDGE`."""
    from ..base.arrays import resize
    from ..data.preprocess import check_channels, select_channels
    from ..tasks import task_of

    image = np.asarray(sample)
    pre = model.card.preprocessing
    check_channels(image, pre.channels, model.in_channels)
    factor = task_of(model.card).scale_for(image, model.card)
    if abs(factor - 1.0) >= 0.02:  # as the predictor does
        image = resize(image, tuple(max(1, round(n * factor)) for n in image.shape[:2]))
    x = select_channels(image, pre.channels).astype(np.float32)
    edge = model.valid_input_size(TEST_EDGE)
    pad = [(0, 0)] + [(max(0, (edge - n + 1) // 2),) * 2 for n in x.shape[1:]]
    x = np.pad(x, pad, mode="reflect") if any(p[0] for p in pad) else x
    y0, x0 = ((n - edge) // 2 for n in x.shape[1:])
    return np.ascontiguousarray(x[None, :, y0 : y0 + edge, x0 : x0 + edge])


def normalized(model: UNet, x: np.ndarray) -> np.ndarray:
    """``x`` (N, C, H, W) normalised as the package's preprocessing does it (per sample and
    channel, bioimage.io's formulas)."""
    pre = model.card.preprocessing
    axes = (2, 3)
    if pre.normalize == "zscore":
        mean, std = x.mean(axis=axes, keepdims=True), x.std(axis=axes, keepdims=True)
        return ((x - mean) / (std + EPS)).astype(np.float32)
    if pre.normalize == "percentile":
        lo, hi = np.percentile(x, pre.percentiles, axis=axes, keepdims=True)
        return ((x - lo) / (hi - lo + EPS)).astype(np.float32)
    return x.astype(np.float32)


def probabilities(model: UNet, x: np.ndarray) -> np.ndarray:
    """The class probabilities the package's weights give for the raw input ``x``."""
    net = Probabilities(model)
    return net(torch.from_numpy(normalized(model, x))).numpy().astype(np.float32)


def _preprocessing(model: UNet) -> list:
    from bioimageio.spec.model import v0_5 as bio

    pre = model.card.preprocessing
    axes = [bio.AxisId("y"), bio.AxisId("x")]
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
    size = bio.ParameterizedSize(min=model.min_input_size, step=model.grid)
    inputs = bio.InputTensorDescr(
        id=bio.TensorId("input"),
        description=f"the image as channels={model.card.preprocessing.channels} selects it, "
        "float32, at the scale the model was trained at",
        axes=[
            bio.BatchAxis(),
            bio.ChannelAxis(channel_names=_identifiers(_input_names(model))),
            bio.SpaceInputAxis(id=bio.AxisId("y"), size=size),
            bio.SpaceInputAxis(id=bio.AxisId("x"), size=size),
        ],  # fmt: skip
        test_tensor=bio.FileDescr(source=folder / "test_input.npy"),
        sample_tensor=bio.FileDescr(source=folder / "sample_input.tif"),
        data=bio.IntervalOrRatioDataDescr(type="float32"),
        preprocessing=_preprocessing(model),
    )
    out_axes = [
        bio.SpaceOutputAxis(id=bio.AxisId(a), size=bio.SizeReference(
            tensor_id=bio.TensorId("input"), axis_id=bio.AxisId(a), offset=-model.margin))
        for a in ("y", "x")
    ]  # fmt: skip
    outputs = bio.OutputTensorDescr(
        id=bio.TensorId("probabilities"),
        description="class probabilities (softmax over the classes)"
        + (f"; the centre of the input, {model.margin} px smaller" if model.margin else ""),
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

    from ..overlay import overlay, to_uint8_rgb
    from ..postprocess import probabilities_to_labels

    image = np.moveaxis(test_input[0], 0, -1)
    image = image[..., 0] if image.shape[-1] != 3 else image
    labels = probabilities_to_labels(test_output[0], 0.5)
    m = model.margin // 2
    if m:
        image = image[m:-m, m:-m]
    side = np.concatenate([to_uint8_rgb(image), overlay(image, labels)], axis=1)
    path = folder / "cover.png"
    Image.fromarray(side).save(path)
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
