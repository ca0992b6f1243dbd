"""The paper's pixel-wise loss weights (Ronneberger et al. 2015, Eq. 2), in numpy.

w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))

w_c balances the class frequencies; d1 and d2 are the distances to the nearest and the second
nearest object (connected component of ``object_class``). As in the paper's Fig. 3d, the border
term is applied to the pixels between objects (outside every object).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


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
