"""The vessels of Knudtson's zone (0.5-1 disc diameters from the disc's margin), each counted
once, and their widths: what CRAE and CRVE summarise (:mod:`.knudtson`)."""

from __future__ import annotations

import numpy as np

from .disc import Disc, zone_radii
from .segments import Segment

#: the pixels of a vessel inside the zone that give its calibre there
MIN_ZONE_PIXELS = 3


def zone_widths(segments: list[Segment], zone: np.ndarray, disc: Disc,
                image: np.ndarray | None = None,
                vessels: np.ndarray | None = None) -> list[float]:  # fmt: skip
    """The width of each vessel in the zone (:func:`zone_trunks`) over its trunk's points in
    the zone: with the photograph ``image``, its half-height width there
    (:func:`~.profile.half_height_width`; ``vessels``, the whole map, kept out of the retina
    beside it), else, or where the photograph shows no two clear edges, the map's width."""
    from .profile import half_height_width, least_depth, vessel_channel

    trunks = zone_trunks(segments, zone, disc)
    widths = [s.width(inside) for s, inside in trunks]
    if image is not None and trunks:
        channel = vessel_channel(image)
        floor = least_depth(channel)
        vessels = None if vessels is None else np.asarray(vessels, np.uint8)  # once
        seen = [half_height_width(channel, s.path, inside, w, vessels, floor)
                for (s, inside), w in zip(trunks, widths)]  # fmt: skip
        widths = [h if np.isfinite(h) else w for h, w in zip(seen, widths)]
    return [w for w in widths if np.isfinite(w)]


def zone_trunks(segments: list[Segment], zone: np.ndarray,
                disc: Disc) -> list[tuple[Segment, np.ndarray]]:  # fmt: skip
    """Each vessel in the zone once, as the protocol measures it, with its centreline points
    in the zone (bool): the segments with at least ``MIN_ZONE_PIXELS`` centreline points in the
    zone, joined where they meet there (a vessel and the branches it gives off in the zone are
    one vessel) or where one goes on where the other stopped (:func:`continues`: a vessel cut
    by another crossing it), and of each such vessel its trunk: the segment that enters across
    the zone's inner edge (if several, the longest in the zone), else its longest. Counted
    apart, a wide vessel's branches and its stretch beyond a crossing made it two or three of
    the six largest (docs/retina.md)."""
    _, inner, _ = zone_radii(disc)
    chosen, points = [], []
    for s in segments:
        rows, cols = s.path[:, 0].astype(int), s.path[:, 1].astype(int)
        inside = zone[rows, cols]
        if inside.sum() >= MIN_ZONE_PIXELS:
            chosen.append((s, inside))
            points.append((rows[inside], cols[inside]))
    if not chosen:
        return []
    vessels = joined(chosen, points, zone.shape, CROSSING_REACH * disc.diameter)
    trunks: dict[int, tuple] = {}
    for (s, inside), vessel in zip(chosen, vessels):
        r = np.hypot(s.path[:, 0] - disc.row, s.path[:, 1] - disc.col)
        rank = (bool(r.min() <= inner <= r.max()), int(inside.sum()))
        if vessel not in trunks or rank > trunks[vessel][0]:
            trunks[vessel] = (rank, s, inside)
    return [(s, inside) for _, s, inside in trunks.values()]


#: a crossing vessel cuts a segment over at most this share of a disc diameter (a vein of
#: about 150 um crossing at 45 degrees, with the skeleton's junctions on either side)
CROSSING_REACH = 0.2
#: a segment goes on where another stopped when their ends point this closely the same way
#: (cosine: within about 30 degrees)
SAME_WAY = 0.85
#: ... and up to this many times ``CROSSING_REACH`` away when it lies straight ahead (a
#: crossing at 30 degrees shares about 0.35 disc diameters of centreline)
ALONG = 2.0


def joined(chosen: list, points: list, shape, reach: float) -> list[int]:
    """A vessel number for each chosen segment: segments whose points in the zone touch, or
    of which one :func:`continues` the other within ``reach`` px, share one."""
    from scipy import ndimage

    drawn = np.zeros(shape, bool)
    for rows, cols in points:
        drawn[rows, cols] = True
    touching, _ = ndimage.label(ndimage.binary_dilation(drawn, np.ones((3, 3), bool)))
    parent = {i: i for i in range(len(chosen))}

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    first = {}
    for i, (rows, cols) in enumerate(points):
        label = int(touching[rows[0], cols[0]])
        parent[i] = root(first.setdefault(label, i))
    for i in range(len(chosen)):
        for j in range(i + 1, len(chosen)):
            if root(i) != root(j) and continues(chosen[i][0], chosen[j][0], reach):
                parent[root(j)] = root(i)
    return [root(i) for i in range(len(chosen))]


def continues(a: Segment, b: Segment, reach: float, look: int = 6) -> bool:
    """Whether one of ``b``'s ends lies within ``reach`` px of one of ``a``'s, or within
    ``ALONG`` times that straight ahead of it, and goes on the way ``a`` was going there (a
    vessel cut in two where another crosses it; at a slant the two share a longer stretch of
    centreline, which the gap ahead spans)."""
    for pa, da in ends(a, look):
        for pb, db in ends(b, look):
            gap = pb - pa
            far = float(np.hypot(*gap))
            ahead = far <= ALONG * reach and float(gap @ da) >= SAME_WAY * far
            if (far <= reach or ahead) and float(da @ -db) >= SAME_WAY:
                return True
    return False


def ends(s: Segment, look: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each end of a segment's centreline and the unit direction leaving it there."""
    path = np.asarray(s.path, float)
    k = min(look, len(path) - 1)
    out = []
    for end, inner_point in ((path[-1], path[-1 - k]), (path[0], path[k])):
        d = end - inner_point
        norm = np.hypot(*d)
        if norm > 0:
            out.append((end, d / norm))
    return out
