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
#: the brightness at a disc over the median of the field of view that finds it alone; a
#: place at least as bright as the median where the vessels are twice as dense as on average
#: is a disc too (a dim disc of a low-contrast photograph, where the large vessels converge)
MIN_CONTRAST, MIN_DENSITY = 1.15, 2.0
#: the mean optic disc diameter (microns): the zone's disc when the pixel size is known, as
#: graders' software places a standard ring (Knudtson et al. 2003 graded with IVAN's)
STANDARD_DISC_UM = 1800.0
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


def find_disc(image: np.ndarray, fov: np.ndarray, vessels: np.ndarray | None = None,
              microns_per_pixel: float | None = None) -> tuple[Disc | None, str]:  # fmt: skip
    """(the disc, "") or (None, why not): the brightest place inside the field of view on the
    scale of a disc, helped by the density of ``vessels``. Its diameter: the standard disc
    (``STANDARD_DISC_UM``) when ``microns_per_pixel`` is known, else where the rings around it
    darken halfway to the retina's brightness."""
    fov = np.asarray(fov, bool)
    if not fov.any():
        return None, "no field of view"
    across = 2 * np.sqrt(fov.sum() / np.pi)
    inner = ndimage.binary_erosion(fov, iterations=max(1, int(0.04 * across)))
    light = brightness(image)
    sigma = RADIUS_RANGE[1] * across / 3
    contrast = _masked_blur(light, fov, sigma) / max(float(np.median(light[fov])), 1e-6)
    density = np.zeros_like(contrast)
    if vessels is not None:
        density = _masked_blur(np.asarray(vessels, np.float32), fov, sigma)
        density /= max(float(density[fov].mean()), 1e-6)
    score = contrast + 0.25 * density
    score[~inner] = -np.inf
    row, col = np.unravel_index(int(np.argmax(score)), score.shape)
    bright, dense = contrast[row, col], density[row, col]
    if bright < MIN_CONTRAST and not (bright >= 1.0 and dense >= MIN_DENSITY):
        return None, "no optic disc found (no region bright enough)"
    if microns_per_pixel:
        return Disc(float(row), float(col), STANDARD_DISC_UM / microns_per_pixel), ""
    radius = _edge_radius(light, fov, row, col, across)
    return Disc(float(row), float(col), 2 * radius), ""


def _masked_blur(values: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of ``values`` inside ``mask`` (the outside neither counts nor dims).
    A blur of a disc's size is made on blocks of about a quarter sigma and interpolated back
    (about 15x faster on a 1400 px photograph; as smooth at that scale)."""
    step = max(1, int(sigma // 4))
    num, den = np.where(mask, values, 0).astype(np.float32), mask.astype(np.float32)
    if step > 1:
        num, den = _block_mean(num, step), _block_mean(den, step)
    num = ndimage.gaussian_filter(num, sigma / step)
    den = ndimage.gaussian_filter(den, sigma / step)
    blurred = np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0).astype(np.float32)
    if step > 1:
        blurred = ndimage.zoom(blurred, step, order=1, mode="nearest", grid_mode=True)
        blurred = blurred[: values.shape[0], : values.shape[1]]
    return blurred


def _block_mean(values: np.ndarray, step: int) -> np.ndarray:
    """The mean of each ``step`` x ``step`` block (the last ones padded with zeros)."""
    H, W = values.shape
    padded = np.zeros((-(-H // step) * step, -(-W // step) * step), np.float32)
    padded[:H, :W] = values
    return padded.reshape(padded.shape[0] // step, step, -1, step).mean(axis=(1, 3))


def _edge_radius(light: np.ndarray, fov: np.ndarray, row: int, col: int, across: float) -> float:
    """The radius, within ``RADIUS_RANGE`` of the field's diameter, where the mean brightness
    of one-pixel rings around (row, col) first falls halfway from the disc's to the retina's
    around it (a half-maximum edge: the brighter cup inside the disc does not stop it)."""
    yy, xx = np.indices(light.shape)
    r = np.hypot(yy - row, xx - col).astype(int)
    low, high = int(RADIUS_RANGE[0] * across), int(RADIUS_RANGE[1] * across)
    top = 2 * high + 2
    inside = fov & (r < top)
    total = np.bincount(r[inside], weights=light[inside], minlength=top)
    count = np.bincount(r[inside], minlength=top)
    profile = ndimage.gaussian_filter1d(total / np.maximum(count, 1), 1.5)
    disc = float(profile[: low + 1].max())
    retina = float(np.median(profile[high + 1 : top][count[high + 1 : top] > 0]))
    below = np.flatnonzero(profile[low : high + 1] < (disc + retina) / 2)
    return float(low + below[0]) if below.size else float(high)


def zone_mask(shape: tuple[int, int], disc: Disc, zone: tuple[float, float] = ZONE) -> np.ndarray:
    """(H, W) bool: the ring ``zone[0]``-``zone[1]`` disc diameters from the disc's margin."""
    yy, xx = np.indices(shape)
    r = np.hypot(yy - disc.row, xx - disc.col)
    margin = disc.diameter / 2
    return (r >= margin + zone[0] * disc.diameter) & (r <= margin + zone[1] * disc.diameter)


def zone_radii(disc: Disc, zone: tuple[float, float] = ZONE) -> tuple[float, float, float]:
    """The radii (px) of the disc's margin and of the zone's inner and outer edges."""
    margin = disc.diameter / 2
    return margin, margin + zone[0] * disc.diameter, margin + zone[1] * disc.diameter
