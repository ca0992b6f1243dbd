"""Vessel measurements from a binary mask (scikit-image skeletonisation), pure numpy/scipy."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_NEIGHBOURS = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]])


def measure_vessels(
    mask: np.ndarray, fov: np.ndarray | None = None, fov_diameter: float | None = None
) -> dict[str, float]:
    """Area fraction, skeleton length, branch and end points, mean width of a vessel mask.

    Lengths and widths are in pixels and, when ``fov_diameter`` is given, also relative to it
    (``*_per_fov``). ``fov`` restricts everything to the field of view. The skeleton length sums
    1 per orthogonal and sqrt(2) per diagonal step; the width at a skeleton pixel is
    ``2 * distance_to_background - 1``.
    """
    from skimage.morphology import skeletonize

    mask = np.asarray(mask) > 0
    fov = np.ones(mask.shape, bool) if fov is None else np.asarray(fov, bool)
    mask = mask & fov
    skel = skeletonize(mask)
    orth = np.sum(skel[1:] & skel[:-1]) + np.sum(skel[:, 1:] & skel[:, :-1])
    diag = np.sum(skel[1:, 1:] & skel[:-1, :-1]) + np.sum(skel[1:, :-1] & skel[:-1, 1:])
    count = ndimage.convolve(skel.astype(np.uint8), _NEIGHBOURS, mode="constant") * skel
    branches = ndimage.label(count >= 3, structure=np.ones((3, 3)))[1]
    width = 2 * ndimage.distance_transform_edt(mask)[skel] - 1
    out = {
        "area_fraction": float(mask.sum() / max(fov.sum(), 1)),
        "skeleton_length": float(orth + np.sqrt(2) * diag),
        "branch_points": int(branches),
        "end_points": int(np.sum(count == 1)),
        "mean_width": float(width.mean()) if width.size else 0.0,
    }
    if fov_diameter:
        out["skeleton_length_per_fov"] = out["skeleton_length"] / fov_diameter
        out["mean_width_per_fov"] = out["mean_width"] / fov_diameter
    return out
