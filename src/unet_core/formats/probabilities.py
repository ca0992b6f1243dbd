"""The one network every exported format holds: the U-Net followed by the softmax over
classes. ONNX and TorchScript export it (:mod:`.onnx_torchscript`), and a bioimage.io
package's one-file architecture (:mod:`.bioimageio_architecture`) holds this module's text."""

from __future__ import annotations

import torch
from torch import nn

from ..model.build import build_model
from ..model.unet import UNet


class Probabilities(nn.Module):
    """Class probabilities (N, classes, H', W'), or (N, classes, D', H', W') of a 3-D U-Net:
    the softmax of the U-Net's logits.

    ``Probabilities(net)`` wraps a network; ``Probabilities(**architecture)`` builds one from
    a model card's architecture (``build_model``), as a bioimage.io consumer does.
    """

    def __init__(self, net: UNet | None = None, **architecture):
        super().__init__()
        self.net = net if net is not None else build_model(architecture)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)
