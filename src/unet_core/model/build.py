"""A network from a model card's architecture: the one place that picks the class, so that
``UNet(...)`` is always a plain U-Net and a file names the network it needs."""

from __future__ import annotations

import inspect
from typing import Any

from .arguments import check_arguments
from .resnet import ResNetUNet, check_encoder
from .unet import RefinedUNet, UNet


def build_model(architecture: dict[str, Any]) -> UNet:
    """The network a model card's ``architecture`` describes (a model's ``config``): a
    :class:`~.resnet.ResNetUNet` when it names an ``encoder``, a :class:`RefinedUNet` when it
    names a refiner (``refine`` > 0), else a :class:`UNet`. ValueError for an argument the
    network cannot be built with."""
    arch = dict(architecture)
    if arch.get("encoder"):
        return ResNetUNet(**arch)
    arch.pop("encoder", None)
    if arch.get("refine"):
        return RefinedUNet(**arch)
    arch.pop("refine", None)
    return UNet(**arch)


def check_architecture(architecture: dict[str, Any]) -> None:
    """A one-line ValueError unless ``build_model(architecture)`` is a network this tool
    builds: known entries of the right types, within the limits of ``model.arguments.LIMITS``."""
    params = inspect.signature(UNet.__init__).parameters
    defaults = {k: p.default for k, p in params.items() if k != "self"}
    defaults["refine"] = 0  # a plain U-Net unless the architecture names a refiner
    defaults["encoder"] = ""  # a U-Net's own contracting path unless it names an encoder
    unknown = sorted(set(architecture) - set(defaults))
    if unknown:
        raise ValueError(f"unknown architecture entries {unknown}")
    arch = {**defaults, **architecture}
    encoder = arch.pop("encoder")
    if encoder:
        own = set(inspect.signature(ResNetUNet.__init__).parameters)
        check_encoder(encoder, {k: v for k, v in architecture.items() if k not in own})
    check_arguments(**arch)
