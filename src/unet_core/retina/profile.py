"""A vessel's width read from the photograph itself: the intensity profile across its
centreline, and the distance between the two points where the profile rises halfway from the
vessel's darkest point to the retina beside it (the half-height width that profile-based
tools such as IVAN measure, and that the normal ranges of CRAE and CRVE come from).

The vessel map only says where the vessel runs and roughly how wide it is; the width itself
then does not depend on how broadly a map (a model's, or an annotator's) draws its edges. On
11 of 15 of DRIVE's training photographs RITE's labels draw the zone's veins 3-43 % wider
than this width (``benchmarks/zone_widths.py``, docs/retina.md)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .shape import smoothed

#: sampling step across a vessel (px) and the smoothing of a profile (in samples: 0.5 px)
STEP, SMOOTH = 0.25, 2.0
#: the retina beside a vessel is read from this far (px beyond the map's edge) ...
NEAR = 2.0
#: ... to this many map widths from the centreline (at least ``MIN_REACH`` px)
REACH, MIN_REACH = 1.5, 8.0
#: samples of retina needed on each side (other vessels' pixels are not retina)
MIN_BESIDE = 4
#: a vessel read this much wider than its map is read again with its own width as the map's
WIDER = 1.2


def vessel_channel(image: np.ndarray) -> np.ndarray:
    """The channel in which a fundus photograph's vessels show most: green (the image itself
    when gray), float32."""
    image = np.asarray(image)
    channel = image[..., 1] if image.ndim == 3 and image.shape[-1] >= 3 else image
    return np.asarray(channel if channel.ndim == 2 else channel[..., 0], np.float32)


def least_depth(channel: np.ndarray) -> float:
    """How much darker than the retina a vessel must be to be measured: 2 % of the channel's
    range (its 1st to 99th percentile)."""
    lo, hi = np.percentile(channel[::4, ::4], [1, 99])
    return 0.02 * float(hi - lo)


def half_height_width(channel: np.ndarray, path: np.ndarray, points, map_width: float,
                      vessels: np.ndarray | None = None, min_depth: float = 0.0,
                      ) -> float:  # fmt: skip
    """The median over ``points`` (indices or a bool mask of the centreline ``path``, (n, 2)
    rows and columns) of the vessel's half-height width on ``channel`` (px; vessels dark);
    ``map_width`` (px), the map's width there, bounds the search (where the vessel proves
    wider than its map, it is read again beyond its own edges); ``vessels`` (bool), the whole
    map, keeps other vessels out of the retina beside it; ``min_depth``: the least a vessel
    lies below the retina (:func:`least_depth`). NaN where no profile has two clear edges."""
    path = np.asarray(path, float)
    chosen = np.arange(len(path))[points]
    if len(path) < 3 or chosen.size == 0 or not np.isfinite(map_width):
        return float("nan")
    centre, normal = across_points(path)
    vessels = None if vessels is None else np.asarray(vessels, np.uint8)  # no copy if uint8
    width = float("nan")
    for _ in range(2):  # a second reading where the vessel is wider than its map
        reach = max(REACH * map_width + NEAR, MIN_REACH)
        offsets = np.arange(-reach, reach + 1e-6, STEP)
        # every chosen point's line across the vessel, sampled in one call: (2, points * m)
        at = (centre[chosen, :, None] + normal[chosen, :, None] * offsets).transpose(1, 0, 2)
        at = at.reshape(2, -1)
        shape = (len(chosen), len(offsets))
        profiles = ndimage.map_coordinates(channel, at, order=1, mode="nearest").reshape(shape)
        profiles = ndimage.gaussian_filter1d(profiles, SMOOTH, axis=1)
        others = [None] * len(chosen)
        if vessels is not None:
            others = ndimage.map_coordinates(vessels, at, order=0, mode="nearest").reshape(shape)
        widths = np.array([profile_width(p, offsets, map_width, o, min_depth)
                           for p, o in zip(profiles, others)])  # fmt: skip
        if not np.isfinite(widths).any():
            return width
        width = float(np.median(widths[np.isfinite(widths)]))
        if width <= WIDER * map_width:
            return width
        map_width = width
    return width


def across_points(path: np.ndarray, sigma: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Each point of a centreline ``path`` on the smoothed line (``shape.smoothed``, which is
    resampled every pixel of arc length: taken back at each point's own arc length) and the
    unit normal there, (n, 2) each."""
    line = smoothed(path, sigma)
    along = np.gradient(line, axis=0)
    if len(line) != len(path):
        arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))])
        grid = np.linspace(0.0, arc[-1], len(line))
        line, along = (np.stack([np.interp(arc, grid, v[:, c]) for c in (0, 1)], 1)
                       for v in (line, along))  # fmt: skip
    along /= np.maximum(np.hypot(*along.T), 1e-9)[:, None]
    return line, np.stack([-along[:, 1], along[:, 0]], 1)


def profile_width(profile: np.ndarray, offsets: np.ndarray, map_width: float,
                  vessel: np.ndarray | None = None, min_depth: float = 0.0) -> float:  # fmt: skip
    """The half-height width of one ``profile`` sampled at ``offsets`` (px, 0 on the
    centreline): its darkest point within the map's half width (and a pixel) of the centre,
    the retina's level on each side (the median of the samples from ``NEAR`` px beyond the
    map's edge on, not on a vessel of ``vessel``), and on each side the outermost crossing of
    the level halfway between (a light reflex along the vessel's middle is not its edge),
    interpolated; NaN without two within a pixel of the retina's samples (beyond: the vessel
    runs into another), or where it lies less than ``min_depth`` below the retina."""
    middle = np.flatnonzero(np.abs(offsets) <= map_width / 2 + 1)
    j = middle[np.argmin(profile[middle])]
    beside = np.abs(offsets) >= map_width / 2 + NEAR
    if vessel is not None:
        beside &= vessel == 0
    inside = np.abs(offsets) < map_width / 2 + NEAR + 1
    step = offsets[1] - offsets[0]
    edges = []
    for way in (-1, 1):
        side = way * (offsets - offsets[j]) > 0
        retina = profile[beside & side]
        if retina.size < MIN_BESIDE:
            return float("nan")
        level = (np.median(retina) + profile[j]) / 2
        if level - profile[j] <= min_depth / 2:  # no vessel darker than the retina here
            return float("nan")
        dark = np.flatnonzero((side | (offsets == offsets[j])) & inside & (profile < level))
        if dark.size == 0:
            return float("nan")
        k = int(dark.max() if way > 0 else dark.min())  # the outermost dark sample
        out = k + way
        if not 0 <= out < len(profile) or profile[out] < level:  # runs into another vessel
            return float("nan")
        edges.append(offsets[k] + way * (level - profile[k]) / (profile[out] - profile[k]) * step)
    return float(edges[1] - edges[0])
