"""What fine-tuning takes, checked before any work: images and labels a model can learn
from (one-line ValueErrors), the planes it learns from (a 2-D model: a volume's annotated
slices), and a budget that can give a model."""

from __future__ import annotations

import numpy as np

from ..data.preprocess import check_channels
from ..model.card import card_of
from ..model.unet import UNet

#: the largest fine-tuning patch: a few hundred MB of activations for the largest networks
MAX_PATCH = 1024
#: the smallest image edge fine-tuning learns from
MIN_EDGE = 4


def check_labels(labels: np.ndarray, shape: tuple[int, ...], num_classes: int,
                 ignore_label: int | None, name: str = "labels") -> np.ndarray:  # fmt: skip
    """``labels`` as int64 class indices, or a one-line ``ValueError`` saying what is wrong."""
    labels = np.asarray(labels)
    if labels.shape != tuple(shape):
        raise ValueError(f"{name} {labels.shape} do not match the image {tuple(shape)}")
    if labels.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be integer class indices, got dtype {labels.dtype}")
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all():
            raise ValueError(f"{name} contain NaN or infinite values; use class indices")
        if (labels != np.round(labels)).any():
            raise ValueError(f"{name} must be whole class indices, got fractional values "
                             f"such as {labels[labels != np.round(labels)].flat[0]:g}")  # fmt: skip
    labels = labels.astype(np.int64)
    valid = labels != ignore_label if ignore_label is not None else np.ones(labels.shape, bool)
    if not valid.any():
        raise ValueError(f"the {name} mark no pixel for training (all are the ignore label)")
    bad = (labels[valid] < 0) | (labels[valid] >= num_classes)
    if bad.any():
        raise ValueError(
            f"{name} must be class indices 0..{num_classes - 1} (or the ignore label "
            f"{ignore_label}), got {np.unique(labels[valid][bad])[:5].tolist()}"
        )
    return labels


def planes_for(model: UNet, images: list, labels: list, corrected: list | None,
               ignore_label: int | None) -> tuple[list, list, list | None]:  # fmt: skip
    """What the model learns from: a 3-D model the volumes as they are, a 2-D one the
    annotated slices of each volume (labels of a stack) as images of their own."""
    if model.spatial_dims == 3:
        flat = [i for i, lab in enumerate(labels) if np.ndim(lab) != 3]
        if flat:
            raise ValueError(f"a 3-D model fine-tunes on volumes; labels {flat[0]} are 2-D")
        return images, labels, corrected
    if all(np.ndim(lab) == 2 for lab in labels):
        return images, labels, corrected
    out_i, out_l, out_c = [], [], []
    for k, (image, lab) in enumerate(zip(images, labels)):
        fixed = None if corrected is None else corrected[k]
        if np.ndim(lab) != 3:
            out_i.append(image), out_l.append(lab), out_c.append(fixed)
            continue
        lab = np.asarray(lab)
        known = lab != ignore_label if ignore_label is not None else np.ones(lab.shape, bool)
        for z in np.flatnonzero(known.reshape(len(lab), -1).any(axis=1)):
            out_i.append(np.asarray(image[z])), out_l.append(lab[z])
            out_c.append(None if fixed is None else np.asarray(fixed)[z])
    return out_i, out_l, None if corrected is None else out_c


def check_inputs(model: UNet, images: list, labels: list, ignore_label: int | None,
                 patch) -> None:  # fmt: skip
    """A one-line ValueError, before any work, for images the model cannot take, labels that
    are not its class indices, or a patch size out of range."""
    pre = card_of(model).preprocessing
    nd = model.spatial_dims
    for i, (image, lab) in enumerate(zip(images, labels)):
        check_channels(np.asarray(image), pre.channels, model.in_channels, nd)
        if min(np.shape(image)[nd - 2 : nd]) < MIN_EDGE:
            size = " x ".join(map(str, np.shape(image)[:nd]))
            raise ValueError(f"image {i} is {size} pixels: too small to learn from (at least "
                             f"{MIN_EDGE} on a side)")  # fmt: skip
        check_labels(lab, np.shape(image)[:nd], model.num_classes, ignore_label, f"labels {i}")
    if isinstance(patch, bool) or not isinstance(patch, int) or not 16 <= patch <= MAX_PATCH:
        raise ValueError(f"patch must be a whole number of pixels in [16, {MAX_PATCH}], got "
                         f"{patch!r}")  # fmt: skip


def check_budget(steps: int | None, seconds: float | None, lr: float | None,
                 corrected_weight: float | str) -> None:  # fmt: skip
    """A one-line ValueError for a budget or rate that cannot give a model."""
    import math

    if steps is not None and (int(steps) != steps or steps < 1):
        raise ValueError(f"steps must be a whole number of at least 1, got {steps}")
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds must be a positive number, got {seconds}")
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"the learning rate must be a positive number, got {lr}")
    if corrected_weight == "balanced":
        return
    if isinstance(corrected_weight, str) or not (
        math.isfinite(corrected_weight) and corrected_weight > 0
    ):
        raise ValueError(f"corrected_weight must be a positive number or 'balanced', got "
                         f"{corrected_weight!r}")  # fmt: skip


def check_trainable(model) -> None:
    """A one-line ValueError for a network of another tool whose weights take no gradients
    (ONNX, frozen TorchScript)."""
    from ..model.external import ExternalNetwork

    if isinstance(model, ExternalNetwork) and not model.trainable:
        raise ValueError(f"{model.card.name}: its weights ({model.card.architecture['external']})"
                         " take no gradients here; fine-tuning needs TorchScript weights")
