"""The U-Net model, its blocks and its model card."""

from .blocks import DoubleConv, Down, Up, center_crop
from .card import ModelCard, Preprocessing
from .unet import UNet

__all__ = ["DoubleConv", "Down", "ModelCard", "Preprocessing", "UNet", "Up", "center_crop"]
