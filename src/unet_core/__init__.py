"""unet_core: a from-scratch U-Net (Ronneberger et al. 2015) with overlap-tile inference.

Napari-free and Qt-free: usable from Python and from the ``napari-unet`` command line.
"""

from .data.io import ImageReadError, read_image, write_tiff
from .inference.predictor import Cancelled, Predictor, predict
from .model.card import ModelCard, Preprocessing
from .model.store import ModelFileError, bundled_models, load_model, read_card, save_model
from .model.unet import UNet

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "ImageReadError",
    "ModelCard",
    "ModelFileError",
    "Predictor",
    "Preprocessing",
    "UNet",
    "bundled_models",
    "load_model",
    "predict",
    "read_card",
    "read_image",
    "save_model",
    "write_tiff",
]
