"""Segmentation metrics, pure numpy (and scikit-image for the ISBI protocol).

Vessels (DRIVE convention): computed inside the field of view only. EM (ISBI 2012 protocol):
pixel error, and adapted Rand error / variation of information between ground-truth cells and
cells grown from the prediction, so that membrane thickness does not count but merges and
splits do.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, stats

from .base.labels import IGNORE_LABEL


def roc_auc(scores: np.ndarray, truth: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged); NaN if one class."""
    scores, truth = np.ravel(scores), np.ravel(truth).astype(bool)
    n_pos, n_neg = int(truth.sum()), int((~truth).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(scores)
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_metrics(
    pred: np.ndarray,
    truth: np.ndarray,
    prob: np.ndarray | None = None,
    roi: np.ndarray | None = None,
) -> dict[str, float]:
    """Dice/F1, IoU, sensitivity, specificity, accuracy (and AUC given ``prob``) inside ``roi``."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    sel = np.ones(pred.shape, bool) if roi is None else np.asarray(roi, bool)
    p, t = pred[sel], truth[sel]
    tp, fp = np.sum(p & t), np.sum(p & ~t)
    fn, tn = np.sum(~p & t), np.sum(~p & ~t)

    def ratio(a: float, b: float) -> float:
        return float(a / b) if b else float("nan")

    out = {
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "iou": ratio(tp, tp + fp + fn),
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "accuracy": ratio(tp + tn, tp + tn + fp + fn),
    }
    if prob is not None:
        out["auc"] = roc_auc(np.asarray(prob)[sel], t)
    return out


def cells_from_membrane(membrane_prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Cells as a label image: connected components of the predicted interior, grown over the
    membrane by a seeded watershed of the membrane probability (every pixel labelled)."""
    from skimage.segmentation import watershed

    seeds, _ = ndimage.label(membrane_prob < threshold)
    return watershed(membrane_prob, markers=seeds)


def em_metrics(
    membrane_prob: np.ndarray, membrane_truth: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """ISBI 2012 protocol: pixel error, adapted Rand error and variation of information.

    Ground-truth cells are the connected components of the true interior; membrane pixels are
    ignored (label 0). The predicted segmentation is :func:`cells_from_membrane`.
    """
    from skimage.metrics import adapted_rand_error, variation_of_information

    truth = np.asarray(membrane_truth, bool)
    gt_cells, _ = ndimage.label(~truth)
    pred_cells = cells_from_membrane(membrane_prob, threshold)
    rand, _, _ = adapted_rand_error(gt_cells, pred_cells, ignore_labels=(0,))
    split, merge = variation_of_information(gt_cells, pred_cells, ignore_labels=(0,))
    return {
        "pixel_error": float(np.mean((membrane_prob >= threshold) != truth)),
        "rand_error": float(rand),
        "vi": float(split + merge),
        "vi_split": float(split),
        "vi_merge": float(merge),
    }


def class_metrics(
    pred: np.ndarray, truth: np.ndarray, classes: list[str], ignore_label: int | None = IGNORE_LABEL
) -> dict[str, float]:
    """IoU and Dice of each foreground class (1..K-1) over the annotated pixels, and their
    means ``iou`` and ``dice``; a class absent from both prediction and truth is left out of
    the means (NaN in its own entry)."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    sel = truth != ignore_label if ignore_label is not None else np.ones(truth.shape, bool)
    p, t = pred[sel], truth[sel]
    out: dict[str, float] = {}
    ious, dices = [], []
    for k, name in enumerate(classes[1:], start=1):
        inter, union = np.sum((p == k) & (t == k)), np.sum((p == k) | (t == k))
        iou = float(inter / union) if union else float("nan")
        dice = float(2 * inter / (union + inter)) if union else float("nan")
        out[f"iou_{name}"], out[f"dice_{name}"] = iou, dice
        if union:
            ious.append(iou)
            dices.append(dice)
    out["iou"] = float(np.mean(ious)) if ious else float("nan")
    out["dice"] = float(np.mean(dices)) if dices else float("nan")
    return out
