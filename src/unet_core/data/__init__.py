"""Images in and out, their preprocessing, augmentation and data sets (imported lazily)."""

from .._lazy import lazy_exports

_EXPORTS = {
    "IMAGE_SUFFIXES": ".io",
    "ImageReadError": ".io",
    "is_image_path": ".io",
    "read_image": ".io",
    "read_mask": ".io",
    "write_mask": ".io",
    "write_png": ".io",
    "write_tiff": ".io",
    "Normalizer": ".preprocess",
    "preprocess": ".preprocess",
    "select_channels": ".preprocess",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
