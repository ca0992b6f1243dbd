"""The generic recipe for a user's own images: no preset, every choice read from the data and
the time budget, and each choice written down with its reason (it goes into the model card).

- Architecture by ``size``: small / medium / large U-Nets with padded convolutions and batch
  norm (the practical variant: any image size, stable on small batches), or a U-Net with a
  ResNet-18/34/50 encoder (``resnet18`` ...; :mod:`unet_core.model.resnet`).
- Patch: 128 px (96 for images smaller than that); batch 8 (4 for the large network), so a
  4-minute run on two CPU cores makes a few hundred steps.
- Loss: cross-entropy; the paper's border term (w0 = 10, sigma = 5 px, every class weighing 1)
  when separate objects lie close together (gaps of a few pixels, as between touching cells)
  and no class is named as their border; else none (``benchmarks/owndata.py`` measured both).
- Augmentation: the paper's elastic deformation, flips and 90-degree rotations, intensity
  (brightness, contrast, gamma), a little zoom.
- Schedule: Adam 2e-3 with a short warm-up and a cosine decay over the steps or the time budget,
  whichever runs out first; the weights averaged (EMA) for validation and the saved model.
- Validation: every 50 steps, or about ``VALIDATIONS`` times over a time budget.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..base.labels import IGNORE_LABEL
from ..data.augment import Augmentation
from ..postprocess import border_class
from .config import TrainConfig
from .networks import ENCODER_SIZES, NETWORKS

SIZES = {
    "small": dict(base_channels=8, depth=3),
    "medium": dict(base_channels=16, depth=4),
    "large": dict(base_channels=32, depth=4),
}

#: steps when a run has a time budget: the budget, not this, ends it
UNBOUNDED = 10**7
#: a background pixel with objects on two sides within this many pixels is a narrow gap
GAP = 3
#: border weights are used when narrow gaps make up this share of the foreground
GAP_SHARE = 0.002
#: validations in a run with a time budget
VALIDATIONS = 12


def architecture(size: str, in_channels: int, num_classes: int) -> dict:
    if size not in NETWORKS:
        raise ValueError(f"size must be one of {', '.join(NETWORKS)}, got {size!r}")
    if size in ENCODER_SIZES:
        return dict(in_channels=in_channels, num_classes=num_classes, base_channels=16,
                    encoder=size)  # fmt: skip
    return dict(in_channels=in_channels, num_classes=num_classes, padding="same",
                batch_norm=True, dropout=0.0, **SIZES[size])  # fmt: skip


def narrow_gaps(labels: np.ndarray, object_class: int = 1) -> int:
    """Background pixels with two different objects (connected components of
    ``object_class``) within ``GAP`` pixels: where the paper's border weights matter."""
    objects, n = ndimage.label(labels == object_class)
    if n < 2:
        return 0
    size = 2 * GAP + 1
    high = ndimage.maximum_filter(objects, size)
    low = ndimage.minimum_filter(np.where(objects > 0, objects, n + 1), size)
    background = (labels != object_class) & (labels != IGNORE_LABEL)
    return int(np.sum(background & (low <= n) & (high != low)))


def objects_touch(labels: list[np.ndarray], object_class: int = 1) -> bool:
    gaps = sum(narrow_gaps(lab, object_class) for lab in labels)
    foreground = sum(int(np.sum(lab == object_class)) for lab in labels)
    return foreground > 0 and gaps / foreground >= GAP_SHARE


def generic_config(
    labels: list[np.ndarray],
    *,
    classes: list[str] | None = None,
    size: str = "medium",
    steps: int | None = None,
    seed: int = 0,
) -> tuple[TrainConfig, dict]:
    """The recipe for these labels: a :class:`TrainConfig` and the reasons for its choices."""
    smallest = min(min(lab.shape) for lab in labels)
    patch = 128 if smallest >= 128 else 96
    separated = classes is not None and border_class(classes) is not None
    touch = not separated and objects_touch(labels)
    counts = np.bincount(np.concatenate([lab[lab != IGNORE_LABEL].ravel() for lab in labels]))
    rare = counts[1:][counts[1:] > 0].min() / counts.sum() if counts[1:].any() else 0.0
    config = TrainConfig(
        steps=steps or UNBOUNDED, batch_size=4 if size in ("large", "resnet50") else 8, patch=patch,
        lr=2e-3, schedule="cosine", warmup=20, loss="ce", border_weights=touch, w0=10.0,
        sigma=5.0, object_class=1, ignore_label=IGNORE_LABEL,
        foreground_p=0.5 if rare < 0.25 else 0.3,
        augmentation=Augmentation(elastic_p=0.5, intensity=1.0, scale_jitter=0.1),
        val_every=50, budget_validations=VALIDATIONS, monitor="iou", monitor_mode="max",
        ema=0.99, seed=seed,
    )  # fmt: skip
    reasons = {
        "patch": f"{patch} px (smallest image side {smallest} px)",
        "loss": "cross-entropy" + (
            "; a border class separates the objects" if separated
            else " with the paper's border weights: objects lie a few pixels apart" if touch
            else "; objects do not touch"),
        "foreground_p": f"{config.foreground_p} of the patches centred on an object "
                        f"(rarest class {100 * rare:.1f} % of the annotated pixels)",
    }  # fmt: skip
    return config, reasons
