"""A vessel map's centreline cut into segments: the skeleton's paths between branch points and
end points, each an ordered list of pixels with its calibre along the way."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

_EIGHT = np.ones((3, 3), int)
_STEPS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


@dataclass
class Segment:
    """One centreline path: ``path`` (n, 2) rows and columns in order; ``areas`` (n,) the
    vessel pixels nearest to each of its points (a Voronoi share of the vessel: its width
    times its length there); ``label`` the class most of its points carry (1 for a plain
    vessel map; artery 1, vein 2)."""

    path: np.ndarray
    areas: np.ndarray
    label: int = 1

    @functools.cached_property
    def length(self) -> float:
        """Arc length of the smoothed centreline (px), taken once."""
        from .shape import arc_length

        return arc_length(self.path)

    @property
    def chord(self) -> float:
        """Distance between the two ends (px)."""
        return float(np.hypot(*(self.path[-1] - self.path[0])))

    def width(self, points: np.ndarray) -> float:
        """The vessel's width over the points ``points`` (indices or a bool mask): their area
        over their share of the length; NaN for none."""
        n = len(self.path)
        chosen = np.arange(n)[points]
        if chosen.size == 0 or n < 2:
            return float("nan")
        step = self.length / (n - 1)
        return float(self.areas[chosen].sum() / (chosen.size * step)) if step > 0 else \
            float("nan")  # fmt: skip

    def calibre(self, trim: float = 0.2) -> float:
        """The width over the segment, the ``trim`` share at each end left out (where a branch
        point or a vessel's end distorts it)."""
        n = len(self.path)
        cut = int(n * trim)
        return self.width(slice(cut, n - cut) if n - 2 * cut >= 2 else slice(None))


def skeleton_of(mask: np.ndarray) -> np.ndarray:
    from skimage.morphology import skeletonize

    return skeletonize(np.asarray(mask, bool))


def neighbours(skeleton: np.ndarray) -> np.ndarray:
    """(H, W) the number of 8-connected skeleton neighbours of each skeleton pixel (0 off it)."""
    count = ndimage.convolve(skeleton.astype(np.uint8), _EIGHT, mode="constant") - 1
    return np.where(skeleton, count, 0)


def centreline_parts(skeleton: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(neighbour counts, parts, n): the skeleton's paths between its branch points (3 or more
    neighbours), numbered 1..n in ``parts`` (0 elsewhere, branch points included)."""
    count = neighbours(skeleton)
    parts, n = ndimage.label(skeleton & (count < 3), structure=_EIGHT)
    return count, parts, n


def _walk(pixels: set, start: tuple[int, int]) -> list[tuple[int, int]]:
    """The pixels of one simple path (8-connected) in order from ``start``."""
    order, seen = [start], {start}
    current = start
    while True:
        step = next(((current[0] + dy, current[1] + dx) for dy, dx in _STEPS
                     if (current[0] + dy, current[1] + dx) in pixels
                     and (current[0] + dy, current[1] + dx) not in seen), None)  # fmt: skip
        if step is None:
            return order
        order.append(step)
        seen.add(step)
        current = step


def _ordered(coords: np.ndarray) -> np.ndarray:
    """A component's pixels in path order, from an end (a pixel with one neighbour in it)."""
    pixels = {(int(r), int(c)) for r, c in coords}

    def degree(p):
        return sum((p[0] + dy, p[1] + dx) in pixels for dy, dx in _STEPS)

    start = min(pixels, key=degree)
    return np.array(_walk(pixels, start), float)


def vessel_segments(mask: np.ndarray, labels: np.ndarray | None = None,
                    min_length: float = 5.0) -> list[Segment]:  # fmt: skip
    """The segments of a vessel ``mask`` (bool): its skeleton without the branch points (3 or
    more neighbours), one :class:`Segment` per remaining path at least ``min_length`` px long,
    each extended by the branch pixels it touches. ``labels`` (class indices, e.g. 1 artery,
    2 vein) give each segment the class of most of its centreline."""
    mask = np.asarray(mask, bool)
    skeleton = skeleton_of(mask)
    if not skeleton.any():
        return []
    count, parts, _ = centreline_parts(skeleton)
    branch = count >= 3
    area = owned_areas(mask, skeleton, count)
    out = []
    for index, found in enumerate(ndimage.find_objects(parts), start=1):
        if found is None:
            continue
        local = np.argwhere(parts[found] == index) + [s.start for s in found]
        path = _joined(_ordered(local), branch)
        if len(path) < 2 or _length(path) < min_length:
            continue
        rows, cols = path[:, 0].astype(int), path[:, 1].astype(int)
        label = 1
        if labels is not None:
            values = np.asarray(labels)[rows, cols]
            values = values[values > 0]
            label = int(np.bincount(values).argmax()) if values.size else 0
        out.append(Segment(path, area[rows, cols], label))
    return out


def owned_areas(mask: np.ndarray, skeleton: np.ndarray, count: np.ndarray) -> np.ndarray:
    """(H, W) float: for each skeleton pixel, the vessel pixels nearer to it than to any other
    (the distance transform of the centreline; a branch pixel's share is split between the
    segments that meet there); ``count``: :func:`neighbours` of the skeleton."""
    _, (rows, cols) = ndimage.distance_transform_edt(~skeleton, return_indices=True)
    owner = rows[mask] * mask.shape[1] + cols[mask]
    area = np.bincount(owner, minlength=mask.size).reshape(mask.shape).astype(float)
    return np.where(count >= 3, area / np.maximum(count, 1), area)


def _length(path: np.ndarray) -> float:
    return float(np.sum(np.hypot(*np.diff(path, axis=0).T)))


def _joined(path: np.ndarray, branch: np.ndarray) -> np.ndarray:
    """``path`` extended at each end by a branch pixel next to it, if any (so that segments
    meet at their branch points and none loses the step to it)."""
    H, W = branch.shape
    ends = []
    for end in (path[0], path[-1]):
        r, c = int(end[0]), int(end[1])
        near = [(r + dy, c + dx) for dy, dx in _STEPS
                if 0 <= r + dy < H and 0 <= c + dx < W and branch[r + dy, c + dx]]  # fmt: skip
        ends.append(np.array([near[0]], float) if near else np.empty((0, 2)))
    return np.concatenate([ends[0], path, ends[1]])
