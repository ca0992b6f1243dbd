"""A package's test tensors and cover, from a sample image the model is meant for: the test
input is the sample's centre as the package's input takes it, the test output the probabilities
the package's weights give for it (after the package's own preprocessing), the cover the
centre and its mask side by side. A 3-D model's test tensors are volumes, and its cover shows
their middle slice."""

from __future__ import annotations

import numpy as np
import torch

from ..model.unet import UNet
from .probabilities import Probabilities

#: the edge of the test input of a 2-D model (the nearest size the network takes)
TEST_EDGE = 256
#: the longest edge of the test output of a 3-D model, along each axis (less where the sample
#: is smaller; its input is larger by the network's margin)
TEST_EDGE_3D = 64
EPS = 1e-6  # bioimage.io's default epsilon of its normalisations


def package_input(model: UNet, sample: np.ndarray) -> np.ndarray:
    """(1, in_channels, S, S) float32: the centre of ``sample`` as the package's input takes it
    (channels selected, at the model's scale), S the valid size nearest :data:`TEST_EDGE`. A
    3-D model's is (1, in_channels, D, H, W), the centre of a (D, H, W[, C]) volume, each edge
    the valid size at or above the sample's (at most :data:`TEST_EDGE_3D`) plus the network's
    margin along it, so that the test output covers that much of the sample (mirrored where
    the sample is smaller, as the predictor pads it)."""
    from ..base.arrays import resize
    from ..data.preprocess import check_channels, select_channels
    from ..tasks import task_of

    image = np.asarray(sample)
    pre, nd = model.card.preprocessing, model.spatial_dims
    check_channels(image, pre.channels, model.in_channels, nd)
    if nd == 2:
        factor = task_of(model.card).scale_for(image, model.card)
        if abs(factor - 1.0) >= 0.02:  # as the predictor does
            image = resize(image, tuple(max(1, round(n * factor)) for n in image.shape[:2]))
        edges = (model.valid_input_size(TEST_EDGE),) * 2
    else:  # a volume is segmented at its own voxel size
        edges = tuple(model.valid_input_size(min(n, TEST_EDGE_3D) + m, axis=a)
                      for a, (n, m) in enumerate(zip(image.shape[:3], model.margins)))  # fmt: skip
    x = select_channels(image, pre.channels, nd).astype(np.float32)
    pad = [(0, 0)] + [(max(0, (e - n + 1) // 2),) * 2 for e, n in zip(edges, x.shape[1:])]
    x = np.pad(x, pad, mode="reflect") if any(p[0] for p in pad) else x
    box = tuple(slice((n - e) // 2, (n - e) // 2 + e) for e, n in zip(edges, x.shape[1:]))
    return np.ascontiguousarray(x[(None, slice(None), *box)])


def normalized(model: UNet, x: np.ndarray) -> np.ndarray:
    """``x`` (N, C, *spatial) normalised as the package's preprocessing does it (per sample
    and channel, over all spatial axes: bioimage.io's formulas)."""
    pre = model.card.preprocessing
    axes = tuple(range(2, x.ndim))
    if pre.normalize == "zscore":
        mean, std = x.mean(axis=axes, keepdims=True), x.std(axis=axes, keepdims=True)
        return ((x - mean) / (std + EPS)).astype(np.float32)
    if pre.normalize == "percentile":
        lo, hi = np.percentile(x, pre.percentiles, axis=axes, keepdims=True)
        return ((x - lo) / (hi - lo + EPS)).astype(np.float32)
    return x.astype(np.float32)


def probabilities(model: UNet, x: np.ndarray) -> np.ndarray:
    """The class probabilities the package's weights give for the raw input ``x``."""
    net = Probabilities(model)
    with torch.no_grad():
        return net(torch.from_numpy(normalized(model, x))).numpy().astype(np.float32)


def cover_image(model: UNet, test_input: np.ndarray, test_output: np.ndarray) -> np.ndarray:
    """(h, 2 w, 3) uint8: the test input's centre (its middle slice for a volume) and its mask
    side by side."""
    from ..overlay import overlay, to_uint8_rgb
    from ..postprocess import probabilities_to_labels

    image, prob = test_input[0], test_output[0]
    if model.spatial_dims == 3:  # the middle slices of input and output are the same plane
        image, prob = image[:, image.shape[1] // 2], prob[:, prob.shape[1] // 2]
    image = np.moveaxis(image, 0, -1)
    image = image[..., 0] if image.shape[-1] != 3 else image
    labels = probabilities_to_labels(prob, 0.5)
    my, mx = (m // 2 for m in model.margins[-2:])
    image = image[my : image.shape[0] - my, mx : image.shape[1] - mx]
    return np.concatenate([to_uint8_rgb(image), overlay(image, labels)], axis=1)
