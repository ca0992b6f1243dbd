"""A fundus photograph's field of view (FOV): the bright disc inside the dark border, its
circle and diameter, whether a picture is a fundus photograph at all, and whether it has
colour."""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage


def fov_mask(image: np.ndarray) -> np.ndarray:
    """The field of view of a fundus photograph: the bright disc inside the dark border (bool).

    Works on colour, gray, red-free (green only) and dim photographs: the brightest channel,
    smoothed, is thresholded well above the border's level relative to the image's own range;
    the largest connected region is kept and its holes filled, so dim edges, notches and dark
    lesions inside stay in. A disc cut by the image's edges is found all the same.
    """
    image = np.asarray(image)
    shape = image.shape[:2]
    step = max(1, int(max(shape) // 512))  # work on a 512-1023 px image
    bright = image[::step, ::step]
    if bright.ndim == 3:  # the brightest channel, pixel by pixel
        channels = [bright[..., c] for c in range(min(3, bright.shape[-1]))]
        bright = functools.reduce(np.maximum, channels)
    small = ndimage.uniform_filter(bright.astype(np.float32), 5)
    lo, hi = np.percentile(small, [1, 99])
    mask = small > lo + 0.1 * (hi - lo)
    labels, n = ndimage.label(mask)
    if n == 0:
        return np.ones(shape, bool)
    largest = labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
    largest = ndimage.binary_fill_holes(ndimage.binary_opening(largest, iterations=2))
    if step > 1:
        largest = np.repeat(np.repeat(largest, step, 0), step, 1)[: shape[0], : shape[1]]
    return largest


def fov_circle(mask: np.ndarray) -> tuple[float, float, float] | None:
    """(row, column, radius) of the circle through the edge of a field-of-view mask, fitted
    to the edge pixels that do not lie on the image's border, so that a disc cut by the image
    (on any side) gets its full size. None when the mask has too little edge inside the image
    to tell (no dark border: a photograph cropped inside its FOV)."""
    mask = np.asarray(mask, bool)
    H, W = mask.shape
    step = max(1, max(H, W) // 1024)
    m = mask[::step, ::step]
    edge = m & ~ndimage.binary_erosion(m)
    edge[:2], edge[-2:], edge[:, :2], edge[:, -2:] = False, False, False, False
    y, x = np.nonzero(edge)
    if len(y) < 40:
        return None
    y, x = y * float(step), x * float(step)
    keep = np.ones(len(y), bool)
    for _ in range(3):  # a least-squares circle, then again without the notches
        A = np.column_stack([x[keep], y[keep], np.ones(keep.sum())])
        a, b, c = np.linalg.lstsq(A, x[keep] ** 2 + y[keep] ** 2, rcond=None)[0]
        cx, cy = a / 2, b / 2
        r = float(np.sqrt(max(c + cx**2 + cy**2, 0.0)))
        residual = np.abs(np.hypot(x - cx, y - cy) - r)
        keep = residual <= max(3 * np.median(residual[keep]), 2.0 * step)
        if keep.sum() < 20:
            return None
    covered = np.count_nonzero(mask) / (np.pi * r * r)  # a good part of the disc is seen
    if not 8 <= r <= 2 * max(H, W) or covered < 0.2:
        return None
    return float(cy), float(cx), r


def fov_diameter(mask: np.ndarray) -> float:
    """The diameter in pixels of a field-of-view mask: that of the circle through its edge
    (:func:`fov_circle`), else its horizontal extent (0 if empty)."""
    circle = fov_circle(mask)
    if circle is not None:
        return 2 * circle[2]
    cols = np.flatnonzero(np.asarray(mask).any(axis=0))
    return float(cols[-1] - cols[0] + 1) if len(cols) else 0.0


def looks_like_fundus(image: np.ndarray, fov: np.ndarray | None = None) -> bool:
    """Whether ``image`` is a fundus photograph: a bright disc (the field of view) that a
    circle fits, on a dark border, and for colour photographs redder than blue.

    The disc is looked for in the field-of-view mask and, for photographs whose border is
    lifted (a bright gamma), above Otsu's threshold of the brightest channel. Photographs
    cropped inside their field of view (no border) do not pass: a model for them is chosen
    by name. Checked on DRIVE under the 20 simulated cameras of ``benchmarks/cameras.py``, the
    sample photograph and its green channel (all pass), and on scikit-image's photographs,
    micrographs and textures (none passes)."""
    from skimage.filters import threshold_otsu

    image = np.asarray(image)
    mask = fov_mask(image) if fov is None else np.asarray(fov, bool)
    step = max(1, int(max(image.shape[:2]) // 512))
    small = image[::step, ::step]
    bright = small.max(axis=-1) if small.ndim == 3 else small
    bright = ndimage.uniform_filter(bright.astype(np.float32), 5)
    otsu = bright > threshold_otsu(bright) if np.ptp(bright) > 0 else None
    disc = next((m for m in (mask[::step, ::step], otsu) if m is not None and _is_disc(m)), None)
    if disc is None:
        return False
    if small.ndim == 3 and small.shape[-1] >= 3:
        red, blue = (float(small[..., c][disc].mean()) for c in (0, 2))
        if red <= 1.2 * blue and red - blue < 0.05 * float(np.ptp(small[..., 0])):
            return False
    return True


def _is_disc(mask: np.ndarray) -> bool:
    """A mask that a circle fits (intersection over union 0.95) with some border outside."""
    circle = fov_circle(mask)
    if circle is None or mask.mean() > 0.99:
        return False
    cy, cx, r = circle
    yy, xx = np.ogrid[: mask.shape[0], : mask.shape[1]]
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return bool((mask & disc).sum() >= 0.95 * (mask | disc).sum())


def has_colour(image: np.ndarray) -> bool:
    """Whether ``image`` carries colour: a channel that is not a scaled copy of the strongest
    one (its least-squares fit on it leaves more than ``COLOUR_LEFT`` of its spread). A gray
    photograph (one channel, or three equal ones), a red-free one (its green channel alone,
    copied, or tinted into the others) and a sepia print have none; noise alone is not colour."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] < 3:
        return False
    step = max(1, int(max(image.shape[:2]) // 512))
    small = image[::step, ::step, :3].reshape(-1, 3).astype(np.float64)
    spread = small.std(axis=0)
    strongest = int(np.argmax(spread))
    if spread[strongest] <= 0:
        return False
    basis = np.column_stack([small[:, strongest], np.ones(len(small))])
    for c in range(3):
        if c == strongest or spread[c] <= 0.05 * spread[strongest]:
            continue  # itself, or an empty channel
        fit, *_ = np.linalg.lstsq(basis, small[:, c], rcond=None)
        if (small[:, c] - basis @ fit).std() > COLOUR_LEFT * spread[c]:
            return True
    return False


#: the share of a channel's spread that a copy of another leaves unexplained in a colour
#: photograph (its largest: 0.14-0.26 on DRIVE under a sensor's channel crosstalk, 0.28-0.51
#: as they are; 0.02-0.04 for a green-tinted red-free one)
COLOUR_LEFT = 0.1
