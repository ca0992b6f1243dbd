"""A round of the loop: fine-tune a model on the pairs' labels as they were when the round
began, re-segment the first pair's image, score a held-out pair. A generator job (events out, a
:class:`RoundResult` back), so the plugin runs it in a worker and cancels it between steps."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..base.events import Event, Status
from ..base.labels import IGNORE_LABEL

#: Scribbles rounds are guided: the unpainted pixels the live head (``.live``, fitted on the
#: strokes) is this sure of are labelled with its answer, and the strokes weigh as much as all
#: of them (``benchmarks/loop.py``: ahead of unguided rounds on every image, by 0.1-0.7 IoU
#: where the base model's domain is far from the image's).
GUIDE = 0.9


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
    sparse: bool = False  # scribbles: only the painted pixels are known


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


def guided_labels(model: Any, image: np.ndarray, strokes: np.ndarray, sure: float = GUIDE,
                  device: str = "cpu") -> np.ndarray:  # fmt: skip
    """Scribbles completed by the live head: the strokes, and where the head fitted on them
    is at least ``sure`` of a class, that class (``IGNORE_LABEL`` elsewhere)."""
    from .live import LiveHead, image_features

    head = LiveHead(model, image_features(model, image, device))
    for _ in head.fit(strokes):
        pass
    prob = head.predict()
    guess = np.where(prob.max(0) >= sure, prob.argmax(0), IGNORE_LABEL)
    return np.where(strokes != IGNORE_LABEL, strokes, guess).astype(np.int64)


def round_job(
    base: Any, data: list[RoundData], *, parent: str, heldout: tuple[Any, Any] | None = None,
    seconds: float | None = 20.0, steps: int | None = None, device: str = "auto",
    threads: int | None = None, corrected_weight: float | str | None = None,
    guide: float | None = GUIDE, classes: list[str] | None = None, **recipe,
) -> Generator[Event, None, RoundResult]:  # fmt: skip
    """Fine-tune ``base`` (never changed) on ``data``, then re-segment ``data[0]``'s image:
    yields the training events and :class:`Status` lines; returns a :class:`RoundResult`.
    ``parent`` is the reference the new version records as its parent. Scribbles (``sparse``
    data) are completed by the live head where it is ``guide`` sure (None: strokes only);
    the time it takes counts in ``seconds``. ``classes``: the pairs' class names, more than
    ``base`` has when the user named and painted a new class. ``recipe``: fine-tuning options
    (:func:`~unet_core.training.finetune.finetune_config`)."""
    from ..base.jobs import drain
    from ..inference.predictor import Predictor
    from ..inference.stacks import predict_stack
    from ..training.finetune import heldout_dice, iter_finetune
    from ..training.weight_maps import CORRECTED_WEIGHT
    from .errors import LoopError

    start = time.perf_counter()
    weight = CORRECTED_WEIGHT if corrected_weight is None else corrected_weight
    if classes is not None and len(classes) > base.num_classes:
        from ..model.widen import with_named_classes

        base = with_named_classes(base, classes)  # a new class: guided by the wider head
    labels = [d.labels for d in data]
    if guide is not None and any(d.sparse and d.labels.ndim == 2 for d in data):
        yield Status("reading the images with the network…")
        for i, d in enumerate(data):
            # too large to answer live: its strokes alone (a stack's too: no live head in 3-D)
            with contextlib.suppress(LoopError):
                if d.sparse and d.labels.ndim == 2:
                    labels[i] = guided_labels(base, d.image, d.labels, guide, device)
    if seconds:
        seconds = max(1.0, seconds - (time.perf_counter() - start))
    new = yield from iter_finetune(
        base, [d.image for d in data], labels, steps=steps or None,
        seconds=seconds or None, ignore_label=IGNORE_LABEL, device=device, threads=threads,
        corrected=[d.corrected for d in data], corrected_weight=weight, classes=classes,
        **recipe,
    )  # fmt: skip
    yield Status("re-segmenting with the new model…")
    predictor = Predictor(new, device=device)
    if data[0].labels.ndim == 3:  # a stack: every slice (a 2-D model), or the volume (3-D)
        prob = drain(predict_stack(predictor, data[0].image)).prob
    else:
        prob = predictor(data[0].image)
    dice = None
    if heldout is not None and np.ndim(heldout[1]) == 2:
        dice = heldout_dice(new, heldout[0], heldout[1], IGNORE_LABEL, device=device)
    done = new.card.provenance.get("finetune", {}).get("steps", 0) if new.card else 0
    new.cpu()  # versions are kept on the CPU: a GPU's memory is not spent on every round's model
    return RoundResult(new, prob, int(done), time.perf_counter() - start, dice, parent, data)
