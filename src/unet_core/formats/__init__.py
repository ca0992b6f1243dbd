"""Every file format of a model, each in its own module: this tool's model file
(:mod:`.safetensors_file`; found, read, checked and loaded by :mod:`.store` and
:mod:`.checks`), bioimage.io packages (:mod:`.bioimageio_read`, :mod:`.bioimageio_write`,
:mod:`.bioimageio_describe`, :mod:`.bioimageio_architecture`), and ONNX and TorchScript
(:mod:`.onnx_torchscript`). Every exported format holds one network, the U-Net followed by the
softmax (:mod:`.probabilities`). Imported lazily: ``import unet_core.formats`` imports no torch."""

from .._lazy import lazy_exports

_EXPORTS = {
    "ModelFileError": ".checks",
    "export_model": ".onnx_torchscript",
    "export_package": ".bioimageio_write",
    "Probabilities": ".probabilities",
    "save_model": ".safetensors_file",
    "bundled_models": ".store",
    "load_model": ".store",
    "model_identity": ".store",
    "read_card": ".store",
    "resolve_model_path": ".store",
    "weight_problems": ".store",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
