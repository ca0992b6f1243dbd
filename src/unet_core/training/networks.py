"""The networks a training on a user's own images can make, by name: the U-Net's sizes and
the ResNet encoders (:mod:`unet_core.model.resnet`). Names only, so the command line and the
widgets offer them without importing torch or SciPy; :func:`.recipe.architecture` builds them."""

#: U-Nets with padded convolutions and batch norm, by size
UNET_SIZES = ("small", "medium", "large")
#: U-Nets whose contracting path is a ResNet (its ImageNet weights optional)
ENCODER_SIZES = ("resnet18", "resnet34", "resnet50")
NETWORKS = (*UNET_SIZES, *ENCODER_SIZES)
