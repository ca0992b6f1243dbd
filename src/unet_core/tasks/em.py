"""Electron micrographs of neural tissue (ISBI 2012): membranes against cell interior, scored
with the challenge's protocol (pixel error, adapted Rand error, variation of information)."""

from __future__ import annotations

import numpy as np

from .base import Task


class EM(Task):
    """Cell membranes in serial-section EM."""

    name = "em"
    bundled = "em"
    tags = ("electron-microscopy", "membranes", "neurons")
    sample = "em_isbi2012_test00_crop.png"  # a 256 x 256 crop of ISBI 2012 test slice 00

    def evaluate(self, prob, labels, threshold, roi=None, classes=None) -> dict:
        """The challenge's labels (0 = membrane) against the membrane probability."""
        from ..data.isbi2012 import membrane_labels
        from ..metrics import em_metrics  # scipy.stats: imported only to score

        return em_metrics(prob[1], membrane_labels(np.asarray(labels)) == 1, threshold)


TASK = EM()
