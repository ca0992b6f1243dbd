"""Prediction into arrays the caller gives, band by band: the foreground probability and the
labels of an image too large for memory, written into (say) chunked on-disk zarr arrays, so
that neither the image nor its result is ever whole in memory (the napari Segment widget's
large layers). The bands are :func:`~.bands.predict_bands`'s; a threshold moved later is
applied band by band too, keeping what was painted on the labels since."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..base.events import Partial, Progress
from ..postprocess import foreground_probability, probabilities_to_labels

if TYPE_CHECKING:  # torch is imported when something is predicted, not before
    from .predictor import Predictor

#: bytes a pixel of an in-memory result takes: float32 probabilities of two classes, the
#: float32 foreground probability shown and the uint8 labels
RESULT_BYTES_PER_PIXEL = 4 * 2 + 4 + 1
#: chunk edge of the on-disk outputs along the last two axes (one plane per chunk of a stack)
CHUNK = 1024
#: rows a threshold is re-applied in at a time (:func:`rethreshold_into`)
BAND_ROWS = 1024
PROBABILITY, LABELS = "probability", "labels"


def result_bytes(shape: tuple[int, ...]) -> int:
    """Bytes an in-memory result of an image (or stack) of ``shape`` (spatial, no channels)
    would take (:data:`RESULT_BYTES_PER_PIXEL` a pixel): from the shape, nothing read."""
    return int(np.prod([int(n) for n in shape], dtype=np.float64)) * RESULT_BYTES_PER_PIXEL


def create_outputs(folder: str | os.PathLike, shape: tuple[int, ...]) -> tuple:
    """A new zarr group ``folder`` holding a float32 ``probability`` and a uint8 ``labels``
    array of ``shape``, chunked by :data:`CHUNK` (one plane a chunk along leading axes), both
    zero until written. An existing ``folder`` is never overwritten: FileExistsError."""
    import zarr

    folder = Path(folder)
    if folder.exists():
        raise FileExistsError(f"{folder} exists already: it is not overwritten")
    folder.parent.mkdir(parents=True, exist_ok=True)
    zarr.open_group(str(folder), mode="w-")
    chunks = (*(1 for _ in shape[:-2]), *(min(CHUNK, int(n)) for n in shape[-2:]))
    arrays = tuple(zarr.create(shape=tuple(shape), chunks=chunks, dtype=dtype, fill_value=0,
                               store=str(folder / name))  # fmt: skip
                   for name, dtype in ((PROBABILITY, np.float32), (LABELS, np.uint8)))
    return arrays


def predict_into(predictor: Predictor, image, probability, labels, *, threshold: float = 0.5,
                 index: tuple[int, ...] = (), rows: int | None = None,
                 ) -> Generator[Progress, None, dict]:  # fmt: skip
    """Predict ``image`` (an (H, W[, C]) image, or a (D, H, W[, C]) volume for a 3-D model:
    any array that slices) band by band (:func:`~.bands.predict_bands`, at the image's own
    scale) and write its foreground probability into ``probability[index]`` and its labels
    at ``threshold`` into ``labels[index]``, each band before the next is read.

    Yields :class:`Progress` in tiles; returns the pixels of each class (``{class index:
    count}``). Closing it stops between tile batches, the bands written so far kept."""
    from .bands import predict_bands

    if predictor.scale != "auto" and abs(float(predictor.scale) - 1.0) >= 0.02:
        raise ValueError("an image this large is segmented at its own scale")
    index = tuple(index)
    counts: dict[int, int] = {}
    for event in predict_bands(predictor, image, rows):
        if isinstance(event, Progress):
            yield event
            continue
        assert isinstance(event, Partial)
        band = event.value
        where = (*index, slice(band.y0, band.y0 + band.prob.shape[1]))
        probability[where] = foreground_probability(band.prob)
        found = probabilities_to_labels(band.prob, threshold)
        labels[where] = found
        for value, n in zip(*np.unique(found, return_counts=True)):
            counts[int(value)] = counts.get(int(value), 0) + int(n)
    return counts


def rethreshold_into(probability, labels, old: float | list[float], new: float,
                     index: tuple[int, ...] = (), rows: int | None = None,
                     ) -> Generator[Progress, None, int]:  # fmt: skip
    """The labels of a two-class result made at ``old`` re-derived at ``new`` from the
    foreground ``probability``, band by band of ``rows`` (default :data:`BAND_ROWS`) along
    the first axis after ``index``: a pixel whose label is not what the threshold it was
    derived at gave it was painted and keeps its value. ``old``: that threshold, or one per
    band (after a pass stopped half-way). Yields ``Progress(bands written, bands, "bands")``
    after each band; returns the pixels changed."""
    index = tuple(index)
    rows = rows or BAND_ROWS
    H = int(probability.shape[len(index)])
    starts = list(range(0, H, rows))
    olds = list(old) if isinstance(old, (list, tuple)) else [old] * len(starts)
    changed = 0
    yield Progress(0, len(starts), "bands")
    for i, y0 in enumerate(starts):
        where = (*index, slice(y0, min(H, y0 + rows)))
        fg = np.asarray(probability[where])
        current = np.asarray(labels[where])
        derived_old = (fg >= olds[i]).astype(np.uint8)
        fresh = np.where(current != derived_old, current, (fg >= new).astype(np.uint8))
        moved = fresh != current
        if moved.any():
            labels[where] = fresh
            changed += int(moved.sum())
        yield Progress(i + 1, len(starts), "bands")
    return changed


__all__ = ["create_outputs", "predict_into", "result_bytes", "rethreshold_into"]
