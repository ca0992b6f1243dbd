"""Bringing an image to the pixel scale a model was trained at, and the result back.

A fundus model's card records the diameter of the field of view (FOV) it was trained at
(``scale = {"fov_diameter": 539}`` for DRIVE); a photograph from another camera is resampled so
that its FOV has that diameter, segmented, and the probabilities are resampled to its own size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def fov_mask(image: np.ndarray) -> np.ndarray:
    """The field of view of a fundus photograph: the bright disc inside the dark border (bool).

    Thresholds a smoothed brightness image well above the border's level, keeps the largest
    connected region and fills its holes, so dim edges, notches and dark lesions inside stay in.
    """
    rgb = np.asarray(image, np.float32)
    bright = rgb[..., :3].max(-1) if rgb.ndim == 3 else rgb
    step = max(1, int(max(bright.shape) // 1024))  # work on a <= ~1k image
    small = ndimage.uniform_filter(bright[::step, ::step], 5)
    lo, hi = np.percentile(small, [1, 99])
    mask = small > lo + 0.1 * (hi - lo)
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.ones(bright.shape, bool)
    largest = labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    largest = ndimage.binary_fill_holes(ndimage.binary_opening(largest, iterations=2))
    if step > 1:
        largest = np.repeat(np.repeat(largest, step, 0), step, 1)[
            : bright.shape[0], : bright.shape[1]
        ]
    return largest


def fov_diameter(mask: np.ndarray) -> float:
    """Horizontal extent in pixels of a field-of-view mask (0 if empty)."""
    cols = np.flatnonzero(np.asarray(mask).any(axis=0))
    return float(cols[-1] - cols[0] + 1) if len(cols) else 0.0


def auto_scale(image: np.ndarray, scale: dict) -> float:
    """Resampling factor that brings ``image`` to a model's training ``scale`` (1.0 if unknown)."""
    target = scale.get("fov_diameter") if scale else None
    if not target or image.ndim != 3:
        return 1.0
    diameter = fov_diameter(fov_mask(image))
    return float(target) / diameter if diameter > 0 else 1.0


def resize(array: np.ndarray, shape: tuple[int, int], order: int = 1) -> np.ndarray:
    """Resize the first two axes of (H, W[, C]) to ``shape`` (anti-aliased when shrinking)."""
    from skimage.transform import resize as _resize

    if tuple(array.shape[:2]) == tuple(shape):
        return array
    out_shape = tuple(shape) + tuple(array.shape[2:])
    shrink = shape[0] < array.shape[0] or shape[1] < array.shape[1]
    out = _resize(array.astype(np.float32), out_shape, order=order, mode="reflect",
                  anti_aliasing=shrink and order > 0, preserve_range=True)  # fmt: skip
    return out.astype(np.float32)
