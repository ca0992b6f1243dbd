"""Multiscale image layers: the level to segment (a row shown only for them; default the full
resolution) and where a result made at that level goes, so that it lines up with the image."""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import ComboBox


def is_multiscale(layer) -> bool:
    return bool(getattr(layer, "multiscale", False))


class LevelPicker:
    """The "level" row: follows the chosen image layer; hidden for single-scale layers."""

    def __init__(self):
        self._layer = None
        self.choice = ComboBox(label="level", choices=self._choices, visible=False)

    def _choices(self, _=None) -> list[tuple[str, int]]:
        layer = self._layer
        if layer is None or not is_multiscale(layer):
            return [("0", 0)]
        names = []
        for i, level in enumerate(layer.data):
            h, w = level.shape[layer.ndim - 2 : layer.ndim]
            names.append((f"{i}: {h} x {w}" + (" (full resolution)" if i == 0 else ""), i))
        return names

    def follow(self, layer) -> None:
        """Offer the levels of ``layer`` (full resolution first) and choose the full one."""
        self._layer = layer
        self.choice.reset_choices()
        self.choice.value = 0
        self.choice.visible = layer is not None and is_multiscale(layer)

    def level(self, layer) -> int:
        if not is_multiscale(layer):
            return 0
        return min(int(self.choice.value or 0), len(layer.data) - 1)


def level_data(layer, level: int):
    """The pixels of ``layer`` at ``level`` (its data itself for a single-scale layer); lazy
    arrays (dask, zarr) stay lazy: the predictor reads them tile by tile."""
    return layer.data[level] if is_multiscale(layer) else layer.data


def level_scale(layer, level: int) -> np.ndarray:
    """The world scale of a layer that holds ``layer``'s pixels at ``level``."""
    if not is_multiscale(layer) or level == 0:
        return np.asarray(layer.scale, float)
    full, this = layer.data[0].shape[: layer.ndim], layer.data[level].shape[: layer.ndim]
    return np.asarray(layer.scale, float) * np.asarray(full, float) / np.asarray(this, float)


def result_shapes(layer, level: int) -> list[tuple[int, ...]]:
    """The shapes of a multiscale result made at ``level``: that level and the coarser ones,
    as the image's own pyramid has them (one shape for a single-scale layer)."""
    if not is_multiscale(layer):
        return [tuple(layer.data.shape[: layer.ndim])]
    return [tuple(d.shape[: layer.ndim]) for d in list(layer.data)[level:]]


def current_plane(viewer, layer, level: int) -> tuple[Any, tuple[int, ...]]:
    """The 2-D (or RGB) image of ``layer`` to segment, and its index in a stack (``()`` for
    2-D); of a multiscale layer, the chosen level. Lazy data (dask, zarr) is not read here: the
    predictor reads it tile by tile."""
    data = level_data(layer, level)
    lead = layer.ndim - 2
    if lead <= 0:
        return data, ()
    point = layer.world_to_data(viewer.dims.point)
    index = tuple(int(np.clip(round(p), 0, n - 1))
                  for p, n in zip(point[:lead], data.shape[:lead]))  # fmt: skip
    return data[index], index


def is_stack(layer) -> bool:
    """A (slices, H, W) image layer (RGB slices included), one level."""
    return layer is not None and layer.ndim == 3 and not is_multiscale(layer)
