"""ImageNet weights for a ResNet U-Net's encoder, from a file the user has (torchvision's
``resnet34-*.pth``, say): read with PyTorch's ``weights_only`` loader (tensors, no code), the
key names and shapes checked against the encoder with one line naming what does not fit, and
the first convolution made to take the model's channels (a gray image: the sum of the RGB
filters, so a gray pixel gives the response an RGB pixel of that value gave). Nothing is
downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .resnet import ResNetUNet

#: entries of an ImageNet classifier that the encoder has no use for
CLASSIFIER = ("fc.",)


def read_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a PyTorch weights file (a state dict, or one under ``state_dict`` or
    ``model``), loaded without unpickling code; ValueError in one line otherwise."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"no weights file {str(path)!r}") from None
    except Exception as exc:  # code in the pickle, a damaged or foreign file
        raise ValueError(f"{path.name}: not a file of plain PyTorch weights "
                         f"({type(exc).__name__})") from None  # fmt: skip
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(f"{path.name}: not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def first_conv(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """ImageNet's (64, 3, 7, 7) first filters for ``channels`` input channels: as they are for
    3, summed over RGB for 1, their mean repeated (scaled to keep the response) otherwise."""
    if weight.shape[1] == channels:
        return weight
    if channels == 1:
        return weight.sum(dim=1, keepdim=True)
    mean = weight.mean(dim=1, keepdim=True)
    return mean.repeat(1, channels, 1, 1) * (weight.shape[1] / channels)


def load_imagenet(model: ResNetUNet, path: str | os.PathLike) -> list[str]:
    """Copy an ImageNet ResNet's weights from ``path`` into ``model``'s encoder, in place.
    Returns the keys of the file left unused (the classifier); ValueError in one line, naming
    the keys or shapes that do not fit, before anything is copied."""
    name = Path(path).name
    state = read_state(path)
    encoder = model.encoder.state_dict()
    if "conv1.weight" in state:
        state["conv1.weight"] = first_conv(state["conv1.weight"], model.in_channels)
    missing = [k for k in encoder if k not in state and not k.endswith("num_batches_tracked")]
    misfit = [k for k in encoder if k in state and state[k].shape != encoder[k].shape]
    unused = [k for k in state if k not in encoder]
    foreign = [k for k in unused if not k.startswith(CLASSIFIER)]
    if missing or misfit or foreign:
        what = (f"{len(missing)} of the encoder's weights missing (e.g. {missing[0]})"
                if missing else f"{len(misfit)} of another shape (e.g. {misfit[0]})"
                if misfit else f"{len(foreign)} unknown (e.g. {foreign[0]})")  # fmt: skip
        raise ValueError(f"{name} does not fit a {model.encoder_name} encoder: {what}; "
                         "is it the ImageNet file of this ResNet?")  # fmt: skip
    model.encoder.load_state_dict({k: state[k] for k in encoder if k in state}, strict=False)
    return unused
