"""The sliding window and the network call of a foreign network
(:class:`~unet_core.model.external.ExternalNetwork`): tiles of the sizes its package allows
(``min + k * step``, or exactly its fixed size), each with its halo (and whatever its output
lacks) as context cut from the tile, origins on its step, outputs blended where they overlap."""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
import torch

from ..base.arrays import Sizes, axes_of
from ..model.external import ExternalNetwork, TileRule
from .sizing import default_budget
from .window import SlidingWindow

#: activation bytes per input pixel assumed for a network whose width is not known
BYTES_PER_PIXEL = 64 * 40


def _axis(rule: TileRule, shrink: int, wanted: int, context: int | None,
          overlap: int | None) -> tuple[int, int, int, int, int]:  # fmt: skip
    """(tile, margin, overlap, grid, min_out) along one axis."""
    halo = rule.halo if context is None else max(rule.halo, int(context))
    margin = shrink + 2 * halo
    want = 0 if overlap is None else int(overlap)
    if rule.step <= 0:  # one size only
        tile = rule.min
        if tile - margin < 1:
            raise ValueError(f"the network's tile of {tile} px is no larger than its halo "
                             f"and margin ({margin} px): nothing of it can be kept")  # fmt: skip
        want = min(want, tile - margin - 1)
        return tile, margin, want, 1, tile - margin
    grid = rule.step
    want += (rule.min - margin - want) % grid  # tile = out + margin stays min + k * step
    least = max(wanted, margin + want + grid, rule.min)
    tile = rule.min + math.ceil((least - rule.min) / grid) * grid
    return tile, margin, want, grid, max(1, rule.min - margin)


def _collapse(values: list[int]) -> Sizes:
    return values[0] if len(set(values)) == 1 else tuple(values)


def plan_external_window(model: ExternalNetwork, device: torch.device, *, tile: Sizes | None,
                         batch_size: int | None, tta: bool, context: int | None,
                         overlap: int | None, memory_budget: int | None) -> SlidingWindow:
    """The sliding window of a foreign network; the arguments as :class:`~.predictor.
    Predictor` has them (``context``: input pixels of context per side at least, beyond the
    package's halo)."""
    budget = memory_budget or default_budget(device)
    per_tile = BYTES_PER_PIXEL * (2 if tta else 1)
    edge = int(np.sqrt(budget / per_tile))
    wanted = axes_of(tile, 2) if tile is not None else (edge, edge)
    axes = [_axis(r, s, w, context, overlap) for r, s, w in zip(model.rules, model.shrink,
                                                                 wanted)]  # fmt: skip
    tiles = [a[0] for a in axes]
    if tta and len(set(tiles)) != 1:
        raise ValueError("test-time augmentation rotates tiles, and this network's tiles are "
                         f"not square ({tiles[0]} x {tiles[1]} px): run it without TTA")
    if batch_size is None:
        fits = budget // (per_tile * math.prod(tiles))
        batch_size = 1 if device.type == "cpu" else int(max(1, min(16, fits)))

    def accept(size: Sizes) -> Sizes:
        sizes = axes_of(size, 2)
        return _collapse([_axis(r, sh, s, context, overlap)[0]
                          for r, sh, s in zip(model.rules, model.shrink, sizes)])  # fmt: skip

    return SlidingWindow(tile=_collapse(tiles), margin=_collapse([a[1] for a in axes]),
                         overlap=_collapse([a[2] for a in axes]),
                         grid=_collapse([a[3] for a in axes]),
                         min_out=_collapse([a[4] for a in axes]), blend=True,
                         batch_size=batch_size, accept=accept)  # fmt: skip


def external_form(model: ExternalNetwork, device: torch.device) -> torch.nn.Module:
    """The network as the window runs it: a copy in eval mode on ``device`` (one without
    weights, an ONNX session, runs as it is)."""
    if not any(True for _ in model.parameters()):
        return model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # copying a TorchScript module reads every .grad
        return copy.deepcopy(model).on(device)
