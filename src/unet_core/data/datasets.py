"""Training samples and random patches sized for the network.

A :class:`Sample` is one preprocessed image with its integer labels. :class:`PatchSampler`
draws batches of patches, centring a share of them on foreground pixels so that thin vessels
and membranes are seen often enough, and augments them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..base.arrays import axes_of, read_box, resize
from ..model.card import Preprocessing
from .augment import Augmentation
from .preprocess import preprocess


@dataclass
class Sample:
    """One training image.

    image : float32 (C, H, W), already normalised ((C, D, H, W) for a volume).
    labels : integer (H, W) class indices ((D, H, W)); ``ignore_label`` marks unlabelled
        pixels (in a volume painted on a few slices, every voxel of the others).
    roi : bool (H, W) where patch centres may fall (e.g. the fundus field of view), or None.
    loss_weights : float32 (H, W) how much each pixel counts in the loss (more where a user
        corrected), or None.
    """

    image: np.ndarray
    labels: np.ndarray
    name: str = ""
    roi: np.ndarray | None = None
    raw: np.ndarray | None = field(default=None, repr=False)  # the unnormalised image
    loss_weights: np.ndarray | None = field(default=None, repr=False)


def make_sample(
    raw: np.ndarray,
    labels: np.ndarray,
    pre: Preprocessing,
    name: str = "",
    roi: np.ndarray | None = None,
) -> Sample:
    """Preprocess a raw (H, W[, C]) image (or a (D, H, W[, C]) volume, whose labels are
    (D, H, W)) and check its labels match."""
    image = preprocess(raw, pre, spatial_dims=np.ndim(labels))
    if labels.shape != image.shape[1:]:
        raise ValueError(f"{name}: labels {labels.shape} do not match image {image.shape[1:]}")
    return Sample(image, labels.astype(np.int64), name, roi, raw)


def rescale_sample(sample: Sample, factor: float, pre: Preprocessing) -> Sample:
    """``sample`` resampled by ``factor`` as inference would resample it: the raw image
    bilinearly, then normalised; labels, roi and loss weights with nearest neighbour."""
    if sample.raw is None:
        raise ValueError(f"{sample.name}: rescaling needs the raw image")
    H, W = sample.labels.shape
    size = (max(1, round(H * factor)), max(1, round(W * factor)))
    raw = resize(np.asarray(sample.raw), size)
    labels = resize(sample.labels, size, order=0).astype(np.int64)
    roi = None if sample.roi is None else resize(sample.roi, size, order=0) > 0.5
    out = make_sample(raw, labels, pre, sample.name, roi)
    if sample.loss_weights is not None:
        out.loss_weights = resize(sample.loss_weights, size, order=0)
    return out


class PatchSampler:
    """Random (image, label) patches for a network with the given input/output patch sizes.

    Parameters
    ----------
    samples
        The training images.
    in_size, out_size
        Patch edge at the network's input and output (equal for ``padding="same"``); per
        axis (tuples) for volumes.
    foreground_p
        Share of patches centred on a labelled non-background pixel.
    augment
        Applied to each patch at input size; labels are then centre-cropped to ``out_size``.
    ignore_label
        Label of unlabelled pixels (never used as a foreground centre).
    corrected_p
        Share of patches centred on a pixel whose loss weight is above 1 (one the user
        corrected), drawn before ``foreground_p``.
    """

    def __init__(
        self,
        samples: list[Sample],
        in_size: int | tuple[int, ...],
        out_size: int | tuple[int, ...],
        *,
        foreground_p: float = 0.5,
        augment: Augmentation | None = None,
        ignore_label: int | None = None,
        corrected_p: float = 0.0,
    ):
        if not samples:
            raise ValueError("no training samples")
        self.samples = samples
        self.in_size, self.out_size = in_size, out_size
        self.foreground_p = foreground_p
        self.augment = augment
        self.ignore_label = ignore_label
        self.corrected_p = corrected_p
        self._fg = [self._where(s, foreground=True) for s in samples]
        self._fixed = [np.flatnonzero(s.loss_weights > 1) if s.loss_weights is not None
                       and corrected_p else np.zeros(0, np.int64) for s in samples]  # fmt: skip
        self._any = [self._where(s, foreground=False) for s in samples]
        sizes = np.array([len(a) for a in self._any], float)
        self._p = sizes / sizes.sum()

    def _where(self, s: Sample, foreground: bool) -> np.ndarray:
        ok = s.labels != self.ignore_label if self.ignore_label is not None else True
        ok = np.ones(s.labels.shape, bool) & ok
        if s.roi is not None:
            ok &= s.roi
        if foreground:
            ok &= s.labels > 0
        idx = np.flatnonzero(ok)
        return idx if len(idx) or foreground else np.arange(s.labels.size)

    def patch(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """One augmented patch: (C, in, in) float32 image, (out, out) int64 labels and, when the
        sample has them, (out, out) float32 loss weights."""
        i = int(rng.choice(len(self.samples), p=self._p))
        s = self.samples[i]
        if self.corrected_p and len(self._fixed[i]) and rng.random() < self.corrected_p:
            pool = self._fixed[i]
        else:
            pool = (self._fg[i] if len(self._fg[i]) and rng.random() < self.foreground_p
                    else self._any[i])  # fmt: skip
        nd = s.labels.ndim
        centre = np.unravel_index(pool[rng.integers(len(pool))], s.labels.shape)
        size_in, size_out = axes_of(self.in_size, nd), axes_of(self.out_size, nd)
        start = tuple(int(c) - n // 2 for c, n in zip(centre, size_in))
        if nd == 3:  # the labelled voxel anywhere in the middle half of the patch: slices
            # painted at a regular spacing must not sit at fixed depths of every patch, or the
            # network learns those depths (from the zero padding) and nothing between them
            start = tuple(int(s0 + rng.integers(-(n // 4), n // 4 + 1))
                          for s0, n in zip(start, size_out))  # fmt: skip
        img = read_box(s.image, start, size_in, first=1)
        lab = read_box(s.labels, start, size_in)
        if s.loss_weights is not None:  # they travel with the labels as a second plane
            w = read_box(s.loss_weights, start, size_in)
            lab = np.stack([lab.astype(np.float32), w.astype(np.float32)])
        img = np.ascontiguousarray(img)
        if self.augment is not None:
            img, lab = (self.augment(img, lab, rng, volume=True) if nd == 3
                        else self.augment(img, lab, rng))  # fmt: skip
        crop = tuple(slice((i - o) // 2, (i - o) // 2 + o) for i, o in zip(size_in, size_out))
        lab = np.ascontiguousarray(lab[(Ellipsis, *crop)])
        if s.loss_weights is not None:
            return img, lab[0].astype(np.int64), lab[1]
        return img, lab, None

    def batch(
        self, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(n, C, in, in) float32 images, (n, out, out) int64 labels, (n, out, out) loss weights
        or None when no sample has them (1 where a sample has none)."""
        patches = [self.patch(rng) for _ in range(n)]
        images, labels = np.stack([p[0] for p in patches]), np.stack([p[1] for p in patches])
        if all(p[2] is None for p in patches):
            return images, labels, None
        ones = np.ones(labels.shape[1:], np.float32)
        return images, labels, np.stack([ones if p[2] is None else p[2] for p in patches])
