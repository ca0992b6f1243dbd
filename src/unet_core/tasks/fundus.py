"""Colour fundus photographs (DRIVE and other cameras): the field of view (FOV), the scale
a model was trained at (the FOV's diameter), nothing predicted outside the FOV, vessel
measurements, and DRIVE's metrics inside the FOV.

A fundus model's card records ``scale = {"fov_diameter": 539}``; a photograph from another
camera is resampled so that its FOV has that diameter, segmented, and the probabilities are
resampled to its own size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..metrics import binary_metrics
from .base import Task


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


def describe(values: dict[str, float]) -> str:
    """One line for people: ``vessels 11.9 % of the FOV, skeleton 10234 px (...)``."""
    if not values:
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


class Fundus(Task):
    """Vessels in colour fundus photographs."""

    name = "fundus"
    report_columns = MEASUREMENTS

    def scale_for(self, image: np.ndarray, card) -> float:
        return auto_scale(image, card.scale)

    def finish(self, image: np.ndarray, prob: np.ndarray, card) -> None:
        if "fov_diameter" in card.scale and image.ndim == 3:
            outside = ~fov_mask(image)  # nothing to find outside the field of view
            prob[0][outside], prob[1:, outside] = 1.0, 0.0

    def measure(self, image: np.ndarray, mask: np.ndarray, card) -> dict:
        """:func:`measure_vessels` inside the FOV of a colour photograph (and relative to its
        diameter), with the area fraction under its report name."""
        if len(card.classes) != 2:
            return {}
        image = np.asarray(image)
        fov = fov_mask(image) if image.ndim == 3 and "fov_diameter" in card.scale else None
        diameter = fov_diameter(fov) if fov is not None else None
        values = measure_vessels(mask > 0, fov, diameter or None)
        return {"vessel_area_fraction": values.pop("area_fraction"), **values}

    def describe(self, values: dict) -> str:
        return describe(values)

    def card_scale(self, rois: list[np.ndarray]) -> dict:
        diameters = [fov_diameter(r) for r in rois if r is not None]
        return {"fov_diameter": round(float(np.mean(diameters)), 1)} if diameters else {}

    def evaluate(self, prob, labels, threshold, roi=None, classes=None) -> dict:
        """DRIVE's metrics (F1, IoU, sensitivity, specificity, accuracy, AUC) inside ``roi``;
        labels are {0, 255}, {0, 1} or palette masks."""
        from ..data.drive import binarize

        return binary_metrics(prob[1] >= threshold, binarize(labels), prob=prob[1], roi=roi)


TASK = Fundus()
