"""The optic disc of a fundus photograph, and the zone around it where vessel calibres are
summarised (0.5-1 disc diameters from its margin: Knudtson et al. 2003's zone B).

The disc is found where the photograph is brightest on the scale of a disc and the vessel map
densest (the large vessels leave the eye there); its diameter where the mean brightness of
rings around that centre falls fastest. A photograph without such a bright region has no disc
found, and says so."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: the disc's radius is looked for between these shares of the field of view's diameter
#: (a 30-60 degree photograph: a disc of 1.5-2 mm across a 9-18 mm field)
RADIUS_RANGE = (0.03, 0.13)
#: the brightness at a disc, over the median of the field of view, below which there is none
MIN_CONTRAST = 1.15
#: the zone, in disc diameters from the disc's margin
ZONE = (0.5, 1.0)


@dataclass
class Disc:
    """The optic disc: centre (row, column) and diameter, px; ``found`` "image" when located
    here, "given" when the user placed it."""

    row: float
    col: float
    diameter: float
    found: str = "image"


def brightness(image: np.ndarray) -> np.ndarray:
    """(H, W) float: the mean of red and green for a colour photograph (the disc is bright in
    both; blue is noise on most cameras), the image itself for a gray one."""
    image = np.asarray(image, np.float32)
    return image[..., :2].mean(-1) if image.ndim == 3 else image


def find_disc(image: np.ndarray, fov: np.ndarray, vessels: np.ndarray | None = None
              ) -> tuple[Disc | None, str]:  # fmt: skip
    """(the disc, "") or (None, why not): the brightest place inside the field of view on the
    scale of a disc (helped by the density of ``vessels``), and the radius where the rings
    around it darken fastest."""
    fov = np.asarray(fov, bool)
    if not fov.any():
        return None, "no field of view"
    across = 2 * np.sqrt(fov.sum() / np.pi)
    inner = ndimage.binary_erosion(fov, iterations=max(1, int(0.04 * across)))
    light = brightness(image)
    sigma = RADIUS_RANGE[1] * across / 3
    smooth = _masked_blur(light, fov, sigma)
    median = float(np.median(light[fov]))
    score = smooth / max(median, 1e-6)
    if vessels is not None:
        density = _masked_blur(np.asarray(vessels, np.float32), fov, sigma)
        score = score + density / max(float(density[fov].mean()), 1e-6) * 0.25
    score[~inner] = -np.inf
    row, col = np.unravel_index(int(np.argmax(score)), score.shape)
    if smooth[row, col] < MIN_CONTRAST * median:
        return None, "no optic disc found (no region bright enough)"
    radius = _edge_radius(light, fov, row, col, across)
    return Disc(float(row), float(col), 2 * radius), ""


def _masked_blur(values: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of ``values`` inside ``mask`` (the outside neither counts nor dims)."""
    num = ndimage.gaussian_filter(np.where(mask, values, 0).astype(np.float32), sigma)
    den = ndimage.gaussian_filter(mask.astype(np.float32), sigma)
    return np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0)


def _edge_radius(light: np.ndarray, fov: np.ndarray, row: int, col: int, across: float) -> float:
    """The radius, within ``RADIUS_RANGE`` of the field's diameter, where the mean brightness
    of one-pixel rings around (row, col) falls fastest."""
    yy, xx = np.indices(light.shape)
    r = np.hypot(yy - row, xx - col).astype(int)
    top = int(RADIUS_RANGE[1] * across * 1.5) + 2
    inside = fov & (r < top)
    total = np.bincount(r[inside], weights=light[inside], minlength=top)
    count = np.bincount(r[inside], minlength=top)
    profile = ndimage.gaussian_filter1d(total / np.maximum(count, 1), 1.5)
    low, high = int(RADIUS_RANGE[0] * across), int(RADIUS_RANGE[1] * across)
    slope = np.gradient(profile)[low : high + 1]
    return float(low + int(np.argmin(slope)))


def zone_mask(shape: tuple[int, int], disc: Disc, zone: tuple[float, float] = ZONE) -> np.ndarray:
    """(H, W) bool: the ring ``zone[0]``-``zone[1]`` disc diameters from the disc's margin."""
    yy, xx = np.indices(shape)
    r = np.hypot(yy - disc.row, xx - disc.col)
    margin = disc.diameter / 2
    return (r >= margin + zone[0] * disc.diameter) & (r <= margin + zone[1] * disc.diameter)
