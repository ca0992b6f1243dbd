"""Batch-norm statistics that follow the user's images (Li et al. 2016, "AdaBN").

A network's running means and variances describe the images it was trained on; on another
camera or stain they are wrong even where the weights are right. Re-estimating them on the new
images with a few forward passes, no labels needed, moves the network most of the way there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..model.unet import UNet

_BN = torch.nn.modules.batchnorm._BatchNorm
#: a volume is seen through a central crop of at most this many voxels a side
VOLUME_EDGE = 96


def batchnorm_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if isinstance(m, _BN) and m.track_running_stats]


def _crop(image: np.ndarray, model: UNet, edge: int) -> np.ndarray:
    """The central crop of a (C, H, W) image (or (C, D, H, W) volume), at most ``edge`` wide,
    that the network accepts (mirror-padded up to the smallest accepted size where the image
    is smaller)."""
    out = []
    for axis, n in enumerate(image.shape[1:]):
        if model.padding == "valid":
            out.append(model.valid_input_size(min(n, edge), "down", axis))
        else:
            g = model.grids[axis]
            out.append(max(g, min(n, edge) // g * g))
    pads = [(0, 0)] + [(0, max(0, o - n)) for o, n in zip(out, image.shape[1:])]
    image = np.pad(image, pads, mode="reflect") if any(p[1] for p in pads) else image
    box = tuple(slice((n - o) // 2, (n - o) // 2 + o) for n, o in zip(image.shape[1:], out))
    return np.ascontiguousarray(image[(slice(None), *box)])


@torch.no_grad()
def recalibrate_batchnorm(
    model: UNet, images: Sequence[np.ndarray], device: torch.device | str = "cpu",
    edge: int = 512,
) -> None:  # fmt: skip
    """Replace the running statistics of ``model``'s batch-norm layers by those of ``images``
    (normalised (C, H, W) float32, each seen through a central crop of at most ``edge`` px).

    Weights are unchanged; the model is left in eval mode. No-op without batch norm."""
    layers = batchnorm_layers(model)
    if not layers or not len(images):
        return
    momenta = [m.momentum for m in layers]
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes
        m.train()
    edge = edge if model.spatial_dims == 2 else min(edge, VOLUME_EDGE)
    try:
        for image in images:
            x = torch.from_numpy(_crop(np.asarray(image, np.float32), model, edge))[None]
            model(x.to(device))
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        model.eval()
