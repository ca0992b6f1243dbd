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


def is_vessel_card(card) -> bool:
    """Whether a model card describes a vessel model (a fundus scale or a class named vessel)."""
    return card is not None and (
        "fov_diameter" in card.scale or any("vessel" in c.lower() for c in card.classes)
    )


def measure_for_model(image: np.ndarray, mask: np.ndarray, card) -> dict[str, float]:
    """:func:`measure_vessels` of ``mask`` for a vessel model's card, inside the FOV of a colour
    fundus photograph (and relative to its diameter); ``{}`` for other models."""
    from .inference.rescale import fov_diameter, fov_mask

    if not is_vessel_card(card) or len(card.classes) != 2:
        return {}
    image = np.asarray(image)
    fov = fov_mask(image) if image.ndim == 3 and "fov_diameter" in card.scale else None
    diameter = fov_diameter(fov) if fov is not None else None
    return measure_vessels(mask > 0, fov, diameter or None)


def describe(values: dict[str, float]) -> str:
    """One line for people: ``vessels 11.9 % of the FOV, skeleton 10234 px (...)``."""
    if not values:
        return ""
    text = (f"vessels {100 * values['area_fraction']:.1f} % of the FOV, skeleton "
            f"{values['skeleton_length']:.0f} px")  # fmt: skip
    if "skeleton_length_per_fov" in values:
        text += f" ({values['skeleton_length_per_fov']:.1f} FOV diameters)"
    text += (f", {values['branch_points']} branch points, {values['end_points']} end points, "
             f"mean width {values['mean_width']:.1f} px")  # fmt: skip
    return text
