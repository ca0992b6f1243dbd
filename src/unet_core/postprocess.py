"""From probabilities to masks and labels (numpy only; the plugin calls this on the UI thread)."""

from __future__ import annotations

import numpy as np

#: Label value that fine-tuning treats as "not annotated" (contributes nothing to the loss).
IGNORE_LABEL = 255


def probabilities_to_labels(prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(classes, H, W) probabilities -> uint8 class indices: ``prob[1] >= threshold`` for two
    classes, the argmax otherwise."""
    prob = np.asarray(prob)
    if prob.ndim < 3 or prob.shape[0] < 2:
        raise ValueError(f"expected (classes >= 2, H, W) probabilities, got shape {prob.shape}")
    if prob.shape[0] == 2:
        return (prob[1] >= threshold).astype(np.uint8)
    return np.argmax(prob, axis=0).astype(np.uint8)


def probabilities_to_mask(prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """uint8 mask for files: 255 = foreground for two classes, the class index otherwise."""
    labels = probabilities_to_labels(prob, threshold)
    return labels * 255 if prob.shape[0] == 2 else labels


def rethreshold(
    prob: np.ndarray, threshold: float, current: np.ndarray, previous: np.ndarray
) -> np.ndarray:
    """New labels at ``threshold`` that keep the user's edits.

    ``previous`` is what the last thresholding produced and ``current`` what the layer holds
    now; pixels where they differ were painted by hand and are kept as they are.
    """
    fresh = probabilities_to_labels(prob, threshold)
    edited = current != previous
    return np.where(edited, current, fresh).astype(current.dtype)
