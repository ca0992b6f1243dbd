"""From probabilities to masks, labels and separate objects (numpy, scipy and scikit-image; the
plugin calls the fast ones on the UI thread)."""

from __future__ import annotations

import numpy as np

from .base.labels import IGNORE_LABEL


def probabilities_to_labels(prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(classes, H, W) probabilities -> uint8 class indices: ``prob[1] >= threshold`` for two
    classes, the argmax otherwise."""
    prob = np.asarray(prob)
    if prob.ndim < 3 or prob.shape[0] < 2:
        raise ValueError(f"expected (classes >= 2, H, W) probabilities, got shape {prob.shape}")
    if prob.shape[0] == 2:
        return (prob[1] >= threshold).astype(np.uint8)
    return np.argmax(prob, axis=0).astype(np.uint8)


def foreground_probability(prob: np.ndarray) -> np.ndarray:
    """(classes, H, W) -> the probability of not being background (H, W), float32."""
    return (prob[1] if prob.shape[0] == 2 else 1 - prob[0]).astype(np.float32)


def labels_to_mask(labels: np.ndarray, classes: int) -> np.ndarray:
    """Class indices as the mask written to files (255 = foreground for two classes)."""
    return labels * np.uint8(255) if classes == 2 else labels


def keep_corrections(
    current: np.ndarray, previous: np.ndarray, fresh: np.ndarray,
    painted: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A new prediction merged into labels without touching the user's work.

    ``previous`` is what the last prediction wrote, ``current`` what the labels hold now and
    ``fresh`` the new prediction. Pixels where ``current`` and ``previous`` differ were painted
    by hand, as were those ``painted`` already marks; they keep their value (the ignore label
    too) and the others take ``fresh``. Returns (merged labels, painted mask).
    """
    mask = current != previous
    if painted is not None:
        mask |= painted
    return np.where(mask, current, fresh).astype(current.dtype), mask


def scribbles_to_labels(scribbles: np.ndarray) -> np.ndarray:
    """A scribbles layer (0 = not annotated, k + 1 = class k, ``IGNORE_LABEL`` = ignore) as
    training labels (class indices, ``IGNORE_LABEL`` where nothing was painted)."""
    scribbles = np.asarray(scribbles).astype(np.int64)
    return np.where((scribbles == 0) | (scribbles == IGNORE_LABEL), IGNORE_LABEL, scribbles - 1)


#: class names that mark the border between touching objects (the paper's separating class)
BORDER_NAMES = ("border", "boundary", "contour", "edge", "outline")


def border_class(classes: list[str]) -> int | None:
    """Index of a class named like a border between objects (e.g. "border"), if any."""
    for i, name in enumerate(classes):
        if i and name.strip().lower() in BORDER_NAMES:
            return i
    return None


def separate_objects(prob: np.ndarray, classes: list[str], threshold: float = 0.5,
                     h: float = 2.0, min_area: int = 9) -> np.ndarray:  # fmt: skip
    """Foreground split into objects: int32 labels 1..N (0 = background).

    With a border class (e.g. background / nucleus / border), each connected region of the
    interior class seeds one object, grown by a watershed of the interior probability over
    interior and border pixels: touching objects part where the network drew their border.
    Otherwise the foreground's distance transform is split at its saddles: maxima standing
    ``h`` pixels above their surroundings each seed one object (the paper's touching cells).
    Objects smaller than ``min_area`` pixels (specks of noise) are dropped.
    """
    from scipy import ndimage
    from skimage.measure import label
    from skimage.morphology import h_maxima
    from skimage.segmentation import relabel_sequential, watershed

    labels = probabilities_to_labels(prob, threshold)
    border = border_class(classes)
    if border is not None and prob.shape[0] >= 3:
        interior = (labels != 0) & (labels != border)
        seeds = label(interior, connectivity=1)
        objects = watershed(prob[0] + prob[border], seeds, mask=labels != 0)
    else:
        foreground = labels != 0
        distance = ndimage.distance_transform_edt(foreground)
        distance = ndimage.gaussian_filter(distance, 1.0) * foreground
        seeds = label(h_maxima(distance, h) & foreground)
        components = label(foreground)
        unseeded = np.setdiff1d(np.unique(components[foreground]), components[seeds > 0])
        extra = np.isin(components, unseeded) & foreground
        seeds[extra] = components[extra] + seeds.max()
        objects = watershed(-distance, seeds, mask=foreground)
    areas = np.bincount(objects.ravel())
    objects[areas[objects] < min_area] = 0
    return relabel_sequential(objects.astype(np.int32))[0]


def object_stats(objects: np.ndarray) -> dict[str, float]:
    """Number of objects and their mean area in pixels."""
    areas = np.bincount(np.ravel(objects))[1:]
    areas = areas[areas > 0]
    return {"objects": int(areas.size), "mean_object_area": float(areas.mean()) if areas.size
            else 0.0}  # fmt: skip


def class_areas(labels: np.ndarray, classes: list[str]) -> dict[str, int]:
    """Pixels of each class but the background, as ``{"area_<name>": pixels}``."""
    counts = np.bincount(np.ravel(labels).astype(np.int64), minlength=len(classes))
    return {f"area_{name}": int(counts[i]) for i, name in enumerate(classes) if i}
