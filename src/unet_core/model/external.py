"""A network that is not this tool's U-Net (a bioimage.io package of another tool): what the
predictor and fine-tuning ask of it besides a forward pass, so that it goes through the same
sliding window, batch run and widgets. :mod:`unet_core.formats.foreign_model` makes one.

Its ``forward`` takes (B, c, h, w) float32 tiles already preprocessed (:meth:`normalizer`) and
returns the log of its class probabilities, (B, classes, h', w'): valid logits, whose softmax
is those probabilities (the predictor's softmax leaves them as they are, and cross-entropy on
them trains the network)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TileRule:
    """The input sizes one spatial axis of the network takes: ``min + k * step`` (``step`` 0:
    exactly ``min``), and ``halo``, the output pixels at each border of a tile that are not
    to be trusted (cut as context)."""

    min: int
    step: int
    halo: int = 0

    def accept(self, size: int) -> int:
        """The largest size the axis takes at or below ``size`` (never below ``min``)."""
        if self.step <= 0 or size <= self.min:
            return self.min
        return self.min + (size - self.min) // self.step * self.step


class ExternalNetwork(torch.nn.Module):
    """The common ground of foreign networks; subclasses set the attributes and implement
    ``forward`` and :meth:`normalizer`.

    Attributes: ``card`` (a :class:`~.card.ModelCard` whose architecture has ``"external"``),
    ``in_channels``, ``num_classes``, ``spatial_dims`` (2), ``rules`` (a :class:`TileRule`
    per spatial axis), ``shrink`` (input pixels per axis the output lacks, both sides together:
    a network without padding), ``trainable`` (whether its weights take gradients).
    """

    spatial_dims = 2
    padding = "same"
    refiner = None  # no second pass (a U-Net cascade's): training calls ``forward(x, aux=True)``

    def __init__(self):
        super().__init__()
        self.card = None
        self.in_channels = 1
        self.num_classes = 2
        self.rules: tuple[TileRule, ...] = (TileRule(1, 1), TileRule(1, 1))
        self.shrink: tuple[int, ...] = (0, 0)
        self.trainable = False

    @property
    def grids(self) -> tuple[int, ...]:
        """The step of the tile sizes along each axis (a U-Net's pooling grid)."""
        return tuple(max(1, r.step) for r in self.rules)

    @property
    def receptive_fields(self) -> tuple[int, ...]:
        """Input pixels per axis a tile's output depends on, as far as the package says."""
        return tuple(s + 2 * r.halo + 1 for r, s in zip(self.rules, self.shrink))

    @property
    def config(self) -> dict:
        """The card's architecture (what a U-Net's ``config`` is)."""
        return dict(self.card.architecture) if self.card is not None else {}

    def patch(self, edge: int) -> tuple[int, int]:
        """(input, output) edges of a training patch of about ``edge`` px that the network
        takes along y (a square patch)."""
        size = self.rules[0].accept(max(edge, self.rules[0].min))
        return size, size - self.shrink[0]

    def normalizer(self):
        """An unfitted normaliser with ``fit(image)`` (the raw (H, W[, C]) image) and a call
        on (c, h, w) float32 boxes of the image, as :class:`~unet_core.data.preprocess.
        Normalizer` has."""
        raise NotImplementedError

    def on(self, device: torch.device) -> ExternalNetwork:
        """This network on ``device``, in eval mode (itself: it is not copied)."""
        return self.to(device).eval()
