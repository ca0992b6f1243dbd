"""The shape of a vessel tree: fractal dimension by box counting, and the tortuosity of a
centreline (arc over chord; mean curvature). docs/retina.md gives the definitions."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: the box count's boxes, as shares of the field of view's diameter (the measures give the
#: diameter of a circle of the FOV's area; a bare call, the image's shorter side): from 1/128
#: (about 100 um on a 45-degree photograph, twice the width of the thinnest vessels a
#: DRIVE-sized photograph shows) to 1/4, doubling. Relative to the field of view, the same
#: retina gives the same dimension at any resolution (DRIVE's labels enlarged 2.5x and 6x:
#: within 0.03; boxes fixed in pixels lost 0.07: docs/retina.md); no box below 2 px, where a
#: box sees the pixel grid
BOX_SHARES, BOX_MIN_PX = (1 / 128, 1 / 4), 2

#: the centreline is smoothed over this many pixels (Gaussian sigma) before its curvature is
#: taken: the pixel grid's 45-degree steps are not the vessel's bends. On a photograph it is
#: this share of the field of view's diameter (5 px on DRIVE's 540 px), at least
#: ``CURVATURE_SIGMA_MIN`` px: the same retina bends as much at any resolution (fixed in
#: pixels, a finer camera's centreline kept bends of a few microns: docs/retina.md)
CURVATURE_SIGMA = 5.0
CURVATURE_SHARE, CURVATURE_SIGMA_MIN = 5.0 / 540, 3.0


def shape_sigma(across: float | None) -> float:
    """The centreline's smoothing (px) for a field of view ``across`` px wide (None: the bare
    :data:`CURVATURE_SIGMA`)."""
    if across is None:
        return CURVATURE_SIGMA
    return max(CURVATURE_SIGMA_MIN, CURVATURE_SHARE * float(across))


def box_sizes(across: float) -> list[int]:
    """The box count's sizes in px for a field of view ``across`` px wide (``BOX_SHARES``)."""
    low, high = (share * across for share in BOX_SHARES)
    steps = int(np.floor(np.log2(high / low) + 1e-9)) + 1
    sizes = {int(round(low * 2**k)) for k in range(steps)}
    return sorted(s for s in sizes if s >= BOX_MIN_PX)


def box_counts(mask: np.ndarray, sizes: list[int] | None = None,
               across: float | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(box sizes in px, boxes of each size holding any True pixel); the sizes
    :func:`box_sizes` of ``across`` (default: the shorter side) unless given."""
    mask = np.asarray(mask, bool)
    if sizes is None:
        sizes = box_sizes(across or min(mask.shape))
    counts = []
    for s in sizes:
        H, W = -(-mask.shape[0] // s) * s, -(-mask.shape[1] // s) * s
        padded = np.zeros((H, W), bool)
        padded[: mask.shape[0], : mask.shape[1]] = mask
        counts.append(int(padded.reshape(H // s, s, W // s, s).any(axis=(1, 3)).sum()))
    return np.asarray(sizes, float), np.asarray(counts, float)


def fractal_dimension(mask: np.ndarray, across: float | None = None) -> float:
    """The box-counting (Minkowski-Bouligand) dimension of a bool ``mask``: minus the slope of
    log(boxes holding the mask) against log(box size), fitted by least squares over the boxes
    of :func:`box_sizes` (``across``: the field of view's diameter in px; default the shorter
    side); NaN for an empty mask or an image too small for three box sizes."""
    sizes, counts = box_counts(mask, across=across)
    keep = counts > 0
    if keep.sum() < 3:
        return float("nan")
    slope = np.polyfit(np.log(sizes[keep]), np.log(counts[keep]), 1)[0]
    return float(-slope)


def arc_length(path: np.ndarray, sigma: float = CURVATURE_SIGMA) -> float:
    """The length of the smoothed centreline (px): the pixel path's own length counts the
    grid's staircase (up to 8 % more on a shallow slope)."""
    p = smoothed(path, sigma)
    return float(np.sum(np.hypot(*np.diff(p, axis=0).T))) if len(p) > 1 else 0.0


def arc_chord(path: np.ndarray, sigma: float = CURVATURE_SIGMA) -> float:
    """Arc length over chord length of a centreline smoothed over ``sigma`` px (1 for a
    straight one; the distance factor); NaN for a closed or one-pixel path."""
    p = smoothed(path, sigma)
    chord = float(np.hypot(*(p[-1] - p[0])))
    return arc_length(path, sigma) / chord if chord > 0 else float("nan")


def smoothed(path: np.ndarray, sigma: float = CURVATURE_SIGMA) -> np.ndarray:
    """The centreline resampled every pixel of arc length and smoothed (Gaussian ``sigma`` px
    along it; past its ends it is continued by point reflection, so the ends stay put and a
    straight line stays straight)."""
    path = np.asarray(path, float)
    steps = np.hypot(*np.diff(path, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    if arc[-1] < 2:
        return path
    at = np.linspace(0, arc[-1], int(np.ceil(arc[-1])) + 1)
    even = np.stack([np.interp(at, arc, path[:, 0]), np.interp(at, arc, path[:, 1])], 1)
    pad = min(len(even) - 1, int(3 * sigma))  # the path continued straight past its ends
    head = 2 * even[0] - even[1 : pad + 1][::-1]
    tail = 2 * even[-1] - even[len(even) - 1 - pad : -1][::-1]
    longer = np.concatenate([head, even, tail])
    return ndimage.gaussian_filter1d(longer, sigma, axis=0, mode="nearest")[pad : pad + len(even)]


def curvatures(path: np.ndarray, sigma: float = CURVATURE_SIGMA) -> np.ndarray:
    """The unsigned curvature (1/px) at each point of the smoothed centreline:
    ``|x'y'' - y'x''| / (x'^2 + y'^2)^(3/2)``."""
    p = smoothed(path, sigma)
    if len(p) < 5:
        return np.zeros(len(p))
    d1 = np.gradient(p, axis=0)
    d2 = np.gradient(d1, axis=0)
    cross = np.abs(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0])
    speed = np.hypot(d1[:, 0], d1[:, 1])
    return cross / np.maximum(speed, 1e-9) ** 3


def mean_curvature(path: np.ndarray, sigma: float = CURVATURE_SIGMA) -> float:
    """The total curvature over the arc length (1/px): the mean bending of the centreline, away
    from its ends (``2 * sigma`` px at each end, where the smoothing has no neighbours);
    1/r on an arc of a circle of radius r, 0 on a straight line."""
    k = curvatures(path, sigma)
    cut = int(2 * sigma)
    inner = k[cut : len(k) - cut] if len(k) > 2 * cut + 2 else k
    return float(inner.mean()) if inner.size else float("nan")
