"""The patch a network trains on: input and output edges it accepts, per axis for a volume."""

from __future__ import annotations

from ..base.arrays import Sizes
from ..model.external import ExternalNetwork
from ..model.unet import UNet


def patch_sizes(model: UNet, patch: int) -> tuple[Sizes, Sizes]:
    """(input, output) patch edges the network accepts, the input no larger than ``patch``;
    per axis for a 3-D network (:func:`volume_patch`)."""
    if isinstance(model, ExternalNetwork):  # a foreign network: the sizes its package allows
        return model.patch(patch)
    if model.spatial_dims == 3:
        return volume_patch(model, patch)
    if model.padding == "valid":
        size = model.valid_input_size(patch, "down")
        return size, model.output_size(size)
    size = max(model.grid, patch // model.grid * model.grid)
    return size, size


def volume_patch(model: UNet, patch: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(input, output) patch shapes of a 3-D network: ``patch`` in-plane, and along z as many
    slices as the pooling grid's share (a stack of thin sections is seen a few slices deep)."""
    sizes_in, sizes_out = [], []
    for axis, g in enumerate(model.grids):
        edge = max(g, round(patch * g / max(model.grids)))
        if model.padding == "valid":
            n = model.valid_input_size(edge, "up" if axis == 0 else "down", axis)
            sizes_in.append(n)
            sizes_out.append(model.output_size(n, axis))
        else:
            sizes_in.append(max(g, edge // g * g))
            sizes_out.append(sizes_in[-1])
    return tuple(sizes_in), tuple(sizes_out)
