"""A foreign package's pre- and postprocessing steps (:class:`~.foreign_rdf.Step`), as
bioimage.io defines them: the input's as a normaliser fitted once on the whole image (the
per-image statistics of ``zero_mean_unit_variance`` and ``scale_range``) and applied to every
box the sliding window reads; the output's in torch, on every tile (so only steps that look at
one pixel at a time: a per-image statistic of the output cannot be tiled)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..data.preprocess import select_channels
from .checks import file_error
from .foreign_rdf import Step

#: pixels the per-image statistics are computed on (a strided subsample above it)
STAT_PIXELS = 1 << 22
PER_IMAGE = ("zero_mean_unit_variance", "scale_range")
POINTWISE = ("fixed_zero_mean_unit_variance", "scale_linear", "clip", "binarize", "sigmoid",
             "ensure_dtype")  # fmt: skip
OUTPUT_ONLY = ("softmax",)


def check_steps(path: Path, pre: list[Step], post: list[Step]) -> None:
    """A one-line ModelFileError for a step this tool does not run."""
    for where, found, known in (("preprocessing", pre, PER_IMAGE + POINTWISE),
                                ("postprocessing", post, POINTWISE + OUTPUT_ONLY)):  # fmt: skip
        for step in found:
            if step.name not in known:
                why = (" (statistics of the whole output, which a tiled prediction does not "
                       "have)" if step.name in PER_IMAGE else "")  # fmt: skip
                raise file_error(f"{path.name}: its {where} step {step.name!r} is not one "
                                 f"napari-unet runs{why}")  # fmt: skip


def _axes(kwargs: dict) -> tuple[int, ...]:
    """The axes of a (c, h, w) array a statistic is taken over (all when none are named)."""
    axes = kwargs.get("axes")
    if axes is None:
        return (0, 1, 2)
    names = set(axes) if isinstance(axes, str) else {str(a) for a in axes}
    chosen = (0,) if names & {"c", "channel"} else ()
    return chosen + ((1, 2) if names & {"x", "y"} else ())


def _per_channel(value, ndim: int = 3) -> np.ndarray:
    array = np.asarray(value, np.float32)
    return array.reshape(-1, *([1] * (ndim - 1))) if array.ndim else array


class PackageNormalizer:
    """The package's preprocessing, fitted on a whole (H, W[, C]) image and applied to
    (c, h, w) float32 boxes of it (the interface of :class:`~unet_core.data.preprocess.
    Normalizer`)."""

    spatial_dims = 2

    def __init__(self, pre: list[Step], channels: str):
        self.pre, self.channels = pre, channels
        self.calls: list[Callable[[np.ndarray], np.ndarray]] = []

    def fit(self, image) -> PackageNormalizer:
        pixels = float(np.prod(image.shape[:2]))
        step = max(1, int(np.sqrt(pixels / STAT_PIXELS)))
        sample = np.asarray(image[::step, ::step])
        x = select_channels(sample, self.channels).astype(np.float32)
        self.calls = []
        for s in self.pre:
            call = _input_call(s, x)
            x = call(x)
            self.calls.append(call)
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32, copy=False)
        for call in self.calls:
            x = call(x)
        return np.nan_to_num(x.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)


def _input_call(step: Step, x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    k = step.kwargs
    eps = float(k.get("eps", 1e-6))
    if step.name == "zero_mean_unit_variance":
        axes = _axes(k)
        mean = np.nanmean(x, axis=axes, keepdims=True, dtype=np.float64)
        std = np.nanstd(x, axis=axes, keepdims=True, dtype=np.float64)
        mean, scale = mean.astype(np.float32), (1 / (std + eps)).astype(np.float32)
        return lambda t: (t - mean) * scale
    if step.name == "scale_range":
        axes = _axes(k)
        qs = [float(k.get("min_percentile", 0.0)), float(k.get("max_percentile", 100.0))]
        lo, hi = np.nanpercentile(x.astype(np.float64), qs, axis=axes, keepdims=True)
        lo, scale = lo.astype(np.float32), (1 / (hi - lo + eps)).astype(np.float32)
        return lambda t: (t - lo) * scale
    return _numpy_pointwise(step)


def _numpy_pointwise(step: Step) -> Callable[[np.ndarray], np.ndarray]:
    k = step.kwargs
    if step.name == "fixed_zero_mean_unit_variance":
        mean, std = _per_channel(k.get("mean", 0.0)), _per_channel(k.get("std", 1.0))
        eps = float(k.get("eps", 1e-6))
        return lambda t: (t - mean) / (std + eps)
    if step.name == "scale_linear":
        gain, offset = _per_channel(k.get("gain", 1.0)), _per_channel(k.get("offset", 0.0))
        return lambda t: t * gain + offset
    if step.name == "clip":
        low, high = k.get("min"), k.get("max")
        return lambda t: np.clip(t, low, high)
    if step.name == "binarize":
        threshold = _per_channel(k.get("threshold", 0.5))
        return lambda t: (t > threshold).astype(np.float32)
    if step.name == "sigmoid":
        return lambda t: 1 / (1 + np.exp(-t))
    if step.name == "ensure_dtype":
        dtype = np.dtype(str(k.get("dtype", "float32")))
        return lambda t: t.astype(dtype).astype(np.float32)
    raise ValueError(f"no step {step.name!r}")


def output_call(post: list[Step]) -> Callable[[torch.Tensor], torch.Tensor]:
    """The postprocessing of (B, c, h, w) output tiles, in torch (so that a fine-tuning
    step's gradient goes through it)."""
    calls = [_torch_pointwise(s) for s in post]

    def apply(t: torch.Tensor) -> torch.Tensor:
        for call in calls:
            t = call(t)
        return t

    return apply


def _torch_pointwise(step: Step) -> Callable[[torch.Tensor], torch.Tensor]:
    k = step.kwargs

    def channel(value) -> torch.Tensor:
        array = np.asarray(value, np.float32)
        return torch.as_tensor(array.reshape(1, -1, 1, 1) if array.ndim else array)

    if step.name == "fixed_zero_mean_unit_variance":
        mean, std = channel(k.get("mean", 0.0)), channel(k.get("std", 1.0))
        eps = float(k.get("eps", 1e-6))
        return lambda t: (t - mean.to(t)) / (std.to(t) + eps)
    if step.name == "scale_linear":
        gain, offset = channel(k.get("gain", 1.0)), channel(k.get("offset", 0.0))
        return lambda t: t * gain.to(t) + offset.to(t)
    if step.name == "clip":
        return lambda t: torch.clamp(t, k.get("min"), k.get("max"))
    if step.name == "binarize":
        threshold = channel(k.get("threshold", 0.5))
        return lambda t: (t > threshold.to(t)).to(t.dtype)
    if step.name == "sigmoid":
        return torch.sigmoid
    if step.name == "softmax":
        return lambda t: torch.softmax(t, dim=1)
    return lambda t: t  # ensure_dtype: the output is read as float32 anyway
