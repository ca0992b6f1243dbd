"""Overlap-tile prediction: numpy image in, float32 class probabilities out.

The predictor is configured once (model, device, tile, batch, TTA) and then applied to images of
any size. Tiles are read from the image on demand with mirror padding at the borders, pushed
through the network in batches under ``torch.inference_mode()``, and written into an output array
allocated once; memory beyond the output is bounded by the tile batch.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np
import torch

from ..base.arrays import read_window, resize
from ..base.device import memory_format, resolve_device
from ..base.jobs import drain
from ..base.precision import resolve_precision
from ..data.preprocess import (
    Normalizer,
    check_channels,
    local_contrast,
    model_channels,
    select_channels,
)
from ..model.blocks import center_crop
from ..model.card import ModelCard
from ..model.fused import inference_form
from ..model.unet import UNet
from ..tasks import task_of
from ..tasks.base import ImageContext
from .tiling import TileGrid, coverage, make_grid, ramp_weights

log = logging.getLogger(__name__)

Progress = Callable[[int, int], object]

#: Activation bytes per input pixel and base channel in inference (float32; measured ~25 on CPU).
_BYTES_PER_PIXEL_PER_CHANNEL = 40
_DEFAULT_BUDGET = {"cpu": 1 << 30, "mps": 2 << 30}


def card_of(model: UNet) -> ModelCard:
    """The model's card, or a default one built from its architecture."""
    card = getattr(model, "card", None)
    return card if card is not None else ModelCard(architecture=model.config)


def _dihedral(x: torch.Tensor, k: int, inverse: bool = False) -> torch.Tensor:
    """The k-th of the 8 flips/rotations of the last two axes (or its inverse)."""
    rot, flip = k % 4, k >= 4
    if not inverse:
        x = torch.rot90(x, rot, dims=(-2, -1))
        return torch.flip(x, dims=(-1,)) if flip else x
    if flip:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, -rot, dims=(-2, -1))


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
        A :class:`UNet`; its card (if any) gives the channel mode and normalisation. It is moved
        to ``device`` in place, with channels-last weights on CPU and CUDA (faster convolutions).
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
        (e.g. the fundus field of view diameter), 1 when the card records none; see
        :meth:`scale_for`.
    precision
        ``"auto"``, ``"fp32"`` or ``"bf16"`` (see :func:`~unet_core.base.precision.
        resolve_precision`): bf16 where the hardware has it, about 2.5-4x faster on a CPU
        with AVX-512 BF16, probabilities within about 0.01 of fp32's. The resolved choice is
        :attr:`precision`. Either way the network runs in its inference form
        (:func:`~unet_core.model.fused.inference_form`: batch norm folded, each convolution
        and its ReLU one oneDNN primitive on a CPU), made from the model's weights and made
        again whenever they change, so a model fine-tuned between calls is seen as it is now.

    The predictor keeps nothing between calls but that inference form: one can serve several
    threads in turn.
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
        if not isinstance(model, UNet):
            raise ValueError(f"model must be a unet_core.UNet, got {type(model).__name__}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        # channels-last convolutions are markedly faster with oneDNN (CPU) and cuDNN
        self.memory_format = memory_format(self.device)
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.card = card_of(model)
        self.task = task_of(self.card)
        self.tta = bool(tta)
        g = model.grid
        if model.padding == "valid":
            self.margin, self.overlap = model.margin, model.receptive_overlap
            self.min_out = model.output_size(model.min_input_size)
        else:
            ctx = g if context is None else int(np.ceil(context / (g / 2)) * (g // 2))
            self.margin, self.min_out = 2 * ctx, g
            self.overlap = g if overlap is None else int(np.ceil(overlap / g) * g)
        # where one tile covers the image, the defaults' seam context is not needed
        self._one_tile = (2 * g, g) if model.padding == "same" and context is None else None
        if scale != "auto" and not (isinstance(scale, (int, float)) and 0 < scale <= 16):
            raise ValueError(f"scale must be 'auto' or a factor in (0, 16], got {scale!r}")
        self.scale = scale
        self._form: tuple | None = None  # (weights' versions, inference form): network()
        self.budget = memory_budget or self._default_budget()
        self.tile = self._tile_edge(tile)
        if self._one_tile is not None:  # the default context: hide the seams between tiles
            self.margin, self.overlap = self._seam_context(
                self.tile, None if overlap is None else self.overlap
            )
            self.tile = self._tile_edge(tile)
        self.batch_size = batch_size or self._default_batch()

    # ---- configuration --------------------------------------------------------------------
    def _default_budget(self) -> int:
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            return int(free * 0.5)
        return _DEFAULT_BUDGET.get(self.device.type, 1 << 30)

    def _seam_context(self, tile: int, overlap: int | None) -> tuple[int, int]:
        """(margin, overlap) for tiled images: context of a third of the receptive field, in
        whole steps of the pooling grid so that every tile pools in phase with the image
        (benchmarks/seams.py: within 0.02 of an untiled pass for depth 4), and twice the grid
        of overlap, as far as a tile of ``tile`` px can spare them (at most a sixth of it as
        context, a twelfth as overlap; never less than the grid)."""
        g = self.model.grid
        seam = int(np.ceil(self.model.receptive_field / 3 / g) * g)
        ctx = min(seam, max(g, tile // 6 // g * g))
        if overlap is None:
            overlap = min(2 * g, max(g, tile // 12 // g * g))
        return 2 * ctx, overlap

    def _tile_bytes(self, edge: int) -> int:
        # a refiner runs after the first network has freed its activations: the wider one counts
        base = max(self.model.config["base_channels"], self.model.config.get("refine", 0))
        return edge * edge * base * _BYTES_PER_PIXEL_PER_CHANNEL * (2 if self.tta else 1)

    def _tile_edge(self, tile: int | None) -> int:
        """Input tile edge, a size the network accepts."""
        m = self.model
        if tile is None:
            tile = int(np.sqrt(self.budget / self._tile_bytes(1)))
        if tile < 1:
            raise ValueError(f"tile must be a positive number of pixels, got {tile}")
        if m.padding == "valid":
            return m.valid_input_size(tile, "down")
        smallest = self.min_out + self.margin + self.overlap
        return max(smallest, tile // m.grid * m.grid)

    def _default_batch(self) -> int:
        if self.device.type == "cpu":
            return 1
        return int(max(1, min(16, self.budget // self._tile_bytes(self.tile))))

    def plan(self, shape: tuple[int, int]) -> TileGrid:
        """The tile grid for an image of ``shape`` (H, W): with :attr:`margin` and
        :attr:`overlap`, or one tile with little context when one tile covers the image."""
        if self._one_tile is not None:
            margin, overlap = self._one_tile
            one = self._grid(shape, margin, overlap)
            if len(one) == 1:
                return one
        return self._grid(shape, self.margin, self.overlap)

    def _grid(self, shape: tuple[int, int], margin: int, overlap: int) -> TileGrid:
        max_out = self.tile - margin
        return make_grid(shape, (max_out, max_out), margin=margin, overlap=overlap,
                         grid=self.model.grid, min_out=self.min_out)  # fmt: skip

    # ---- prediction -----------------------------------------------------------------------
    def __call__(
        self, image: np.ndarray, progress: Progress | None = None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Class probabilities (num_classes, H, W) float32 of a (H, W) or (H, W, C) image.

        ``progress(done, total)`` is called after each batch of tiles; returning ``False`` stops
        the job with :class:`Cancelled`. ``out`` may be a preallocated (e.g. memory-mapped) array.
        """
        if progress is None:
            return drain(self.run(image, out)).prob
        done = drain(self.run(image, out), lambda tiles: progress(*tiles),
                     lambda tiles: f"stopped after {tiles[0]} of {tiles[1]} tiles")  # fmt: skip
        return done.prob

    def prepare(self, image: np.ndarray) -> ImageContext:
        """What the model's task needs of ``image``, found once (its field of view, say), with
        the resampling factor :meth:`run` uses (see ``scale``): a one-line ValueError when the
        card asks for one outside [1/16, 16] (a card that does not fit the image, or a damaged
        one), the bounds a user's own scale has."""
        context = self.task.prepare(image, self.card)
        if self.scale != "auto":
            context.scale = float(self.scale)
        elif not 1 / 16 <= context.scale <= 16:
            raise ValueError(f"the model's card asks to resample this image by "
                             f"{context.scale:.3g} (its scale {self.card.scale}), outside "
                             "1/16-16: the card does not fit this image; give a scale")
        return context

    def scale_for(self, image: np.ndarray) -> float:
        """The resampling factor :meth:`run` uses for ``image`` (:meth:`prepare`)."""
        return self.prepare(image).scale

    def run(
        self, image: np.ndarray, out: np.ndarray | None = None,
        context: ImageContext | None = None,
    ) -> Generator[tuple[int, int], None, Predicted]:  # fmt: skip
        """The prediction as a generator: yields ``(done, total)`` tiles, returns a
        :class:`Predicted` (the probabilities, the scale used, the image's context).

        ``context``: the image's :meth:`prepare`, when the caller has it already. Stopping
        between yields (``close()``) abandons the job cleanly; no torch state is held across a
        yield. This is what GUI workers iterate over.
        """
        pre = self.card.preprocessing
        check_channels(image, pre.channels, self.model.in_channels)
        context = context if context is not None else self.prepare(image)
        factor = context.scale
        if abs(factor - 1.0) < 0.02:
            out = yield from self.run_normalized(local_contrast(image, pre), out=out)
        else:
            H, W = image.shape[:2]
            size = (max(1, round(H * factor)), max(1, round(W * factor)))
            # only the channels the model reads are resampled (the green one of a photograph)
            channels = resize(model_channels(np.asarray(image), pre.channels), size)
            prob = yield from self.run_normalized(local_contrast(channels, pre))
            back = np.moveaxis(resize(np.moveaxis(prob, 0, -1), (H, W)), -1, 0)
            out = self._output(out, (self.model.num_classes, H, W))
            out[...] = back
        self.task.finish(image, out, self.card, context)
        return Predicted(out, factor, context)

    def run_normalized(
        self, image: np.ndarray, norm: Normalizer | None = None, out: np.ndarray | None = None
    ) -> Generator[tuple[int, int], None, np.ndarray]:
        """Overlap-tile prediction at the image's own scale, with no task step: for a band of
        a larger image, pass ``norm`` fitted on the whole image (default: fitted on
        ``image``)."""
        pre = self.card.preprocessing
        H, W = image.shape[:2]
        grid = self.plan((H, W))
        out = self._output(out, (self.model.num_classes, H, W))
        norm = norm or Normalizer(pre).fit(image)
        blend = self.model.padding == "same"
        wy = ramp_weights(grid.tile_out[0], grid.overlap) if blend else None
        wx = ramp_weights(grid.tile_out[1], grid.overlap) if blend else None
        origins = grid.origins()
        total = len(origins)
        log.debug("predicting %dx%d in %d tiles of %s", H, W, total, grid.tile_in)
        yield 0, total
        net = self.network()
        for first in range(0, total, self.batch_size):
            batch = origins[first : first + self.batch_size]
            tiles = [
                norm(select_channels(read_window(image, *grid.input_window(y, x)), pre.channels))
                for y, x in batch
            ]
            try:
                probs = self._forward(net, np.stack(tiles), grid.tile_out)
            except (RuntimeError, MemoryError) as exc:
                smaller = self._smaller(exc)  # out of memory: again, in smaller pieces
                return (yield from smaller.run_normalized(image, norm, out))
            for (y, x), p in zip(batch, probs):
                (iy, ix), (ty, tx) = grid.output_slices(y, x)
                if blend:
                    out[:, iy, ix] += p[:, ty, tx] * (wy[ty, None] * wx[None, tx])
                else:
                    out[:, iy, ix] = p[:, ty, tx]
            yield first + len(batch), total
        if blend:
            self._normalize(out, grid)
        return out

    def _smaller(self, exc: BaseException) -> Predictor:
        """After running out of memory: this predictor with half the tiles per batch, or half
        the tile edge; the error itself (one line) when the tile is already the smallest."""
        text = str(exc).lower()
        if not (isinstance(exc, MemoryError) or "out of memory" in text
                or "can't allocate memory" in text):  # fmt: skip
            raise exc
        smaller = copy.copy(self)
        if self.batch_size > 1:
            smaller.batch_size = self.batch_size // 2
            what = f"{smaller.batch_size} tile(s) at a time"
        else:
            smaller.tile = self._tile_edge(self.tile // 2)
            if smaller.tile >= self.tile:
                raise MemoryError(f"out of memory even with one tile of {self.tile} px on "
                                  f"{self.device}") from None  # fmt: skip
            what = f"tiles of {smaller.tile} px"
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        log.warning("out of memory on %s: trying again with %s", self.device, what)
        return smaller

    def _output(self, out: np.ndarray | None, shape: tuple[int, int, int]) -> np.ndarray:
        if out is None:
            return np.zeros(shape, np.float32)
        if tuple(out.shape) != shape or out.dtype != np.float32:
            raise ValueError(f"out must be float32 of shape {shape}, got {out.dtype} {out.shape}")
        out[...] = 0
        return out

    def network(self) -> torch.nn.Module:
        """The model's :func:`~unet_core.model.fused.inference_form` for the weights it has
        now: made again after any in-place change of a parameter or buffer (a fine-tuning
        step, ``load_state_dict``), which raises that tensor's version counter."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        key = (self.dtype, tuple((id(t), t._version) for t in tensors))
        cached = self._form
        if cached is not None and cached[0] == key:
            return cached[1]
        net = inference_form(self.model, self.dtype)
        self._form = (key, net)
        return net

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the network computes in (:attr:`precision`)."""
        return torch.bfloat16 if self.precision == "bf16" else torch.float32

    def _forward(self, net: UNet, batch: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(B, c, h, w) normalised tiles -> (B, classes, *size) probabilities (centre crop),
        through ``net``, the model's :func:`~unet_core.model.fused.inference_form`."""
        x = torch.from_numpy(batch).to(self.device, self.dtype)
        x = x.contiguous(memory_format=self.memory_format)
        views = range(8) if self.tta else range(1)
        acc = None
        with torch.inference_mode():
            for k in views:
                logits = net(_dihedral(x, k))
                p = _dihedral(torch.softmax(logits.float(), dim=1), k, inverse=True)
                acc = p if acc is None else acc + p
            return center_crop(acc / len(views), size).cpu().numpy()

    def _normalize(self, out: np.ndarray, grid: TileGrid) -> None:
        """Divide the blended sums by the total weight, row band by row band."""
        cy = coverage(grid.shape[0], grid.ys, grid.tile_out[0], grid.overlap)
        cx = coverage(grid.shape[1], grid.xs, grid.tile_out[1], grid.overlap)
        inv_x = (1.0 / cx)[None, None, :]
        for y0 in range(0, grid.shape[0], 256):
            band = slice(y0, y0 + 256)
            out[:, band] *= inv_x * (1.0 / cy[band])[None, :, None]


def predict(
    model: UNet,
    image: np.ndarray,
    *,
    tile: int | None = None,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    tta: bool = False,
    progress: Progress | None = None,
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


__all__ = ["Predictor", "card_of", "predict"]
