"""Background jobs. Each job is a generator that yields progress and returns its result, so a
napari ``thread_worker`` can run it (and quit it between yields) while tests can drain it
synchronously. torch and unet_core's numerics are imported inside the jobs, never at import."""

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


def load_model_cached(spec: str, device: str):
    """A loaded model by bundled name or file path, kept for the next job."""
    from unet_core.model.store import load_model

    with _LOCK:
        key = (str(spec), device)
        if key not in _MODELS:
            _MODELS[key] = load_model(spec, device=device)
        return _MODELS[key]


def segment_job(
    image: Any, model: str, device: str = "auto", tile: int | None = None, tta: bool = False
) -> Generator[tuple[int, int], None, SegmentResult]:
    """Segment one 2-D image: yields ``(done, total)`` tiles, returns a :class:`SegmentResult`."""
    from unet_core.inference.predictor import Predictor

    start = time.perf_counter()
    net = load_model_cached(model, device)
    predictor = Predictor(net, tile=tile or None, device=device, tta=tta)
    prob = yield from predictor.run(image)
    return SegmentResult(prob, list(net.card.classes), predictor.last_scale,
                         time.perf_counter() - start, str(model))  # fmt: skip


def drain(job: Generator) -> Any:
    """Run a job to the end on this thread and return its result (for tests and scripts)."""
    try:
        while True:
            next(job)
    except StopIteration as finished:
        return finished.value


def start_worker(job: Generator, **connections):
    """Wrap a job in an unstarted napari GeneratorWorker, connecting ``signal=callback``."""
    from napari.qt.threading import GeneratorWorker

    worker = GeneratorWorker(lambda: (yield from job))
    for signal, callback in connections.items():
        getattr(worker, signal).connect(callback)
    return worker
