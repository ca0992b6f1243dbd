"""What a kind of image needs beyond the network: the scale to segment it at, what to do with
the probabilities, what to measure and report, and how to score against ground truth. Generic
code asks the model's task (``tasks.task_of(card)``), never a class or a preset name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class ImageContext:
    """What a task learns of one image, once, before it is segmented: the resampling factor
    that brings it to the model's scale, and what else finishing and measuring it needs (a
    fundus photograph's field of view). It travels with the image's result; no module keeps
    it."""

    scale: float = 1.0
    fov: np.ndarray | None = field(default=None, repr=False)
    #: further factors it is segmented at too, the passes fused (``inference/scales.py``): a
    #: photograph larger than the model's training ones, at a scale that keeps its thin vessels
    finer: tuple[float, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)


def checked_scale(scale: float, card) -> float:
    """``scale``, the factor a card asks for an image, or a one-line ValueError when it lies
    outside [1/16, 16] (a card that does not fit the image, or a damaged one): the bounds a
    user's own scale has."""
    if not 1 / 16 <= scale <= 16:
        raise ValueError(f"the model's card asks to resample this image by {scale:.3g} (its "
                         f"scale {card.scale}), outside 1/16-16: the card does not fit this "
                         "image; give a scale")  # fmt: skip
    return scale


class Task:
    """The generic default: any image, any number of classes."""

    name = "generic"
    #: the bundled model made for this kind of image ("" if none)
    bundled = ""
    #: bioimage.io tags a package of a model for this kind of image carries
    tags: tuple[str, ...] = ()
    #: the sample image shipped for this kind (in ``sample_data/``), "" if none
    sample = ""
    #: columns this task adds to the batch report (its measurements' names)
    report_columns: tuple[str, ...] = ()

    def prepare(self, image: np.ndarray, card) -> ImageContext:
        """What this task needs to know of ``image``, found once (:class:`ImageContext`)."""
        return ImageContext()

    def scale_for(self, image: np.ndarray, card) -> float:
        """Resampling factor that brings ``image`` to the scale the model was trained at
        (:func:`checked_scale`)."""
        return checked_scale(self.prepare(image, card).scale, card)

    def notes(self, image: np.ndarray, card, context: ImageContext | None = None) -> list[str]:
        """What a user should know about segmenting ``image`` with this model (one line each:
        e.g. that it does not look like the images the model is for)."""
        return []

    def finish(self, image: np.ndarray, prob: np.ndarray, card,
               context: ImageContext | None = None) -> None:  # fmt: skip
        """Adjust the (classes, H, W) probabilities of ``image`` in place (e.g. blank what
        lies outside a field of view)."""

    def measure(self, image: np.ndarray, mask: np.ndarray, card,
                context: ImageContext | None = None, calibration=None) -> dict:  # fmt: skip
        """Measurements of a mask for the report and the widget ({} if none); ``calibration``
        (:class:`~unet_core.retina.biomarkers.Calibration`) gives lengths in microns where
        the task measures lengths."""
        return {}

    def describe(self, values: dict) -> str:
        """One line for people about :meth:`measure`'s values ("" if none)."""
        return ""

    def card_scale(self, rois: list[np.ndarray]) -> dict:
        """The scale entry of a model card, from the training images' regions of interest."""
        return {}

    def truth(self, labels: np.ndarray, num_classes: int) -> np.ndarray:
        """A label image's values as class indices (255 not annotated; a 0/255 mask is read as
        background/foreground)."""
        from ..data.folders import as_class_labels

        return as_class_labels(labels, num_classes)

    def score(self, prob: np.ndarray, truth: np.ndarray, threshold: float = 0.5,
              roi: np.ndarray | None = None, classes: list[str] | None = None) -> dict:  # fmt: skip
        """Metrics of probabilities against class indices: IoU and Dice of every class
        (:func:`~unet_core.scoring.class_scores`)."""
        from ..scoring import class_scores

        return class_scores(prob, truth, classes, threshold, roi)

    def evaluate(self, prob: np.ndarray, labels: np.ndarray, threshold: float,
                 roi: np.ndarray | None = None, classes: list[str] | None = None,
                 marked: bool = False) -> dict:  # fmt: skip
        """Metrics of probabilities against a label image (:meth:`truth`, :meth:`score`); a
        file the tool wrote (``marked``: class indices, ``IGNORE_LABEL`` not annotated) is
        taken as it stands."""
        truth = np.asarray(labels, np.int64) if marked else self.truth(labels, prob.shape[0])
        return self.score(prob, truth, threshold, roi, classes)
