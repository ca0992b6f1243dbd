"""What a kind of image needs beyond the network: the scale to segment it at, what to do with
the probabilities, what to measure and report, and how to score against ground truth. Generic
code asks the model's task (``tasks.task_of(card)``), never a class or a preset name."""

from __future__ import annotations

import numpy as np


class Task:
    """The generic default: any image, any number of classes."""

    name = "generic"
    #: the sample image shipped for this kind (in ``sample_data/``), "" if none
    sample = ""
    #: columns this task adds to the batch report (its measurements' names)
    report_columns: tuple[str, ...] = ()

    def scale_for(self, image: np.ndarray, card) -> float:
        """Resampling factor that brings ``image`` to the scale the model was trained at."""
        return 1.0

    def notes(self, image: np.ndarray, card) -> list[str]:
        """What a user should know about segmenting ``image`` with this model (one line each:
        e.g. that it does not look like the images the model is for)."""
        return []

    def finish(self, image: np.ndarray, prob: np.ndarray, card) -> None:
        """Adjust the (classes, H, W) probabilities of ``image`` in place (e.g. blank what
        lies outside a field of view)."""

    def measure(self, image: np.ndarray, mask: np.ndarray, card) -> dict:
        """Measurements of a mask for the report and the widget ({} if none)."""
        return {}

    def describe(self, values: dict) -> str:
        """One line for people about :meth:`measure`'s values ("" if none)."""
        return ""

    def card_scale(self, rois: list[np.ndarray]) -> dict:
        """The scale entry of a model card, from the training images' regions of interest."""
        return {}

    def evaluate(self, prob: np.ndarray, labels: np.ndarray, threshold: float,
                 roi: np.ndarray | None = None,
                 classes: list[str] | None = None) -> dict:  # fmt: skip
        """Metrics of probabilities against a label image: IoU and Dice of every class (class
        indices, 255 not annotated; a 0/255 mask is read as background/foreground)."""
        from ..base.labels import IGNORE_LABEL
        from ..data.folders import as_class_labels
        from ..metrics import class_metrics
        from ..postprocess import probabilities_to_labels

        truth = as_class_labels(labels, prob.shape[0])
        if truth.shape != prob.shape[1:]:
            raise ValueError(f"labels {truth.shape} do not match the image {prob.shape[1:]}")
        if roi is not None:
            truth = np.where(roi, truth, IGNORE_LABEL)
        names = classes or ["background"] + [f"class {k}" for k in range(1, prob.shape[0])]
        return class_metrics(probabilities_to_labels(prob, threshold), truth, names, IGNORE_LABEL)
