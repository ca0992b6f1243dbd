"""How a network's sliding window is cut: tile edge, context, overlap and batch, from the
network's geometry, the device's memory budget and the seam policy (``benchmarks/seams.py``)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..base.arrays import Sizes, axes_of
from ..model.unet import UNet
from .window import SlidingWindow

#: Activation bytes per input pixel and base channel in inference (float32; measured ~25 on CPU).
BYTES_PER_PIXEL_PER_CHANNEL = 40
DEFAULT_BUDGET = {"cpu": 1 << 30, "mps": 2 << 30}

log = logging.getLogger(__name__)


def default_budget(device: torch.device) -> int:
    """Bytes of activations per batch: half the free memory of a GPU, a fixed amount elsewhere."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.5)
    return DEFAULT_BUDGET.get(device.type, 1 << 30)


def tile_bytes(model: UNet, edge: Sizes, tta: bool) -> int:
    """Activation bytes of one tile of ``edge`` px (once for every axis, or per axis)."""
    # a refiner runs after the first network has freed its activations: the wider one counts
    base = max(model.config["base_channels"], model.config.get("refine", 0))
    voxels = math.prod(axes_of(edge, model.spatial_dims))
    return voxels * base * BYTES_PER_PIXEL_PER_CHANNEL * (2 if tta else 1)


def seam_context(model: UNet, tile: int, overlap: int | None, axis: int = -1) -> tuple[int, int]:
    """(margin, overlap) along ``axis`` for tiled images: context of a third of the receptive
    field, in whole steps of the pooling grid so that every tile pools in phase with the image
    (benchmarks/seams.py: within 0.02 of an untiled pass for depth 4), and twice the grid of
    overlap, as far as a tile of ``tile`` px can spare them (at most a sixth of it as context,
    a twelfth as overlap; never less than the grid)."""
    g = model.grids[axis]
    seam = int(np.ceil(model.receptive_fields[axis] / 3 / g) * g)
    ctx = min(seam, max(g, tile // 6 // g * g))
    if overlap is None:
        overlap = min(2 * g, max(g, tile // 12 // g * g))
    return 2 * ctx, overlap


def accepted_edge(model: UNet, tile: int, margin: int, overlap: int, min_out: int,
                  axis: int = -1) -> int:  # fmt: skip
    """The input tile edge along ``axis`` the network takes at or below ``tile`` (never below
    the smallest tile with this margin and overlap)."""
    if tile < 1:
        raise ValueError(f"tile must be a positive number of pixels, got {tile}")
    if model.padding == "valid":
        return model.valid_input_size(tile, "down", axis)
    g = model.grids[axis]
    return max(min_out + margin + overlap, tile // g * g)


@dataclass(frozen=True)
class AxisWindow:
    """One axis of a sliding window: tile edge, margin, overlap, grid, smallest output, and
    (margin, overlap) where one tile covers the axis (None: as tiled)."""

    tile: int
    margin: int
    overlap: int
    grid: int
    min_out: int
    one_tile: tuple[int, int] | None

    def accept(self, model: UNet, axis: int, size: int) -> int:
        return accepted_edge(model, size, self.margin, self.overlap, self.min_out, axis)


def plan_axis_window(model: UNet, axis: int, wanted: int, context: int | None,
                     overlap: int | None) -> AxisWindow:  # fmt: skip
    """The sliding window along one spatial axis; see :class:`~.predictor.Predictor` for what
    ``context`` and ``overlap`` mean and their defaults."""
    g = model.grids[axis]
    one_tile = None
    if model.padding == "valid":
        min_out = model.output_size(model.min_input_shape[axis], axis)
        margin, overlap = model.margins[axis], min_out % g
    else:
        half = max(1, g // 2)
        ctx = g if context is None else int(np.ceil(context / half) * half)
        margin, min_out = 2 * ctx, g
        given_overlap = overlap
        overlap = g if overlap is None else int(np.ceil(overlap / g) * g)
        # where one tile covers the image, the defaults' seam context is not needed
        one_tile = (2 * g, g) if context is None else None
    edge = accepted_edge(model, wanted, margin, overlap, min_out, axis)
    if one_tile is not None:  # the default context: hide the seams between tiles
        margin, overlap = seam_context(model, edge, None if given_overlap is None else overlap,
                                       axis)  # fmt: skip
        edge = accepted_edge(model, wanted, margin, overlap, min_out, axis)
    return AxisWindow(edge, margin, overlap, g, min_out, one_tile)


def wanted_tile(model: UNet, tile: Sizes | None, budget: int, tta: bool) -> tuple[int, ...]:
    """The tile edge per axis asked for: ``tile``, or the largest whose activations fit the
    budget, as long along each axis as the pooling grid's share (a stack of thin sections gets
    a tile of few sections)."""
    nd = model.spatial_dims
    if tile is not None:
        return axes_of(tile, nd)
    voxels = budget / tile_bytes(model, 1, tta)
    if nd == 2:
        return (int(np.sqrt(voxels)),) * 2
    share = [g / max(model.grids) for g in model.grids]
    edge = (voxels / math.prod(share)) ** (1 / nd)
    return tuple(max(1, int(edge * r)) for r in share)


def collapse(values: list[int]) -> Sizes:
    """One size where every axis has the same, else a tuple (a 2-D window stays as it was)."""
    return values[0] if len(set(values)) == 1 else tuple(values)


def plan_window(
    model: UNet,
    device: torch.device,
    *,
    tile: Sizes | None,
    batch_size: int | None,
    tta: bool,
    context: int | None,
    overlap: int | None,
    memory_budget: int | None,
) -> SlidingWindow:
    """The sliding window for ``model`` on ``device``, over its 2 or 3 spatial axes; see
    :class:`~.predictor.Predictor` for what each argument means and its default."""
    budget = memory_budget or default_budget(device)
    wanted = wanted_tile(model, tile, budget, tta)
    axes = [plan_axis_window(model, a, w, context, overlap) for a, w in enumerate(wanted)]
    edges = [a.tile for a in axes]
    note = ""
    if tile is not None and any(e > w for e, w in zip(edges, wanted)):  # rounded up: said
        note = (f"a tile of {collapse(list(wanted))} px is below the smallest this network "
                f"takes: it runs on tiles of {collapse(edges)} px, mostly context, and slowly; "
                "without a tile (the default) it takes the largest that fits memory")
        log.warning(note)
    if batch_size is None:
        fits = budget // tile_bytes(model, tuple(edges), tta)
        batch_size = 1 if device.type == "cpu" else int(max(1, min(16, fits)))
    one = [a.one_tile for a in axes]
    one_tile = None if None in one else (collapse([o[0] for o in one]),
                                         collapse([o[1] for o in one]))  # fmt: skip

    def accept(size: Sizes) -> Sizes:
        sizes = axes_of(size, len(axes))
        return collapse([a.accept(model, i, s) for i, (a, s) in enumerate(zip(axes, sizes))])

    return SlidingWindow(tile=collapse(edges), margin=collapse([a.margin for a in axes]),
                         overlap=collapse([a.overlap for a in axes]),
                         grid=collapse([a.grid for a in axes]),
                         min_out=collapse([a.min_out for a in axes]), blend=model.padding == "same",
                         batch_size=batch_size, one_tile=one_tile, accept=accept,
                         note=note)  # fmt: skip
