"""What a vessel map measures: area fraction, skeleton length, branch and end points and the
mean width, inside a fundus photograph's field of view."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def distance_to_background(mask: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Euclidean distance from the pixels (ys, xs) of a bool ``mask`` to its nearest False
    pixel: what ``scipy.ndimage.distance_transform_edt(mask)[ys, xs]`` gives (inf where the
    mask has no False pixel), in a time that grows with the pixels asked for and their
    distances, not with the image (a skeleton's few thousand pixels in thin vessels).

    Exact: the distance along each row to its nearest False pixel, ``g``, is found for the
    whole image; then ``d(y, x)^2 = min over dy of dy^2 + g(y + dy, x)^2``, where only
    ``|dy| < d`` can lower ``d``.
    """
    mask = np.asarray(mask, bool)
    H, W = mask.shape
    far = 2 * (H + W)  # farther than any pixel of the image
    cols = np.arange(W, dtype=np.int32)
    left = np.maximum.accumulate(np.where(mask, np.int32(-far), cols), axis=1)
    right = np.minimum.accumulate(np.where(mask, np.int32(W + far), cols)[:, ::-1], axis=1)
    g = np.minimum(cols - left, right[:, ::-1] - cols)  # >= far: no False pixel in the row
    ys, xs = np.asarray(ys, np.intp), np.asarray(xs, np.intp)
    best = g[ys, xs].astype(np.int64) ** 2
    dy = 1
    active = np.flatnonzero(best > 1)
    while active.size and dy < H:
        for y in (ys[active] - dy, ys[active] + dy):
            inside = (y >= 0) & (y < H)
            i, yy = active[inside], y[inside]
            best[i] = np.minimum(best[i], dy * dy + g[yy, xs[i]].astype(np.int64) ** 2)
        dy += 1
        active = active[best[active] > dy * dy]
    distance = np.sqrt(best)
    distance[best >= far * far] = np.inf
    return distance


def measure_vessels(
    mask: np.ndarray, fov: np.ndarray | None = None, fov_diameter: float | None = None
) -> dict[str, float]:
    """Area fraction, skeleton length, branch and end points, mean width of a vessel mask.

    Lengths and widths are in pixels and, when ``fov_diameter`` is given, also relative to it
    (``*_per_fov``). ``fov`` restricts everything to the field of view. The skeleton length sums
    1 per orthogonal and sqrt(2) per diagonal step; the width at a skeleton pixel is
    ``2 * distance_to_background - 1``.
    """
    from .segments import neighbours, skeleton_of

    mask = np.asarray(mask) > 0
    fov = np.ones(mask.shape, bool) if fov is None else np.asarray(fov, bool)
    mask = mask & fov
    skel = skeleton_of(mask)
    orth = np.sum(skel[1:] & skel[:-1]) + np.sum(skel[:, 1:] & skel[:, :-1])
    diag = np.sum(skel[1:, 1:] & skel[:-1, :-1]) + np.sum(skel[1:, :-1] & skel[:-1, 1:])
    count = neighbours(skel)
    branches = ndimage.label(count >= 3, structure=np.ones((3, 3)))[1]
    width = 2 * distance_to_background(mask, *np.nonzero(skel)) - 1
    width = width[np.isfinite(width)]  # a mask that fills the whole image has no edge
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


def describe(values: dict[str, float]) -> str:
    """One line for people: ``vessels 11.9 % of the FOV, skeleton 10234 px (...)``."""
    if "skeleton_length" not in values:  # nothing measured (``not_measured`` says why)
        return ""
    area = values.get("vessel_area_fraction", values.get("area_fraction", 0.0))
    text = (f"vessels {100 * area:.1f} % of the FOV, skeleton "
            f"{values['skeleton_length']:.0f} px")  # fmt: skip
    if "skeleton_length_per_fov" in values:
        text += f" ({values['skeleton_length_per_fov']:.1f} FOV diameters)"
    text += (f", {values['branch_points']} branch points, {values['end_points']} end points, "
             f"mean width {values['mean_width']:.1f} px")  # fmt: skip
    return text


MEASUREMENTS = (
    "vessel_area_fraction", "skeleton_length", "branch_points", "end_points", "mean_width",
    "skeleton_length_per_fov", "mean_width_per_fov",
)  # fmt: skip
