"""A picture a person can look at: the image with its mask drawn over it."""

from __future__ import annotations

import numpy as np

from .base.labels import IGNORE_LABEL

#: the largest 8-bit intensity (pixel brightness, not a label value)
_UINT8_MAX = 255
_COLOURS = np.array(
    [[0, 0, 0], [40, 255, 90], [40, 200, 255], [255, 220, 0], [255, 40, 40], [220, 60, 255]],
    np.float32,
)


def to_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W[, C]) image of any dtype -> (H, W, 3) uint8, stretched between its 0.5/99.5 %."""
    x = np.asarray(image, np.float32)
    if x.ndim == 3:
        x = x[..., :3] if x.shape[-1] >= 3 else np.repeat(x[..., :1], 3, -1)
    else:
        x = np.repeat(x[..., None], 3, -1)
    finite = x[np.isfinite(x)]
    lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0)
    x = (np.nan_to_num(x, nan=lo) - lo) / max(hi - lo, 1e-6)
    return (np.clip(x, 0, 1) * _UINT8_MAX).astype(np.uint8)


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The image in RGB with each class but the background tinted; ``mask`` holds class indices
    (pixels of the ignore value are left as they are)."""
    rgb = to_uint8_rgb(image).astype(np.float32)
    mask = np.asarray(mask)
    classes = np.where(mask == IGNORE_LABEL, 0, mask).astype(np.int64) % len(_COLOURS)
    tint = _COLOURS[classes]
    on = (classes > 0)[..., None]
    out = np.where(on, (1 - alpha) * rgb + alpha * tint, rgb)
    return out.astype(np.uint8)
