"""How a network's sliding window is cut: tile edge, context, overlap and batch, from the
network's geometry, the device's memory budget and the seam policy (``benchmarks/seams.py``)."""

from __future__ import annotations

import numpy as np
import torch

from ..model.unet import UNet
from .window import SlidingWindow

#: Activation bytes per input pixel and base channel in inference (float32; measured ~25 on CPU).
BYTES_PER_PIXEL_PER_CHANNEL = 40
DEFAULT_BUDGET = {"cpu": 1 << 30, "mps": 2 << 30}


def default_budget(device: torch.device) -> int:
    """Bytes of activations per batch: half the free memory of a GPU, a fixed amount elsewhere."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.5)
    return DEFAULT_BUDGET.get(device.type, 1 << 30)


def tile_bytes(model: UNet, edge: int, tta: bool) -> int:
    """Activation bytes of one tile of ``edge`` px."""
    # a refiner runs after the first network has freed its activations: the wider one counts
    base = max(model.config["base_channels"], model.config.get("refine", 0))
    return edge * edge * base * BYTES_PER_PIXEL_PER_CHANNEL * (2 if tta else 1)


def seam_context(model: UNet, tile: int, overlap: int | None) -> tuple[int, int]:
    """(margin, overlap) for tiled images: context of a third of the receptive field, in whole
    steps of the pooling grid so that every tile pools in phase with the image
    (benchmarks/seams.py: within 0.02 of an untiled pass for depth 4), and twice the grid of
    overlap, as far as a tile of ``tile`` px can spare them (at most a sixth of it as context,
    a twelfth as overlap; never less than the grid)."""
    g = model.grid
    seam = int(np.ceil(model.receptive_field / 3 / g) * g)
    ctx = min(seam, max(g, tile // 6 // g * g))
    if overlap is None:
        overlap = min(2 * g, max(g, tile // 12 // g * g))
    return 2 * ctx, overlap


def accepted_edge(model: UNet, tile: int, margin: int, overlap: int, min_out: int) -> int:
    """The input tile edge the network takes at or below ``tile`` (never below the smallest
    tile with this margin and overlap)."""
    if tile < 1:
        raise ValueError(f"tile must be a positive number of pixels, got {tile}")
    if model.padding == "valid":
        return model.valid_input_size(tile, "down")
    return max(min_out + margin + overlap, tile // model.grid * model.grid)


def plan_window(
    model: UNet,
    device: torch.device,
    *,
    tile: int | None,
    batch_size: int | None,
    tta: bool,
    context: int | None,
    overlap: int | None,
    memory_budget: int | None,
) -> SlidingWindow:
    """The sliding window for ``model`` on ``device``; see :class:`~.predictor.Predictor` for
    what each argument means and its default."""
    g = model.grid
    one_tile = None
    if model.padding == "valid":
        margin, overlap = model.margin, model.receptive_overlap
        min_out = model.output_size(model.min_input_size)
    else:
        ctx = g if context is None else int(np.ceil(context / (g / 2)) * (g // 2))
        margin, min_out = 2 * ctx, g
        given_overlap = overlap
        overlap = g if overlap is None else int(np.ceil(overlap / g) * g)
        # where one tile covers the image, the defaults' seam context is not needed
        one_tile = (2 * g, g) if context is None else None
    budget = memory_budget or default_budget(device)
    wanted = tile if tile is not None else int(np.sqrt(budget / tile_bytes(model, 1, tta)))
    edge = accepted_edge(model, wanted, margin, overlap, min_out)
    if one_tile is not None:  # the default context: hide the seams between tiles
        margin, overlap = seam_context(model, edge, None if given_overlap is None else overlap)
        edge = accepted_edge(model, wanted, margin, overlap, min_out)
    if batch_size is None:
        fits = budget // tile_bytes(model, edge, tta)
        batch_size = 1 if device.type == "cpu" else int(max(1, min(16, fits)))

    def accept(size: int) -> int:
        return accepted_edge(model, size, margin, overlap, min_out)

    return SlidingWindow(tile=edge, margin=margin, overlap=overlap, grid=g, min_out=min_out,
                         blend=model.padding == "same", batch_size=batch_size,
                         one_tile=one_tile, accept=accept)  # fmt: skip
