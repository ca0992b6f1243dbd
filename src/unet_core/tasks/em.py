"""Electron micrographs of neural tissue (ISBI 2012): membranes against cell interior, scored
with the challenge's protocol (pixel error, adapted Rand error, variation of information)."""

from __future__ import annotations

import numpy as np

from .task import Task

#: what Segment, Batch and the command line say of a fundus photograph given to an EM model
FUNDUS_TO_EM = ("a fundus photograph, and this model learned cell membranes in electron "
                "micrographs: the drive model is made for it")  # fmt: skip
#: ... and of another picture in colour
COLOUR_TO_EM = ("a picture in colour, and this model learned cell membranes in grayscale "
                "electron micrographs: its result may mean little")  # fmt: skip


class EM(Task):
    """Cell membranes in serial-section EM."""

    name = "em"
    bundled = "em"
    tags = ("electron-microscopy", "membranes", "neurons")
    sample = "em_isbi2012_test00_crop.png"  # a 256 x 256 crop of ISBI 2012 test slice 00

    def notes(self, image: np.ndarray, card, context=None) -> list[str]:
        """A fundus photograph, or a picture in colour, given to a model of EM membranes (the
        kind of image as ``auto`` tells it: :func:`unet_core.tasks.suggest_model`)."""
        from . import NoModelFits, suggest_model

        if np.ndim(image) == 3 and np.shape(image)[-1] not in (3, 4):
            return []  # a stack: the kind of a volume is not guessed
        step = max(1, max(np.shape(image)[:2]) // 1024)  # a lazy array is not read whole
        try:
            kind, _ = suggest_model(np.asarray(image[::step, ::step]))
        except NoModelFits:
            return [COLOUR_TO_EM]
        return [] if kind == self.bundled else [FUNDUS_TO_EM]

    def truth(self, labels, num_classes) -> np.ndarray:
        """The challenge's labels (0 = membrane) as class indices (1 = membrane)."""
        from ..data.isbi2012 import membrane_labels

        return membrane_labels(np.asarray(labels)).astype(np.int64)

    def score(self, prob, truth, threshold=0.5, roi=None, classes=None) -> dict:
        """The challenge's protocol (:func:`~unet_core.scoring.membrane_scores`)."""
        from ..scoring import membrane_scores

        return membrane_scores(prob, truth, threshold)


TASK = EM()
