"""Electron micrographs of neural tissue (ISBI 2012): membranes against cell interior, scored
with the challenge's protocol (pixel error, adapted Rand error, variation of information)."""

from __future__ import annotations

import numpy as np

from .task import Task


class EM(Task):
    """Cell membranes in serial-section EM."""

    name = "em"
    bundled = "em"
    tags = ("electron-microscopy", "membranes", "neurons")
    sample = "em_isbi2012_test00_crop.png"  # a 256 x 256 crop of ISBI 2012 test slice 00

    def truth(self, labels, num_classes) -> np.ndarray:
        """The challenge's labels (0 = membrane) as class indices (1 = membrane)."""
        from ..data.isbi2012 import membrane_labels

        return membrane_labels(np.asarray(labels)).astype(np.int64)

    def score(self, prob, truth, threshold=0.5, roi=None, classes=None) -> dict:
        """The challenge's protocol (:func:`~unet_core.scoring.membrane_scores`)."""
        from ..scoring import membrane_scores

        return membrane_scores(prob, truth, threshold)


TASK = EM()
