"""Overlap-tile inference."""

from .device import available_devices, resolve_device
from .predictor import Cancelled, Predictor, eval_mode, predict
from .tiling import TileGrid, make_grid, mirror_indices, plan_axis

__all__ = [
    "Cancelled",
    "Predictor",
    "TileGrid",
    "available_devices",
    "eval_mode",
    "make_grid",
    "mirror_indices",
    "plan_axis",
    "predict",
    "resolve_device",
]
