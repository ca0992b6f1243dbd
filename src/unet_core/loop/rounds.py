"""A round of the loop: fine-tune a model on the pairs' labels as they were when the round
began, re-segment the first pair's image, score a held-out pair. A generator job (logs out, a
:class:`RoundResult` back), so the plugin runs it in a worker and cancels it between steps."""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..base.labels import IGNORE_LABEL


@dataclass
class RoundData:
    """One pair as a round trains on it: copies taken when the round starts, so painting on
    meanwhile is safe.

    image : the image's pixels; labels : class indices (``IGNORE_LABEL`` where nothing is
    known); corrected : bool, what the user corrected; raw : the labels as painted (what the
    version records it was trained on) and ``prediction`` what they were painted over."""

    pair: str
    image: np.ndarray
    labels: np.ndarray
    corrected: np.ndarray
    raw: np.ndarray
    prediction: Any = None  # the pair's Prediction the labels were painted over, if any


@dataclass
class RoundResult:
    """What a round made: the model, the first pair's new probabilities, how long it ran."""

    model: Any
    prob: np.ndarray
    steps: int
    seconds: float
    heldout_dice: float | None
    parent: str
    data: list[RoundData]

    @property
    def corrected_pixels(self) -> int:
        return int(sum(int(d.corrected.sum()) for d in self.data))


def round_job(
    base: Any, data: list[RoundData], *, parent: str, heldout: tuple[Any, Any] | None = None,
    seconds: float | None = 20.0, steps: int | None = None, device: str = "auto",
    threads: int | None = None, corrected_weight: float | str | None = None,
) -> Generator[dict, None, RoundResult]:  # fmt: skip
    """Fine-tune ``base`` (never changed) on ``data``, then re-segment ``data[0]``'s image:
    yields the training logs and ``{"kind": "status"}`` lines; returns a :class:`RoundResult`.
    ``parent`` is the reference the new version records as its parent."""
    from ..inference.predictor import Predictor
    from ..training.finetune import CORRECTED_WEIGHT, heldout_dice, iter_finetune

    start = time.perf_counter()
    weight = CORRECTED_WEIGHT if corrected_weight is None else corrected_weight
    new = yield from iter_finetune(
        base, [d.image for d in data], [d.labels for d in data], steps=steps or None,
        seconds=seconds or None, ignore_label=IGNORE_LABEL, device=device, threads=threads,
        corrected=[d.corrected for d in data], corrected_weight=weight,
    )  # fmt: skip
    yield {"kind": "status", "text": "re-segmenting with the new model…"}
    prob = Predictor(new, device=device)(data[0].image)
    dice = None
    if heldout is not None:
        dice = heldout_dice(new, heldout[0], heldout[1], IGNORE_LABEL, device=device)
    done = new.card.provenance.get("finetune", {}).get("steps", 0) if new.card else 0
    return RoundResult(new, prob, int(done), time.perf_counter() - start, dice, parent, data)
