"""Overlap-tile inference (imported lazily)."""

from .._lazy import lazy_exports

_EXPORTS = {
    "Predictor": ".predictor",
    "predict": ".predictor",
    "predict_bands": ".bands",
    "SlidingWindow": ".window",
    "TileGrid": ".tiling",
    "make_grid": ".tiling",
    "plan_axis": ".tiling",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
