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


def keep_corrections(
    current: np.ndarray, previous: np.ndarray, fresh: np.ndarray,
    painted: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A new prediction merged into labels without touching the user's work.

    ``previous`` is what the last prediction wrote, ``current`` what the labels hold now and
    ``fresh`` the new prediction. Pixels where ``current`` and ``previous`` differ were painted
    by hand, as were those ``painted`` already marks; they keep their value (the ignore label
    too) and the others take ``fresh``. Returns (merged labels, painted mask).
    """
    mask = current != previous
    if painted is not None:
        mask |= painted
    return np.where(mask, current, fresh).astype(current.dtype), mask


def scribbles_to_labels(scribbles: np.ndarray) -> np.ndarray:
    """A scribbles layer (0 = not annotated, k + 1 = class k, ``IGNORE_LABEL`` = ignore) as
    training labels (class indices, ``IGNORE_LABEL`` where nothing was painted)."""
    scribbles = np.asarray(scribbles).astype(np.int64)
    return np.where((scribbles == 0) | (scribbles == IGNORE_LABEL), IGNORE_LABEL, scribbles - 1)
