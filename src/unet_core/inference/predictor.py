"""Prediction of one image: numpy image in, float32 class probabilities out, in three stages.

1. The model's task prepares the image once (:meth:`Predictor.prepare`): its context (the
   fundus field of view, say) and the resampling factor.
2. The image, resampled and normalised, goes through the :class:`~.window.SlidingWindow`, which
   tiles it with mirror padding and calls the network on batches of tiles; it knows nothing of
   preprocessing.
3. The probabilities are resampled back to the image and the task finishes them
   (:meth:`~unet_core.tasks.task.Task.finish`).

:meth:`Predictor.run` returns a :class:`Predicted` that carries the probabilities, the scale
used and the context, so no caller asks for them twice and no module keeps per-image state.
The caller's model is never moved or changed: the network runs as a copy in its inference form.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np
import torch

from ..base.events import Progress
from ..base.jobs import drain
from ..data.preprocess import (
    Normalizer,
    check_channels,
    select_channels,
)
from ..model.card import card_of
from ..model.external import ExternalNetwork
from ..model.unet import UNet
from ..tasks import task_of
from ..tasks.task import ImageContext, checked_scale
from .external import plan_external_window
from .network import NetworkCall
from .scales import run_scales
from .sizing import plan_window
from .window import Forward

log = logging.getLogger(__name__)

#: ``progress(done, total)`` after each batch of tiles; returning False stops the job
ProgressCallback = Callable[[int, int], object]


class NormalizedView:
    """An (H, W[, C]) image (or (D, H, W[, C]) volume) seen as the (c, H, W) (or (c, D, H, W))
    float32 array the network reads, normalised where it is read: the sliding window reads it
    box by box, so a lazy image (zarr, dask, a level of a pyramid) is never read whole."""

    def __init__(self, image, channels: str, norm: Normalizer):
        self.image, self.channels, self.norm = image, channels, norm
        self.spatial_dims = norm.spatial_dims
        corner = np.asarray(image[(slice(0, 1),) * self.spatial_dims])
        c = len(select_channels(corner, channels, self.spatial_dims))
        self.shape = (c, *image.shape[: self.spatial_dims])

    def __getitem__(self, index: tuple) -> np.ndarray:
        if index[0] != slice(None):
            raise IndexError("a NormalizedView is read with every channel")
        raw = np.asarray(self.image[index[1:]])
        return self.norm(select_channels(raw, self.channels, self.spatial_dims))


@dataclass
class Predicted:
    """What :meth:`Predictor.run` made of one image: the (classes, H, W) float32
    probabilities, the resampling factor it used, and the image's task context (for
    measuring it without finding its field of view again)."""

    prob: np.ndarray
    scale: float
    context: ImageContext


class Predictor:
    """Overlap-tile predictor for one model.

    Parameters
    ----------
    model
        A :class:`UNet` (its card gives the channels and normalisation) or a foreign
        :class:`~unet_core.model.external.ExternalNetwork`; it runs as a copy on ``device``.
    tile
        Input tile edge in pixels, rounded down to a size the network accepts. ``None``: the
        largest tile whose activations fit the memory budget (never larger than the image needs).
    batch_size
        Tiles per forward pass. ``None``: 1 on CPU, as many as fit the budget on a GPU.
    device
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``, ``"mps"``.
    tta
        Average the probabilities over the 8 flips/rotations of each tile.
    context
        ``padding="same"`` only: input pixels on each side of a tile whose output is discarded
        (they see the convolutions' zero padding). Default: from the network's receptive
        field, about a third of it (80 px for depth 4), where an image needs several tiles, so
        that tiled probabilities stay within about 0.02 of one untiled pass
        (``benchmarks/seams.py``); ``2**depth`` of mirrored context where one tile covers the
        image (no seams to hide).
    overlap
        ``padding="same"`` only: output pixels shared by neighbouring tiles, blended linearly.
        Default: ``2 * 2**depth`` where several tiles are needed. For ``padding="valid"`` tiles
        overlap only by the few pixels the pooling grid imposes, and the overlapping values are
        identical.
    memory_budget
        Bytes of activations per batch used to pick the default tile and batch size.
    scale
        Resampling factor applied before the network (probabilities are resampled back to the
        image's size). ``"auto"``: the model's task finds it from the card's training scale
        (e.g. the fundus field of view diameter), 1 when it has none; see :meth:`scale_for`.
    precision
        ``"auto"``, ``"fp32"`` or ``"bf16"`` (see :func:`~unet_core.base.precision.
        resolve_precision`): bf16 where the hardware has it, about 2.5-4x faster on a CPU
        with AVX-512 BF16, probabilities within about 0.01 of fp32's. The resolved choice is
        :attr:`precision` (always fp32 for a foreign network). A U-Net runs in its inference
        form (:func:`~unet_core.model.fused.inference_form`: batch norm folded, each
        convolution and its ReLU one oneDNN primitive on a CPU), made from the model's weights
        and made again whenever they change: a model fine-tuned between calls is seen as it is.
    It keeps nothing between calls but that form: one can serve several threads in turn.
    """

    def __init__(
        self,
        model: UNet,
        *,
        tile: int | None = None,
        batch_size: int | None = None,
        device: str | torch.device = "auto",
        tta: bool = False,
        context: int | None = None,
        overlap: int | None = None,
        memory_budget: int | None = None,
        scale: float | str = "auto",
        precision: str = "auto",
    ):
        if not isinstance(model, (UNet, ExternalNetwork)):
            raise ValueError(f"model must be a unet_core.UNet, got {type(model).__name__}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if scale != "auto" and not (isinstance(scale, (int, float)) and 0 < scale <= 16):
            raise ValueError(f"scale must be 'auto' or a factor in (0, 16], got {scale!r}")
        if model.spatial_dims == 3 and scale not in ("auto", 1, 1.0):
            raise ValueError("a 3-D model segments a volume at its own voxel size: no scale")
        self.network = NetworkCall(model, device, precision, tta)
        self.device, self.precision = self.network.device, self.network.precision
        self.model = model
        self.card = card_of(model)
        self.task = task_of(self.card)
        self.tta = bool(tta)
        self.scale = scale
        plan = plan_external_window if isinstance(model, ExternalNetwork) else plan_window
        self.window = plan(model, self.device, tile=tile, batch_size=batch_size, tta=tta,
                           context=context, overlap=overlap,
                           memory_budget=memory_budget)  # fmt: skip

    @property
    def tile(self) -> int | tuple[int, ...]:
        """Input tile edge in pixels (per axis where the axes differ: a volume's)."""
        return self.window.tile

    @property
    def margin(self) -> int | tuple[int, ...]:
        """Input pixels per axis around a tile's output."""
        return self.window.margin

    @property
    def overlap(self) -> int:
        """Output pixels neighbouring tiles share."""
        return self.window.overlap

    @property
    def batch_size(self) -> int:
        """Tiles per forward pass."""
        return self.window.batch_size

    def plan(self, shape: tuple[int, ...]):
        """The :class:`~.tiling.TileGrid` for an image of spatial ``shape``."""
        return self.window.plan(shape)

    # ---- prediction -----------------------------------------------------------------------
    def __call__(
        self,
        image: np.ndarray,
        progress: ProgressCallback | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Class probabilities (num_classes, H, W) float32 of a (H, W) or (H, W, C) image
        ((num_classes, D, H, W) of a (D, H, W[, C]) volume for a 3-D model).

        ``progress(done, total)`` is called after each batch of tiles; returning ``False`` stops
        the job with :class:`Cancelled`. ``out`` may be a preallocated (e.g. memory-mapped) array.
        """
        if progress is None:
            return drain(self.run(image, out)).prob
        done = drain(self.run(image, out), lambda e: progress(e.done, e.total),
                     lambda e: f"stopped after {e.done} of {e.total} tiles")  # fmt: skip
        return done.prob

    def prepare(self, image: np.ndarray) -> ImageContext:
        """What the model's task needs of ``image``, found once (its field of view, say), with
        the resampling factor :meth:`run` uses (see ``scale``): a one-line ValueError when the
        card asks for one outside [1/16, 16] (a card that does not fit the image, or a damaged
        one), the bounds a user's own scale has. A volume is segmented at its own scale."""
        if self.model.spatial_dims == 3:
            return ImageContext()
        context = self.task.prepare(image, self.card)
        if self.scale != "auto":  # the user's own scale: that one only
            context.scale, context.finer = float(self.scale), ()
        else:
            context.scale = checked_scale(context.scale, self.card)
        return context

    def scale_for(self, image: np.ndarray) -> float:
        """The resampling factor :meth:`run` uses for ``image`` (:meth:`prepare`)."""
        return self.prepare(image).scale

    def run(
        self, image: np.ndarray, out: np.ndarray | None = None,
        context: ImageContext | None = None,
    ) -> Generator[Progress, None, Predicted]:  # fmt: skip
        """The prediction as a generator: yields :class:`Progress` in tiles, returns a
        :class:`Predicted` (the probabilities, the scale used, the image's context).

        ``context``: the image's :meth:`prepare`, when the caller has it already. Stopping
        between yields (``close()``) abandons the job cleanly; no torch state is held across a
        yield. This is what GUI workers iterate over.
        """
        pre = self.card.preprocessing
        check_channels(image, pre.channels, self.model.in_channels, self.model.spatial_dims)
        context = context if context is not None else self.prepare(image)
        out = yield from run_scales(self, image, [context.scale, *context.finer], out)
        self.task.finish(image, out, self.card, context)
        return Predicted(out, context.scale, context)

    def run_normalized(
        self, image: np.ndarray, norm: Normalizer | None = None, out: np.ndarray | None = None
    ) -> Generator[Progress, None, np.ndarray]:
        """Overlap-tile prediction at the image's own scale, with no task step: for a band of
        a larger image, pass ``norm`` fitted on the whole image (default: fitted on
        ``image``)."""
        norm = norm or self.normalizer().fit(image)
        array = NormalizedView(image, self.card.preprocessing.channels, norm)
        return (yield from self.window.run(self.forward(), array, self.model.num_classes, out))

    def normalizer(self):
        """The model's unfitted normaliser (a foreign network's: its package's steps)."""
        if isinstance(self.model, ExternalNetwork):
            return self.model.normalizer()
        return Normalizer(self.card.preprocessing, self.model.spatial_dims)

    def forward(self) -> Forward:
        """The sliding window's call of the network for the weights the model has now."""
        return self.network.forward()

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the network computes in (:attr:`precision`)."""
        return self.network.dtype


def predict(
    model: UNet,
    image: np.ndarray,
    *,
    tile: int | None = None,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    tta: bool = False,
    progress: ProgressCallback | None = None,
    out: np.ndarray | None = None,
    scale: float | str = "auto",
    precision: str = "auto",
) -> np.ndarray:
    """Class probabilities (num_classes, H, W), float32, of a (H, W) or (H, W, C) image.

    Overlap-tile prediction with mirror padding (Ronneberger et al. 2015, Fig. 2); see
    :class:`Predictor` for the arguments.
    """
    predictor = Predictor(model, tile=tile, batch_size=batch_size, device=device, tta=tta,
                          scale=scale, precision=precision)  # fmt: skip
    return predictor(image, progress=progress, out=out)


__all__ = ["Predicted", "Predictor", "predict"]
