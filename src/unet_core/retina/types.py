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


def consistent_types(prob: np.ndarray, min_pixels: int = 3) -> np.ndarray:
    """``prob`` (3, H, W): background, artery, vein probabilities. Returns new probabilities in
    which each vessel pixel's type is its segment's: the artery probability summed over the
    segment's vessel pixels against the vein's; where a pixel's own answer differs, its artery
    and vein probabilities are swapped, so its background probability, its vessel/background
    decision and its confidence are kept. Segments of fewer than ``min_pixels`` vessel pixels,
    pixels nearest to a branch point and mixed cross-sections keep their own answers."""
    prob = np.asarray(prob, np.float32)
    out = prob.copy()
    vessel = prob[1:].max(0) > prob[0]
    skeleton = skeleton_of(vessel)
    _, parts, n = centreline_parts(skeleton)
    if n == 0:
        return out
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
    kind = np.where(decided, np.where(artery >= vein, 1, 2), 0)[owner].reshape(vessel.shape)
    swap = (kind > 0) & (kind != own)
    out[1][swap], out[2][swap] = prob[2][swap], prob[1][swap]
    return out
