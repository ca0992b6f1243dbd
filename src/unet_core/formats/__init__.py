"""Every file format of a model, each in its own module: this tool's model file
(:mod:`.safetensors_file`; found, read, checked and loaded by :mod:`.store` and
:mod:`.checks`), bioimage.io packages (:mod:`.bioimageio_read`, :mod:`.bioimageio_write`,
:mod:`.bioimageio_describe`, :mod:`.bioimageio_sample`, :mod:`.bioimageio_architecture`), and
ONNX and TorchScript (:mod:`.onnx_torchscript`), each of 2-D and 3-D models. Every exported
format holds one network, the U-Net followed by the softmax (:mod:`.probabilities`)."""
