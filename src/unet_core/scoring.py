"""Scoring probabilities against known labels: the one home of what a score is.

Each scorer takes (classes, H, W) probabilities and the truth as class indices (``IGNORE_LABEL``
where nothing is known) and returns a dict of metrics (:mod:`.metrics` computes them). A model's
task picks its scorer (``tasks.task_of(card).score``): fundus photographs
:func:`vessel_scores`, electron micrographs :func:`membrane_scores`, any other model
:func:`class_scores`. The ``evaluate`` command (label files), training's validation
(:func:`sample_scorer`) and a fine-tuning round's held-out image (:func:`foreground_dice`) all
score here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .base.labels import IGNORE_LABEL

if TYPE_CHECKING:
    from .data.datasets import Sample


def _check(prob: np.ndarray, truth: np.ndarray) -> None:
    if np.shape(truth) != np.shape(prob)[1:]:
        raise ValueError(f"labels {np.shape(truth)} do not match the image {np.shape(prob)[1:]}")


def class_scores(prob: np.ndarray, truth: np.ndarray, classes: list[str] | None = None,
                 threshold: float = 0.5, roi: np.ndarray | None = None) -> dict:  # fmt: skip
    """IoU and Dice of every foreground class and their means (``metrics.class_metrics``) of
    the predicted labels (``postprocess.probabilities_to_labels``), over the annotated pixels
    inside ``roi``. ``classes`` name them (default ``class 1``, ``class 2``, ...)."""
    from .metrics import class_metrics
    from .postprocess import border_class, probabilities_to_labels

    _check(prob, truth)
    if roi is not None:
        truth = np.where(roi, truth, IGNORE_LABEL)
    names = classes or ["background"] + [f"class {k}" for k in range(1, prob.shape[0])]
    found = probabilities_to_labels(prob, threshold)
    out = class_metrics(found, truth, names, IGNORE_LABEL)
    if border_class(names) is not None:  # the objects are the interior and its border
        out["objects_iou"] = objects_iou(found, truth)
    return out


def objects_iou(found: np.ndarray, truth: np.ndarray) -> float:
    """IoU of every class but the background taken together (the objects a border class
    parts: interior and border), over the annotated pixels; NaN where neither has any."""
    known = np.asarray(truth) != IGNORE_LABEL
    a, b = (np.asarray(found) > 0) & known, (np.asarray(truth) > 0) & known
    union = np.sum(a | b)
    return float(np.sum(a & b) / union) if union else float("nan")


def vessel_scores(prob: np.ndarray, truth: np.ndarray, threshold: float = 0.5,
                  roi: np.ndarray | None = None) -> dict:  # fmt: skip
    """DRIVE's metrics of class 1 (F1, IoU, sensitivity, specificity, accuracy, AUC) inside
    ``roi`` (the field of view). Of an artery/vein map (three classes) against vessel labels:
    a vessel is either type, as its mask has it (the likeliest class), ranked by how surely
    it is not background."""
    from .metrics import binary_metrics  # scipy.stats: imported only to score
    from .postprocess import foreground_probability, probabilities_to_labels

    _check(prob, truth)
    found = probabilities_to_labels(prob, threshold) > 0  # as the mask has it
    return binary_metrics(found, np.asarray(truth) == 1, prob=foreground_probability(prob),
                          roi=roi)  # fmt: skip


def av_scores(prob: np.ndarray, truth: np.ndarray, roi: np.ndarray | None = None) -> dict:
    """Arteries (class 1) and veins (2) against labels (``IGNORE_LABEL`` unknown) inside
    ``roi``: vessel F1 (either class against either), artery and vein F1, their mean
    ``av_f1``, and ``av_accuracy``, the share of the vessel pixels found and labelled that were
    given their type."""
    from .metrics import binary_metrics
    from .postprocess import probabilities_to_labels

    _check(prob, truth)
    found, truth = probabilities_to_labels(prob), np.asarray(truth)
    known = truth != IGNORE_LABEL
    roi = known if roi is None else known & np.asarray(roi, bool)
    out = {"f1": binary_metrics(found > 0, truth > 0, roi=roi)["f1"]}
    for k, name in ((1, "artery"), (2, "vein")):
        out[f"f1_{name}"] = binary_metrics(found == k, truth == k, roi=roi)["f1"]
    out["av_f1"] = (out["f1_artery"] + out["f1_vein"]) / 2
    both = roi & (found > 0) & (truth > 0)
    out["av_accuracy"] = float(np.mean(found[both] == truth[both])) if both.any() else float("nan")
    return out


def membrane_scores(prob: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> dict:
    """The ISBI 2012 protocol (pixel error, adapted Rand error, variation of information) of
    class 1, the membranes (``metrics.em_metrics``)."""
    from .metrics import em_metrics

    _check(prob, truth)
    return em_metrics(prob[1], np.asarray(truth) == 1, threshold)


def foreground_dice(prob: np.ndarray, truth: np.ndarray,
                    ignore_label: int | None = IGNORE_LABEL) -> float:  # fmt: skip
    """Dice of the foreground (every class but 0) on the labelled pixels."""
    from .metrics import binary_metrics
    from .postprocess import probabilities_to_labels

    truth = np.asarray(truth)
    _check(prob, truth)
    roi = truth != ignore_label if ignore_label is not None else None
    return binary_metrics(probabilities_to_labels(prob) > 0, truth > 0, roi=roi)["f1"]


def sample_scorer(task, classes: list[str]) -> Callable[[np.ndarray, Sample], dict]:
    """What training validates with: ``task``'s scores (threshold 0.5) of a prediction of a
    sample against its labels, inside its region of interest."""

    def score(prob: np.ndarray, sample: Sample) -> dict:
        return task.score(prob, sample.labels, 0.5, roi=sample.roi, classes=classes)

    return score
