"""``napari-unet export``: a model for other tools, as ONNX, TorchScript or a bioimage.io
package (for bioimageio.core, deepImageJ, ilastik, QuPath and the BioImage Model Zoo)."""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("onnx", "torchscript", "bioimageio")


def add_export_parser(sub, path_type) -> argparse.ArgumentParser:
    ex = sub.add_parser(
        "export",
        help="write a model for other tools (ONNX, TorchScript, a bioimage.io package)",
        description="napari-unet export drive --to bioimageio --out drive.zip. A package runs "
        "in bioimageio.core, deepImageJ and ilastik, and here as --model drive.zip.",
    )
    ex.add_argument("model", help="bundled model name, model file or package")
    ex.add_argument("--to", choices=FORMATS, default="onnx", help="format (default: onnx)")
    ex.add_argument("--out", required=True, type=path_type, help="file to write")
    ex.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    pkg = ex.add_argument_group("bioimage.io packages")
    pkg.add_argument("--sample", type=Path, metavar="IMAGE",
                     help="an image the model is meant for (a TIFF stack for a 3-D model): its "
                     "centre becomes the package's test input and cover (default: the sample "
                     "of the model's kind)")  # fmt: skip
    pkg.add_argument("--author", default="", help="the package's author (default: your login)")
    ex.set_defaults(func=cmd_export)
    return ex


def cmd_export(args: argparse.Namespace) -> int:
    from .formats.store import load_model
    from .model.external import ExternalNetwork

    if args.out.exists() and not args.overwrite:
        raise ValueError(f"{args.out} exists (use --overwrite to replace it)")
    _needs(args.to)
    if args.to == "bioimageio" and args.out.suffix.lower() != ".zip":
        raise ValueError(f"a bioimage.io package is a .zip file, got --out {args.out}")
    model = load_model(args.model, device="cpu")
    if isinstance(model, ExternalNetwork):  # a network of another tool (a package)
        raise ValueError(f"{args.model} is a bioimage.io package of another tool: napari-unet "
                         "exports its own U-Nets; a fine-tuned version of this network is "
                         "saved as a package (docs/other-models.md)")  # fmt: skip
    if args.to == "bioimageio":
        from .data.io import read_image
        from .formats.bioimageio_write import export_package

        sample = _sample(args, model.card.task, model.spatial_dims)
        path = export_package(model, args.out, read_image(sample), author=args.author)
        print(f"wrote {path}: a bioimage.io model package (format 0.5; test it with "
              f"'bioimageio test {path}')")  # fmt: skip
        return 0
    from .formats.onnx_torchscript import export_model

    path = export_model(model, args.out, args.to)
    pre = model.card.preprocessing
    axes, kind = ("D, H, W", "volume") if model.spatial_dims == 3 else ("H, W", "image")
    print(
        f"wrote {path}: input (N, {model.in_channels}, {axes}) float32, the {kind} as "
        f"channels={pre.channels}, normalize={pre.normalize}; output class probabilities"
    )
    return 0


def _needs(to: str) -> None:
    """A one-line error, before any work, when the format's package is not installed."""
    import importlib.util

    need = {
        "onnx": ("onnx", "onnx"),
        "bioimageio": ("bioimageio.spec", "'napari-paint-unet[bioimageio]'"),
    }
    module, extra = need.get(to, (None, None))
    if module and importlib.util.find_spec(module.split(".")[0]) is None:
        raise ValueError(f"--to {to} needs the {module} package: pip install {extra}")


def _sample(args: argparse.Namespace, task: str, spatial_dims: int) -> Path:
    from .tasks import sample_path

    if args.sample:
        return args.sample
    if spatial_dims == 3:  # the bundled samples are 2-D images
        raise ValueError("no bundled sample volume for a 3-D model: give --sample STACK, a "
                         "TIFF stack the model is meant for")  # fmt: skip
    try:
        return sample_path(task)
    except FileNotFoundError:
        raise ValueError(
            f"no bundled sample for a {task} model: give --sample IMAGE, an image "
            "the model is meant for"
        ) from None
