"""Overlap-tile inference (imported lazily)."""

from .._lazy import lazy_exports

_EXPORTS = {
    "available_devices": ".device",
    "resolve_device": ".device",
    "Cancelled": ".predictor",
    "Predictor": ".predictor",
    "eval_mode": ".predictor",
    "predict": ".predictor",
    "TileGrid": ".tiling",
    "make_grid": ".tiling",
    "mirror_indices": ".tiling",
    "plan_axis": ".tiling",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
