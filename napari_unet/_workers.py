"""Background jobs. Each job is a generator that yields progress and returns its result, so a
napari worker can run it, and quit it between yields. torch and unet_core's numerics are
imported inside the jobs, never at import."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

_MODELS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


@dataclass
class SegmentResult:
    prob: Any  # (classes, H, W) float32
    classes: list[str]
    scale: float
    seconds: float
    model: str
    card: Any = None
    measurements: dict | None = None  # the task's measurements of the mask (vessels)
    objects: Any = None  # (H, W) int32 separate objects, when asked for
    precision: str = "fp32"  # the network's arithmetic: "fp32" or "bf16"
    pyramid: list | None = None  # the foreground probability at each shape asked for


def load_model_cached(spec: str, device: str):
    """A fine-tuned version by name, or a model by bundled name or file path (kept loaded)."""
    from unet_core.model.store import load_model

    from ._versions import STORE

    version = STORE.get(str(spec))
    if version is not None:
        return version.model
    with _LOCK:
        key = (str(spec), device)
        if key not in _MODELS:
            _MODELS[key] = load_model(spec, device=device)
        return _MODELS[key]


def segment_job(
    image: Any, model: str, device: str = "auto", tile: int | None = None, tta: bool = False,
    threshold: float = 0.5, objects: bool = False, pyramid_shapes: list | None = None,
) -> Generator[tuple[int, int], None, SegmentResult]:  # fmt: skip
    """Segment one 2-D image: yields ``(done, total)`` tiles, returns a :class:`SegmentResult`
    (with vessel measurements of the mask at ``threshold`` for vessel models, the separate
    objects when ``objects``, and the foreground probability at each of ``pyramid_shapes``,
    the image's own first, for a multiscale result)."""
    from unet_core.base.arrays import pyramid
    from unet_core.inference.predictor import Predictor
    from unet_core.postprocess import (
        foreground_probability,
        probabilities_to_labels,
        separate_objects,
    )

    start = time.perf_counter()
    net = load_model_cached(model, device)
    predictor = Predictor(net, tile=tile or None, device=device, tta=tta)
    scale = predictor.scale_for(image)
    prob = yield from predictor.run(image, scale=scale)
    values = predictor.task.measure(image, probabilities_to_labels(prob, threshold), net.card)
    instances = separate_objects(prob, net.card.classes, threshold) if objects else None
    levels = pyramid(foreground_probability(prob), pyramid_shapes) if pyramid_shapes else None
    return SegmentResult(prob, list(net.card.classes), scale,
                         time.perf_counter() - start, str(model), net.card, values,
                         instances, predictor.precision, levels)  # fmt: skip


def measure_job(image: Any, labels: Any, card: Any) -> Generator[None, None, dict]:
    """The task's measurements (vessels) of (edited) labels, off the UI thread."""
    import numpy as np

    from unet_core.tasks import task_of

    yield
    return task_of(card).measure(np.asarray(image), (labels == 1).astype("uint8"), card)


@dataclass
class FinetuneResult:
    model: Any
    prob: Any  # (classes, H, W) of the re-segmented target image
    steps: int
    seconds: float
    heldout_dice: float | None


def finetune_job(
    base: Any, pairs: list[tuple[Any, Any]], target: Any, *, heldout: tuple[Any, Any] | None,
    seconds: float | None, steps: int | None, device: str, ignore_label: int,
) -> Generator[dict, None, FinetuneResult]:  # fmt: skip
    """Fine-tune ``base`` on the (image, labels) pairs, then re-segment ``target``: yields the
    training logs, then ``{"kind": "status"}``; returns a :class:`FinetuneResult`."""
    from unet_core.inference.predictor import Predictor
    from unet_core.training.finetune import heldout_dice, iter_finetune
    from unet_core.training.threads import available_cores

    start = time.perf_counter()
    images, labels = [p[0] for p in pairs], [p[1] for p in pairs]
    # one core stays with napari's window: it renders the loss plot and the user's painting
    threads = max(1, available_cores() - 1)
    new = yield from iter_finetune(base, images, labels, steps=steps or None,
                                   seconds=seconds or None, ignore_label=ignore_label,
                                   device=device, threads=threads)  # fmt: skip
    yield {"kind": "status", "text": "re-segmenting with the new model…"}
    prob = Predictor(new, device=device)(target)
    dice = None
    if heldout is not None:
        dice = heldout_dice(new, heldout[0], heldout[1], ignore_label, device=device)
    steps_done = new.card.provenance.get("finetune", {}).get("steps", 0) if new.card else 0
    return FinetuneResult(new, prob, steps_done, time.perf_counter() - start, dice)


def train_job(data: Any, out: str, *, val: Any = None, minutes: float | None,
              steps: int | None = None, size: str = "medium", base: str | None = None,
              device: str = "auto", stop=None) -> Generator[dict, None, Any]:  # fmt: skip
    """Train a new model on checked data (``unet_core.data.folders.FolderData``): yields the
    training logs, returns ``unet_core.training.scratch.TrainResult``. ``stop()`` returning
    True ends the run early; the best weights so far are kept."""
    import torch

    from unet_core.training.scratch import iter_train
    from unet_core.training.threads import available_cores

    # one core stays with napari's window: it draws the plot and the user's painting
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(before, available_cores() - 1)))
    try:
        return (yield from iter_train(data, out, val=val, minutes=minutes, steps=steps,
                                      size=size, base=base, device=device, stop=stop,
                                      source="napari"))  # fmt: skip
    finally:
        torch.set_num_threads(before)


def compare_job(
    models: list[Any], image: Any, labels: Any, ignore_label: int, device: str
) -> Generator[tuple[int, int], None, list[float]]:
    """Held-out Dice of each model on one corrected image: yields (done, total)."""
    from unet_core.training.finetune import heldout_dice

    dice = []
    for i, model in enumerate(models):
        yield i, len(models)
        dice.append(heldout_dice(model, image, labels, ignore_label, device=device))
    return dice


def start_worker(job: Generator, **connections):
    """Wrap a job in an unstarted napari GeneratorWorker, connecting ``signal=callback``."""
    from napari.qt.threading import GeneratorWorker

    worker = GeneratorWorker(lambda: (yield from job))
    # a cancelled job is left suspended by the worker: close it once the thread is done, before
    # the widget hears of it, so that its clean-up (a batch's report) has run by then
    worker.finished.connect(job.close)
    for signal, callback in connections.items():
        getattr(worker, signal).connect(callback)
    return worker


def batch_job(inputs: list[str], out_dir: str, model: Any, options: Any, pattern: str = "*",
              recursive: bool = False):  # fmt: skip
    """Segment files and folders into ``out_dir`` with ``options`` (a
    ``unet_core.batch.SegmentOptions``, see ``BatchRun``): yields its progress events and
    per-file results, returns the run (counts, summary, report)."""
    from unet_core.batch import BatchRun

    net = load_model_cached(model, options.device) if isinstance(model, str) else model
    run = BatchRun(inputs, out_dir, model=net, options=options, pattern=pattern,
                   recursive=recursive)  # fmt: skip
    yield from run.events()
    return run
