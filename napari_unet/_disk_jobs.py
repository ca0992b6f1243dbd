"""The background job behind a layer too large for memory: its probability and labels written
band by band into arrays the widget chose (``unet_core.inference.into``). torch and the core's
numerics are imported inside the job, never at import."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from ._jobs import AUTO, SegmentResult, resolve_model, three_d_refusal

#: pixels of the strided sample an automatic model choice looks at
SAMPLE_PIXELS = 1 << 20


def segment_into_job(
    image: Any, ref: str, workspace: Any, targets: tuple, *, index: tuple = (),
    whole: bool = False, device: str = "auto", tile: int | None = None, tta: bool = False,
    threshold: float = 0.5,
) -> Generator[Any, None, SegmentResult]:  # fmt: skip
    """Segment ``image`` (a plane, or with ``whole`` a stack for a 3-D model) into
    ``targets`` = (probability, labels) at ``index``, band by band: yields ``Progress`` in
    tiles, returns a :class:`~._jobs.SegmentResult` without arrays (``prob`` None), with
    notes on what a result this large does without."""
    import numpy as np

    from unet_core.inference.into import predict_into
    from unet_core.inference.predictor import Predictor
    from unet_core.tasks import suggest_model

    start, chosen = time.perf_counter(), ""
    plane = image[len(image) // 2] if whole else image
    if ref == AUTO:
        step = max(1, int(np.sqrt(plane.shape[0] * plane.shape[1] / SAMPLE_PIXELS)))
        ref, chosen = suggest_model(np.asarray(plane[::step, ::step]))
    net = resolve_model(workspace, ref, device)
    if whole and net.spatial_dims != 3:
        raise ValueError("a stack this large is segmented slice by slice here: untick "
                         "'whole stack' (or use a 3-D model)")  # fmt: skip
    if not whole and net.spatial_dims == 3:
        raise ValueError(three_d_refusal(bool(index)))
    predictor = Predictor(net, tile=tile or None, device=device, tta=tta)
    probability, labels = targets
    yield from predict_into(predictor, image, probability, labels, threshold=threshold,
                            index=index)  # fmt: skip
    notes = [predictor.window.note] if predictor.window.note else []
    if net.card.scale:
        notes.append("note: segmented at the image's own scale (no automatic scale or field "
                     "of view for a layer this large)")  # fmt: skip
    return SegmentResult(None, list(net.card.classes), 1.0, time.perf_counter() - start, ref,
                         net.card, precision=predictor.precision, notes=notes,
                         chosen=chosen)  # fmt: skip
