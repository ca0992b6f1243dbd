"""The U-Net model, its blocks and its model card (imported lazily)."""

from .._lazy import lazy_exports

_EXPORTS = {
    "DoubleConv": ".blocks",
    "Down": ".blocks",
    "Up": ".blocks",
    "center_crop": ".blocks",
    "build_model": ".build",
    "card_of": ".card",
    "check_architecture": ".build",
    "ModelCard": ".card",
    "Preprocessing": ".card",
    "RefinedUNet": ".unet",
    "UNet": ".unet",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
