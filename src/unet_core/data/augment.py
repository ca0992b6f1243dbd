"""Data augmentation with an injected ``np.random.Generator`` (never global randomness).

Images are float32 (C, H, W), labels integer (H, W) or a stack of label-like planes (K, H, W),
e.g. labels and per-pixel loss weights; a volume's are (C, D, H, W) and (D, H, W) (or
(K, D, H, W)). Geometric transforms move both with one field; labels are resampled with
nearest neighbour and keep their values. A volume is deformed elastically in 3-D (along z in
proportion to its extent there), flipped and rotated in-plane and flipped along z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

#: the largest 8-bit intensity (JPEG pixels), not a label value
_UINT8_MAX = 255


def elastic_field(
    shape: tuple[int, ...], rng: np.random.Generator, sigma: float = 10.0, grid: int = 3
) -> np.ndarray:
    """Smooth displacements (ndim, *shape): random vectors on a coarse ``grid`` x ``grid``
    (x ``grid``) grid drawn from N(0, sigma) pixels, interpolated bicubically to every pixel
    (paper Sec. 3.1; Cicek et al. for volumes). Along a volume's first axis the displacement
    is scaled by its extent relative to the in-plane one (few thin sections move little)."""
    nd = len(shape)
    coarse = rng.normal(0.0, sigma, size=(nd, *(grid,) * nd))
    if nd == 3:
        coarse[0] *= min(1.0, shape[0] / max(shape[1:]))
    # grid_mode=False maps the corner nodes onto the corner pixels
    zoom = [n / grid for n in shape]
    field = np.stack(
        [ndimage.zoom(coarse[k], zoom, order=3, mode="nearest", grid_mode=False) for k in range(nd)]
    )
    return field.astype(np.float32)


def warp(
    image: np.ndarray, labels: np.ndarray | None, field: np.ndarray | None, zoom: float = 1.0
) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply displacements (or none) and an in-plane zoom about the centre (>1 magnifies) to a
    (C, H, W) image (bicubic) and its (H, W) labels (nearest); or to a (C, D, H, W) volume and
    its (D, H, W) labels (``field`` with 3 components)."""
    nd = 2 if field is None else len(field)
    spatial = image.shape[-nd:]
    axes = [np.arange(n, dtype=np.float32) for n in spatial]
    for a in (-2, -1):  # the zoom is in-plane
        n = spatial[a]
        axes[a] = (axes[a] - (n - 1) / 2) / zoom + (n - 1) / 2
    grids = np.meshgrid(*axes, indexing="ij")
    coords = np.stack(grids) if field is None else np.stack([g + f for g, f in zip(grids, field)])
    out = np.stack([ndimage.map_coordinates(c, coords, order=3, mode="mirror") for c in image])
    if labels is None:
        return out.astype(np.float32), None
    planes = labels.reshape(-1, *spatial)
    lab = np.stack([ndimage.map_coordinates(p, coords, order=0, mode="mirror") for p in planes])
    return out.astype(np.float32), lab.reshape(labels.shape).astype(labels.dtype)


def dihedral(image: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k-th (0..7) flip/rotation of the last two axes of both arrays."""
    image, labels = np.rot90(image, k % 4, axes=(-2, -1)), np.rot90(labels, k % 4, axes=(-2, -1))
    if k >= 4:
        image, labels = image[..., ::-1], labels[..., ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(labels)


def intensity(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Random brightness, contrast and gamma on a normalised (C, H, W) image."""
    if strength <= 0:
        return image
    contrast = np.exp(rng.normal(0, 0.15 * strength))
    brightness = rng.normal(0, 0.15 * strength)
    gamma = np.exp(rng.normal(0, 0.2 * strength))
    lo, hi = image.min(), image.max()
    span = max(hi - lo, 1e-6)
    x = ((image - lo) / span) ** gamma * span + lo  # gamma on the image's own range
    return ((x - x.mean()) * contrast + x.mean() + brightness).astype(np.float32)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of each channel (a softer lens, or a JPEG-smoothed photograph)."""
    return np.stack([ndimage.gaussian_filter(c, sigma, mode="mirror") for c in image])


def illumination(image: np.ndarray, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """Add a smooth brightness gradient (uneven illumination or vignetting) to a normalised
    image: a random-direction ramp plus a radial term, each up to ``amplitude`` in size."""
    H, W = image.shape[-2:]
    yy, xx = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * yy + np.sin(angle) * xx
    field = rng.uniform(-amplitude, amplitude) * ramp
    field = field + rng.uniform(-amplitude, amplitude) * (yy**2 + xx**2) / 2
    return (image + field.astype(np.float32)).astype(np.float32)


def noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Gaussian noise of a random strength up to ``sigma`` (a noisier sensor)."""
    return (image + rng.normal(0, rng.uniform(0, sigma), image.shape)).astype(np.float32)


def jpeg(image: np.ndarray, rng: np.random.Generator, worst: int = 30) -> np.ndarray:
    """Each channel through JPEG at a random quality between ``worst`` and 95, on its own
    8-bit range: the blocks and ringing of a compressed photograph."""
    import io

    from PIL import Image

    quality = int(rng.integers(worst, 96))
    out = np.empty_like(image)
    for i, c in enumerate(image):
        lo, hi = float(c.min()), float(c.max())
        span = max(hi - lo, 1e-6)
        buf = io.BytesIO()
        Image.fromarray(np.round((c - lo) / span * _UINT8_MAX).astype(np.uint8)).save(
            buf, format="JPEG", quality=quality)  # fmt: skip
        buf.seek(0)
        out[i] = np.asarray(Image.open(buf), np.float32) / _UINT8_MAX * span + lo
    return out


def shrunk(image: np.ndarray, factor: float) -> np.ndarray:
    """A (C, H, W) image as a camera ``factor`` times coarser takes it: each channel shrunk
    (anti-aliased, linear); :func:`enlarged` brings it back to its size."""
    from ..base.arrays import resize

    h, w = image.shape[-2:]
    size = (max(8, round(h / factor)), max(8, round(w / factor)))
    return np.ascontiguousarray(np.moveaxis(resize(np.moveaxis(image, 0, -1), size), -1, 0))


def enlarged(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A shrunk (C, h, w) image resampled (linear) back to ``shape``, as a small photograph is
    enlarged to a model's scale before it is segmented."""
    from ..base.arrays import resize

    return np.ascontiguousarray(np.moveaxis(resize(np.moveaxis(image, 0, -1), shape), -1, 0))


def colour(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Another sensor's colour on a normalised (3, H, W) image: a gamma of its own for each
    channel, then the channels mixed (crosstalk: each a random blend dominated by itself),
    each renormalised as the model's input is (per-channel z-score)."""
    x = np.empty_like(image)
    for c in range(image.shape[0]):
        lo, hi = image[c].min(), image[c].max()
        span = max(hi - lo, 1e-6)
        x[c] = ((image[c] - lo) / span) ** np.exp(rng.normal(0, 0.25 * strength)) * span + lo
    mix = np.eye(3) + np.abs(rng.normal(0, 0.2 * strength, (3, 3))) * (1 - np.eye(3))
    x = np.tensordot(mix / mix.sum(1, keepdims=True), x, axes=1)
    mean, std = x.mean(axis=(1, 2), keepdims=True), x.std(axis=(1, 2), keepdims=True)
    return ((x - mean) / np.maximum(std, 1e-6)).astype(np.float32)


@dataclass(frozen=True)
class Augmentation:
    """Which augmentations to apply and how strongly.

    elastic_p, elastic_sigma, elastic_grid: the paper's elastic deformation.
    dihedral: random flips and 90-degree rotations. intensity: 0 disables, 1 is moderate.
    Other cameras: ``scale_jitter`` zooms by a factor in [1/(1+s), 1+s] (log-uniform);
    ``blur_p``/``blur_sigma`` blur with a sigma up to ``blur_sigma`` px; ``illumination`` adds a
    brightness gradient up to that amplitude (in units of the normalised image's std).
    ``gray_p``: with this probability every channel becomes a copy of the green (middle) one,
    which is what a grayscale or red-free photograph looks like to a colour model.
    ``noise``: Gaussian noise up to that std (normalised units), in a share ``noise_p`` of
    the patches; ``jpeg_p``: with this probability JPEG compression at quality 30-95.
    ``coarse_p``: with this probability the patch as a camera up to ``coarse`` times coarser
    takes it (a small photograph): shrunk, its noise and JPEG added at that size, then
    enlarged back, so that the blocks and noise are as large as on a small compressed
    photograph enlarged to the model's scale; the labels keep the fine vessels.
    ``colour``: another sensor's colour (:func:`colour`: per-channel gammas and crosstalk) in
    every colour patch, that strong (0: none).
    """

    elastic_p: float = 0.5
    elastic_sigma: float = 10.0
    elastic_grid: int = 3
    dihedral: bool = True
    intensity: float = 1.0
    scale_jitter: float = 0.0
    blur_p: float = 0.0
    blur_sigma: float = 1.0
    illumination: float = 0.0
    gray_p: float = 0.0
    noise: float = 0.0
    noise_p: float = 1.0
    jpeg_p: float = 0.0
    coarse_p: float = 0.0
    coarse: float = 2.0
    colour: float = 0.0

    def __post_init__(self):
        if self.coarse < 1:
            raise ValueError(f"coarse (how many times coarser) must be >= 1, got {self.coarse}")

    def __call__(
        self, image: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
        volume: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Augment a (C, H, W) float32 image and its (H, W) labels together (a (C, D, H, W)
        volume and its (D, H, W) labels with ``volume``)."""
        nd = 3 if volume else 2
        if self.dihedral:
            image, labels = dihedral(image, labels, int(rng.integers(8)))
            if volume and rng.random() < 0.5:  # and upside down along z
                image = np.ascontiguousarray(image[:, ::-1])
                labels = np.ascontiguousarray(labels[..., ::-1, :, :])
        field, zoom = None, 1.0
        if self.elastic_p > 0 and rng.random() < self.elastic_p:
            shape = image.shape[-nd:]
            field = elastic_field(shape, rng, self.elastic_sigma, self.elastic_grid)
        if self.scale_jitter > 0:
            zoom = float(np.exp(rng.uniform(-1, 1) * np.log1p(self.scale_jitter)))
        if field is not None or zoom != 1.0:
            image, labels = warp(image, labels, field, zoom)
        if self.blur_p > 0 and rng.random() < self.blur_p:
            image = blur(image, rng.uniform(0.3, 1.0) * self.blur_sigma)
        if self.illumination > 0 and not volume:
            image = illumination(image, rng, self.illumination)
        if self.colour > 0 and image.shape[0] == 3:
            image = colour(image, rng, self.colour)
        image = intensity(image, rng, self.intensity)
        size = image.shape[-2:]
        if self.coarse_p > 0 and not volume and rng.random() < self.coarse_p:
            image = shrunk(image, float(np.exp(rng.uniform(0, np.log(self.coarse)))))
        if self.noise > 0 and (self.noise_p >= 1 or rng.random() < self.noise_p):
            image = noise(image, rng, self.noise)
        if self.jpeg_p > 0 and not volume and rng.random() < self.jpeg_p:
            image = jpeg(image, rng)
        if image.shape[-2:] != size:
            image = enlarged(image, size)
        if self.gray_p > 0 and rng.random() < self.gray_p and image.shape[0] == 3:
            image = np.repeat(image[1:2], 3, axis=0)
        return image, labels
