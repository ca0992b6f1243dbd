"""A stack of slices segmented whole: at once by a 3-D model, slice by slice by a 2-D one."""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from ..base.events import Progress
from ..base.jobs import relay
from .predictor import Predicted, Predictor


def predict_stack(predictor: Predictor, stack) -> Generator[Progress, None, Predicted]:
    """Probabilities (classes, D, H, W) of a (D, H, W[, C]) stack: a 3-D model's in one
    overlap-tile pass, a 2-D model's slice by slice. Yields :class:`Progress` in tiles over
    the whole stack; returns a :class:`Predicted` (the scale and context of the last slice)."""
    if predictor.model.spatial_dims == 3:
        return (yield from predictor.run(stack))
    n, probs, predicted = len(stack), [], None
    for z in range(n):
        def overall(e: Progress, z: int = z) -> Progress:
            return Progress(z * e.total + e.done, n * e.total, "tiles")

        predicted = yield from relay(predictor.run(np.asarray(stack[z])), overall)
        probs.append(predicted.prob)
    return Predicted(np.stack(probs, axis=1), predicted.scale, predicted.context)
