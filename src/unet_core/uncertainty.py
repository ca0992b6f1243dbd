"""Where the model is unsure: the places a correction teaches the most (active learning)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def entropy(prob: np.ndarray) -> np.ndarray:
    """(classes, H, W) probabilities -> (H, W) float32 entropy scaled to [0, 1] (1: every
    class equally likely)."""
    prob = np.asarray(prob, np.float32)
    if prob.ndim != 3 or prob.shape[0] < 2:
        raise ValueError(f"expected (classes >= 2, H, W) probabilities, got shape {prob.shape}")
    p = np.clip(prob, 1e-7, 1.0)
    return (-(p * np.log(p)).sum(0) / np.log(prob.shape[0])).astype(np.float32)


def most_uncertain_region(
    uncertainty: np.ndarray, done: np.ndarray | None = None, window: int = 64
) -> tuple[int, int, float]:
    """Centre (row, col) and mean uncertainty of the ``window``-wide square that is most
    uncertain, counting pixels in ``done`` (already corrected) as certain."""
    u = np.asarray(uncertainty, np.float32)
    if done is not None:
        u = np.where(done, 0.0, u)
    size = max(1, min(window, *u.shape))
    mean = ndimage.uniform_filter(u, size=size, mode="constant")
    row, col = np.unravel_index(int(np.argmax(mean)), mean.shape)
    return int(row), int(col), float(mean[row, col])
