"""One vessel, one type: an artery/vein map's types made consistent along each vessel segment.

A network names each pixel's type from what it sees around it; along a thin or faint stretch
of one vessel its answer can flip between artery and vein, though a vessel between two branch
points is one or the other. :func:`consistent_types` gives every vessel pixel the type its
whole segment (the skeleton's path between branch points, with the vessel pixels nearest to
it) is likelier to be, weighing each pixel's artery and vein probabilities. Pixels keep their
own answer where segments meet (nearest to a branch point or a crossing) and where a
cross-section holds both types in good measure (``MIXED``: an artery and a vein touching
along their length share one skeleton there). A pixel joins only a segment of its own
connected vessel, never one across a gap of background. Whether a pixel is a vessel is left
as it is."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .segments import centreline_parts, skeleton_of

#: a centreline point whose nearest vessel pixels are at least this share of each type lies
#: where two vessels touch: its pixels keep their own types
MIXED = 0.25
#: below this scale (a photograph larger than the model's), the segments are found on the
#: map brought to it: the scale the network read the photograph at
FULL_SIZE_ABOVE = 0.8


def consistent_types(prob: np.ndarray, min_pixels: int = 3, scale: float = 1.0) -> np.ndarray:
    """``prob`` (3, H, W): background, artery, vein probabilities. Returns new probabilities in
    which each vessel pixel's type is its segment's: the artery probability summed over the
    segment's vessel pixels against the vein's; where a pixel's own answer differs, its artery
    and vein probabilities are swapped, so its background probability, its vessel/background
    decision and its confidence are kept. Segments of fewer than ``min_pixels`` vessel pixels,
    pixels nearest to a branch point and mixed cross-sections keep their own answers.

    ``scale``: the factor that brought the photograph to the scale its probabilities were
    made at (the network's); below :data:`FULL_SIZE_ABOVE` the segments and their types are
    found on the map resampled by it (where a vessel is as wide as the network saw it: a
    quarter of the time on a 2336 x 3504 photograph) and each pixel of the full map takes the
    type found nearest to it there."""
    prob = np.asarray(prob, np.float32)
    out = prob.copy()
    small = prob if scale >= FULL_SIZE_ABOVE else _resampled(prob, scale)
    kind = segment_types(small, min_pixels)
    if small is not prob:
        kind = _spread(kind, small[1:].max(0) > small[0], prob.shape[1:])
    own = np.where(prob[1] >= prob[2], 1, 2)
    swap = (kind > 0) & (kind != own) & (prob[1:].max(0) > prob[0])
    out[1][swap], out[2][swap] = prob[2][swap], prob[1][swap]
    return out


def segment_types(prob: np.ndarray, min_pixels: int = 3) -> np.ndarray:
    """(H, W) int8: the type of each vessel pixel's segment (1 artery, 2 vein; see
    :func:`consistent_types`), 0 where a pixel keeps its own answer or is background."""
    vessel = prob[1:].max(0) > prob[0]
    skeleton = skeleton_of(vessel)
    _, parts, n = centreline_parts(skeleton)
    if n == 0:
        return np.zeros(vessel.shape, np.int8)
    _, (rows, cols) = ndimage.distance_transform_edt(~skeleton, return_indices=True)
    vessels, _ = ndimage.label(vessel, structure=np.ones((3, 3)))
    own = np.where(prob[1] >= prob[2], 1, 2)
    mine = vessel & (vessels == vessels[rows, cols])  # the centreline of its own vessel
    point = (rows * vessel.shape[1] + cols)[mine]
    typed = [np.bincount(point[own[mine] == k], minlength=vessel.size) for k in (1, 2)]
    total = np.maximum(typed[0] + typed[1], 1)
    mixed = np.minimum(typed[0], typed[1]) / total >= MIXED
    mine[mine] = ~mixed[point]
    owner = np.where(mine, parts[rows, cols], 0).ravel()  # 0: kept as it is
    artery = np.bincount(owner, prob[1].ravel(), minlength=n + 1)
    vein = np.bincount(owner, prob[2].ravel(), minlength=n + 1)
    decided = np.bincount(owner, minlength=n + 1) >= min_pixels
    decided[0] = False
    return np.where(decided, np.where(artery >= vein, 1, 2), 0)[owner].reshape(vessel.shape) \
        .astype(np.int8)  # fmt: skip


def _resampled(prob: np.ndarray, scale: float) -> np.ndarray:
    """(c, H, W) -> (c, h, w) resampled by ``scale`` < 1: each small pixel the mean of the
    pixels it covers."""
    H, W = prob.shape[1:]
    rows = (np.arange(max(1, round(H * scale))) * H / max(1, round(H * scale))).astype(int)
    cols = (np.arange(max(1, round(W * scale))) * W / max(1, round(W * scale))).astype(int)
    x = np.add.reduceat(prob, rows, axis=1) / np.diff(rows, append=H)[:, None]
    return np.add.reduceat(x, cols, axis=2) / np.diff(cols, append=W)


def _spread(kind: np.ndarray, vessel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``kind`` found on a smaller map whose vessels are ``vessel``, at ``shape`` (nearest
    pixel centres): each small background pixel next to a vessel (sharing a side with it)
    first takes the type of the vessel pixel nearest to it, so that a full-size vessel's edge,
    wider than the small one's, is typed as its middle is; no farther, where a thin vessel the
    small map lost may run beside one of the other type."""
    if vessel.any():
        dist, (rows, cols) = ndimage.distance_transform_edt(~vessel, return_indices=True)
        kind = np.where(dist <= 1.0, kind[rows, cols], 0).astype(np.int8)
    h, w = kind.shape
    rows = np.minimum(((np.arange(shape[0]) + 0.5) * h / shape[0]).astype(int), h - 1)
    cols = np.minimum(((np.arange(shape[1]) + 0.5) * w / shape[1]).astype(int), w - 1)
    return kind[rows[:, None], cols[None, :]]
