"""unet_core: a from-scratch U-Net (Ronneberger et al. 2015) with overlap-tile inference.

Napari-free and Qt-free: usable from Python and from the ``napari-unet`` command line.
Attributes are imported on first use, so ``import unet_core`` does not import torch.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Cancelled": ".base.jobs",
    "Predictor": ".inference.predictor",
    "predict": ".inference.predictor",
    "ImageReadError": ".data.io",
    "read_image": ".data.io",
    "read_mask": ".data.io",
    "write_mask": ".data.io",
    "write_tiff": ".data.io",
    "ModelCard": ".model.card",
    "Preprocessing": ".model.card",
    "ModelFileError": ".formats.checks",
    "bundled_models": ".formats.store",
    "load_model": ".formats.store",
    "read_card": ".formats.store",
    "save_model": ".formats.safetensors_file",
    "UNet": ".model.unet",
    "evaluate_model": ".evaluate",
    "TrainConfig": ".training.config",
    "finetune": ".training.finetune",
    "iter_finetune": ".training.finetune",
    "Trainer": ".training.trainer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """An exported name, imported on first use (PEP 562): ``import unet_core`` stays cheap, and
    torch is imported only when something that needs it is first used."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(_EXPORTS)
