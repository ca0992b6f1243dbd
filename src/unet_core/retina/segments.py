"""A vessel map's centreline cut into segments: the skeleton's paths between branch points and
end points, each an ordered list of pixels with its calibre along the way."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

_EIGHT = np.ones((3, 3), int)
_STEPS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


@dataclass
class Segment:
    """One centreline path: ``path`` (n, 2) rows and columns in order, ``widths`` (n,) the
    vessel's width at each of them (``2 * distance to the background - 1``, px), ``label`` the
    class most of its pixels carry (1 for a plain vessel map; artery 1, vein 2)."""

    path: np.ndarray
    widths: np.ndarray
    label: int = 1

    @property
    def length(self) -> float:
        """Arc length (px): 1 per orthogonal step, sqrt(2) per diagonal one."""
        return float(np.sum(np.hypot(*np.diff(self.path, axis=0).T))) if len(self.path) > 1 \
            else 0.0  # fmt: skip

    @property
    def chord(self) -> float:
        """Distance between the two ends (px)."""
        return float(np.hypot(*(self.path[-1] - self.path[0])))

    def calibre(self, trim: float = 0.2) -> float:
        """The median width along the segment, the ``trim`` share at each end left out (where
        a branch point widens it); NaN with no width."""
        n = len(self.widths)
        cut = int(n * trim)
        inner = self.widths[cut : n - cut] if n - 2 * cut >= 1 else self.widths
        inner = inner[np.isfinite(inner)]
        return float(np.median(inner)) if inner.size else float("nan")


def skeleton_of(mask: np.ndarray) -> np.ndarray:
    from skimage.morphology import skeletonize

    return skeletonize(np.asarray(mask, bool))


def neighbours(skeleton: np.ndarray) -> np.ndarray:
    """(H, W) the number of 8-connected skeleton neighbours of each skeleton pixel (0 off it)."""
    count = ndimage.convolve(skeleton.astype(np.uint8), _EIGHT, mode="constant") - 1
    return np.where(skeleton, count, 0)


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
    from .vessels import distance_to_background

    mask = np.asarray(mask, bool)
    skeleton = skeleton_of(mask)
    count = neighbours(skeleton)
    branch = count >= 3
    parts, n = ndimage.label(skeleton & ~branch, structure=_EIGHT)
    out = []
    for index, found in enumerate(ndimage.find_objects(parts), start=1):
        if found is None:
            continue
        local = np.argwhere(parts[found] == index) + [s.start for s in found]
        path = _ordered(local)
        path = _joined(path, branch)
        if len(path) < 2 or _length(path) < min_length:
            continue
        rows, cols = path[:, 0].astype(int), path[:, 1].astype(int)
        widths = 2 * distance_to_background(mask, rows, cols) - 1
        label = 1
        if labels is not None:
            values = np.asarray(labels)[rows, cols]
            values = values[values > 0]
            label = int(np.bincount(values).argmax()) if values.size else 0
        out.append(Segment(path, widths, label))
    return out


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
