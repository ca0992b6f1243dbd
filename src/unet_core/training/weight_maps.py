"""Loss weight maps: how much each pixel counts in the training loss (not a model's weights).

The paper's map (Ronneberger et al. 2015, Eq. 2), in numpy:

w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))

w_c balances the class frequencies; d1 and d2 are the distances to the nearest and the second
nearest object (connected component of ``object_class``). As in the paper's Fig. 3d, the border
term is applied to the pixels between objects (outside every object). :func:`loss_weight_maps`
is what the trainer multiplies a batch's per-pixel loss with; :func:`correction_weights`, what
the pixels a user corrected weigh in a fine-tuning round.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    from .config import TrainConfig

#: Loss weight of the pixels the user corrected against the prediction's own: "balanced" gives
#: the corrections as much weight in all as the rest of the labels (x9 when 10 % are corrected),
#: within [1, MAX_CORRECTED_WEIGHT] (3 % would be x32: x30). Measured in
#: ``benchmarks/finetune.py --modes corrections`` (a wrong prediction with its largest errors
#: brushed over) and, for the cap, in
#: ``benchmarks/finetune_weights.py`` (a good fundus map corrected in one window: at x100 a
#: round lost 0.025-0.03 vessel F1 away from it, at x30 half that): docs/benchmarks.md.
CORRECTED_WEIGHT: float | str = "balanced"
MAX_CORRECTED_WEIGHT = 30.0


def class_balance_weights(
    labels: np.ndarray, num_classes: int, ignore_label: int | None = None
) -> np.ndarray:
    """Per-class weights N / (K * count_c) over the labelled pixels (0 for absent classes)."""
    valid = labels != ignore_label if ignore_label is not None else np.ones(labels.shape, bool)
    counts = np.bincount(labels[valid].ravel(), minlength=num_classes)[:num_classes].astype(float)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def two_nearest_distances(objects: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Distances (float32) to the nearest and second nearest connected component of ``objects``.

    Only distances up to ``reach`` are computed exactly (each object is processed in its bounding
    box grown by ``reach``); farther ones are ``inf``.
    """
    instances, n = ndimage.label(objects)
    d1 = np.full(objects.shape, np.inf, np.float32)
    d2 = np.full(objects.shape, np.inf, np.float32)
    r = int(np.ceil(reach))
    for i, box in enumerate(ndimage.find_objects(instances), start=1):
        grown = tuple(
            slice(max(0, s.start - r), min(size, s.stop + r)) for s, size in zip(box, objects.shape)
        )
        dist = ndimage.distance_transform_edt(instances[grown] != i).astype(np.float32)
        a, b = d1[grown], d2[grown]
        d2[grown] = np.where(dist < a, a, np.minimum(b, dist))
        d1[grown] = np.minimum(a, dist)
    return d1, d2


def unet_weight_map(
    labels: np.ndarray,
    num_classes: int = 2,
    *,
    w0: float = 10.0,
    sigma: float = 5.0,
    object_class: int = 1,
    ignore_label: int | None = None,
    class_weights: np.ndarray | None = None,
) -> np.ndarray:
    """The paper's weight map for an integer label image (H, W); float32 (H, W).

    Parameters
    ----------
    labels
        Class indices; pixels equal to ``ignore_label`` get weight 0.
    w0, sigma
        Border weight and width in pixels (paper: 10 and about 5).
    object_class
        The class whose connected components are the objects (cells: the interior class).
    class_weights
        w_c per class, e.g. computed over a whole training set; default: balanced on ``labels``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2-D, got shape {labels.shape}")
    wc = (
        class_balance_weights(labels, num_classes, ignore_label)
        if class_weights is None
        else np.asarray(class_weights, float)
    )
    weights = wc[np.clip(labels, 0, num_classes - 1)].astype(np.float32)
    objects = labels == object_class
    if w0 > 0 and objects.any():
        # beyond d1 + d2 = reach the border term is below w0 * 1e-3
        reach = sigma * np.sqrt(2 * np.log(1e3))
        d1, d2 = two_nearest_distances(objects, reach)
        border = w0 * np.exp(-((d1 + d2) ** 2) / (2 * sigma**2))
        weights += np.where(objects, 0.0, np.nan_to_num(border, nan=0.0)).astype(np.float32)
    if ignore_label is not None:
        weights[labels == ignore_label] = 0
    return weights


def class_weights_of(config: TrainConfig, labels: list[np.ndarray],
                     num_classes: int) -> np.ndarray | None:  # fmt: skip
    """The w_c of a training run's labels: balanced (``balance_classes`` or the paper's loss),
    every class 1 (the border term alone), or None (no weights)."""
    if config.balance_classes or config.loss == "weighted_ce":
        flat = np.concatenate([lab.ravel() for lab in labels])
        return class_balance_weights(flat, num_classes, config.ignore_label)
    if config.border_weights:
        return np.ones(num_classes)
    return None


def loss_weight_maps(labels: np.ndarray, config: TrainConfig, num_classes: int,
                     class_weights: np.ndarray | None) -> np.ndarray | None:  # fmt: skip
    """(N, H, W) float32 loss weights of a batch of (N, H, W) labels: the paper's map with the
    border term (``border_weights`` or the paper's loss), else the class weights, else None."""
    if not (config.border_weights or config.loss == "weighted_ce"):
        if class_weights is None:
            return None
        index = np.clip(labels, 0, len(class_weights) - 1)  # ignored pixels count 0
        return class_weights[index].astype(np.float32)
    c = config
    return np.stack([
        unet_weight_map(y, num_classes, w0=c.w0, sigma=c.sigma, object_class=c.object_class,
                        ignore_label=c.ignore_label, class_weights=class_weights)
        for y in labels
    ])  # fmt: skip


def correction_weights(corrected: Sequence[np.ndarray] | None, labels: list,
                       factor: float | str, ignore_label: int | None = None,
                       ) -> list[np.ndarray | None]:  # fmt: skip
    """Per-pixel loss weights: ``factor`` where the user corrected, 1 elsewhere (None for
    every image when nothing is up-weighted). "balanced": the factor that gives the corrected
    pixels as much weight in all as the other labelled pixels, within [1, 30]."""
    if corrected is None or factor == 1.0:
        return [None] * len(labels)
    corrected = [np.asarray(c, bool) for c in corrected]
    if len(corrected) != len(labels):
        raise ValueError(f"need a corrected mask per image, got {len(corrected)} for "
                         f"{len(labels)}")  # fmt: skip
    for mask, lab in zip(corrected, labels):
        if mask.shape != np.shape(lab):
            raise ValueError(f"a corrected mask {mask.shape} does not match its labels "
                             f"{np.shape(lab)}")  # fmt: skip
    if factor == "balanced":
        known = [np.asarray(lab) != ignore_label for lab in labels]
        fixed = sum(int((m & k).sum()) for m, k in zip(corrected, known))
        rest = sum(int((~m & k).sum()) for m, k in zip(corrected, known))
        factor = float(np.clip(rest / max(fixed, 1), 1.0, MAX_CORRECTED_WEIGHT))
        if not fixed or factor == 1.0:
            return [None] * len(labels)
    return [np.where(m, np.float32(factor), np.float32(1.0)) for m in corrected]
