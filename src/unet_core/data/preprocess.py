"""From raw pixels to network input: channel selection and per-image intensity normalisation.

Statistics are computed once per image on a strided subsample, then applied tile by tile, so a
huge (memory-mapped) image is never converted to float as a whole.
"""

from __future__ import annotations

import numpy as np

from ..model.card import Preprocessing

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_STAT_PIXELS = 262_144  # pixels sampled for the normalisation statistics (a 512 x 512 grid)


#: what an array of each number of spatial axes is called in messages
KINDS = {2: ("a 2-D image", "(H, W) or (H, W, C)"), 3: ("a volume", "(D, H, W) or (D, H, W, C)")}


def image_channels(image: np.ndarray, spatial_dims: int = 2) -> int:
    """Channels of a (H, W) or channel-last (H, W, C) image, or of a (D, H, W[, C]) volume for
    ``spatial_dims=3``; ValueError for other shapes."""
    if image.ndim == spatial_dims:
        return 1
    if image.ndim == spatial_dims + 1 and image.shape[-1] <= 4:
        return image.shape[-1]
    kind, shapes = KINDS[spatial_dims]
    raise ValueError(f"expected {kind} {shapes} with C <= 4, got shape {tuple(image.shape)}")


def check_channels(image: np.ndarray, mode: str, in_channels: int, spatial_dims: int = 2) -> None:
    """Raise a one-line ValueError if ``image`` is not an image (an array of 2 or 3 axes; a
    volume of 3 or 4 for ``spatial_dims=3``) or cannot feed a model with this channel mode."""
    if image is None or not hasattr(image, "shape") or not hasattr(image, "dtype"):
        raise ValueError(f"expected an image (an array), got {type(image).__name__}")
    if len(image.shape) not in (spatial_dims, spatial_dims + 1):
        kind, shapes = KINDS[spatial_dims]
        hint = " (a 3-D model segments volumes)" if spatial_dims == 3 else ""
        raise ValueError(f"expected {kind}, {shapes}, got shape {tuple(image.shape)}{hint}")
    if np.dtype(image.dtype).kind not in "biuf":
        raise ValueError(f"expected numbers for pixels, got dtype {image.dtype}")
    c = image_channels(image, spatial_dims)
    if mode == "rgb" and c not in (1, 3, 4):
        raise ValueError(f"this model expects an RGB or grayscale image, got {c} channels")
    if mode in ("gray", "green") and c not in (1, 3, 4):
        raise ValueError(f"this model expects a grayscale or RGB image, got {c} channels")
    if mode == "as_is" and c != in_channels:
        raise ValueError(f"this model expects {in_channels} channel(s), got {c}")


def select_channels(tile: np.ndarray, mode: str, spatial_dims: int = 2) -> np.ndarray:
    """(h, w[, C]) raw pixels -> (c, h, w) float32 with the model's channels; (d, h, w[, C])
    -> (c, d, h, w) for ``spatial_dims=3``."""
    x = tile
    if x.ndim == spatial_dims:
        x = x[None]
    else:
        if mode in ("rgb", "gray", "green") and x.shape[-1] == 4:
            x = x[..., :3]  # drop alpha
        if mode == "gray" and x.shape[-1] == 3:
            x = x.astype(np.float32, copy=False) @ _LUMA
            x = x[..., None]
        elif mode == "green" and x.shape[-1] >= 3:
            x = x[..., 1:2]  # converted alone, not with the other two
        x = np.moveaxis(x, -1, 0)
    x = x.astype(np.float32, copy=False)
    if mode == "rgb" and x.shape[0] == 1:  # grayscale or red-free into a colour model
        x = np.repeat(x, 3, axis=0)
    return np.ascontiguousarray(x)


def model_channels(image: np.ndarray, mode: str) -> np.ndarray:
    """The channels a model with this channel mode reads, as an (H, W) or (H, W, c) image that
    the same mode reads unchanged: the green channel of a photograph, its luminance, RGB
    without alpha (float32), or ``image`` itself where there is nothing to leave out. Worth it
    before resampling or equalising a whole image."""
    if mode == "as_is" or image.ndim == 2 or (mode == "rgb" and image.shape[-1] == 3):
        return image
    x = np.moveaxis(select_channels(image, mode), 0, -1)
    return x[..., 0] if x.shape[-1] == 1 else x


#: CLAHE at the model's scale: contextual regions of 64 px (an eighth of a DRIVE field of view),
#: scikit-image's default clip limit
CLAHE_KERNEL, CLAHE_CLIP = 64, 0.01


def equalize_local_contrast(image: np.ndarray) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (CLAHE) of each channel of an (H, W)
    or (H, W, c) image, float32 in [0, 1]: each channel's 0.5th-99.5th percentiles are mapped
    to [0, 1] first, so the result does not depend on the camera's gain, offset or bit depth.
    The whole image at once: regions of :data:`CLAHE_KERNEL` pixels, clip limit
    :data:`CLAHE_CLIP`."""
    from skimage.exposure import equalize_adapthist

    x = np.asarray(image, np.float32)
    channels = x[..., None] if x.ndim == 2 else x
    out = np.empty(channels.shape, np.float32)
    for c in range(channels.shape[-1]):
        ch = np.nan_to_num(channels[..., c], nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = np.percentile(ch[:: max(1, ch.shape[0] // 512), :: max(1, ch.shape[1] // 512)],
                               [0.5, 99.5])  # fmt: skip
        unit = np.clip((ch - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
        kernel = min(CLAHE_KERNEL, *ch.shape) if min(ch.shape) > 1 else 1
        out[..., c] = equalize_adapthist(unit, kernel_size=kernel, clip_limit=CLAHE_CLIP)
    return out[..., 0] if x.ndim == 2 else out


def local_contrast(image: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """``image`` as the card's ``local_contrast`` step leaves it: the model's channels
    (:func:`model_channels`) equalised, or ``image`` unchanged when the card has none."""
    if pre.local_contrast == "none":
        return image
    return equalize_local_contrast(model_channels(np.asarray(image), pre.channels))


class Normalizer:
    """Per-image intensity normalisation, fitted once, applied to (c, h, w) float32 tiles
    (or (c, d, h, w) tiles of a volume, ``spatial_dims=3``)."""

    def __init__(self, pre: Preprocessing, spatial_dims: int = 2):
        self.pre, self.spatial_dims = pre, spatial_dims
        self.offset: np.ndarray = np.zeros((1,) * (1 + spatial_dims), np.float32)
        self.scale: np.ndarray = np.ones((1,) * (1 + spatial_dims), np.float32)

    def fit(self, image: np.ndarray) -> Normalizer:
        """Compute offset/scale from a strided subsample of the whole raw image."""
        if self.pre.normalize == "none":
            return self
        nd = self.spatial_dims
        pixels = float(np.prod(image.shape[:nd]))
        root = np.sqrt if nd == 2 else np.cbrt
        step = max(1, int(root(pixels / _STAT_PIXELS)))
        box = (slice(None, None, step),) * nd
        sample = select_channels(np.asarray(image[box]), self.pre.channels, nd)
        flat = sample.reshape(sample.shape[0], -1).astype(np.float64)
        finite = np.isfinite(flat)
        if not finite.any():
            raise ValueError("the image has no finite pixel values")
        all_finite = bool(finite.all())
        if not all_finite:
            flat = np.where(finite, flat, np.nan)
        if self.pre.normalize == "zscore":
            lo = flat.mean(axis=1) if all_finite else np.nanmean(flat, axis=1)
            spread = flat.std(axis=1) if all_finite else np.nanstd(flat, axis=1)
        else:
            pct = np.percentile if all_finite else np.nanpercentile
            lo, hi = pct(flat, self.pre.percentiles, axis=1)
            spread = hi - lo
        spread = np.where(spread > 1e-8, spread, 1.0)
        axes = (-1, *[1] * self.spatial_dims)
        self.offset = lo.astype(np.float32).reshape(axes)
        self.scale = (1.0 / spread).astype(np.float32).reshape(axes)
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(c, h, w) float32 -> normalised (c, h, w) float32; NaN/inf become 0."""
        y = (x - self.offset) * self.scale
        return np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0, copy=False)


def preprocess(image: np.ndarray, pre: Preprocessing, spatial_dims: int = 2) -> np.ndarray:
    """Whole-image convenience: raw (H, W[, C]) -> normalised (c, H, W) float32 (after the
    card's local contrast step, if any); a (D, H, W[, C]) volume -> (c, D, H, W) for
    ``spatial_dims=3``."""
    if spatial_dims == 3:
        image = np.asarray(image)
        return Normalizer(pre, 3).fit(image)(select_channels(image, pre.channels, 3))
    image = local_contrast(np.asarray(image), pre)
    return Normalizer(pre).fit(image)(select_channels(image, pre.channels))
