"""Images in and out, and their preprocessing."""

from .io import IMAGE_SUFFIXES, ImageReadError, is_image_path, read_image, write_png, write_tiff
from .preprocess import Normalizer, preprocess, select_channels

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "Normalizer",
    "is_image_path",
    "preprocess",
    "read_image",
    "select_channels",
    "write_png",
    "write_tiff",
]
