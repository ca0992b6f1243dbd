"""Segmenting one file: read (or stream), predict, write atomically, measure; never raise for a
bad file, answer with a :class:`FileResult` that says why. Images too large to load are
:mod:`.streamed`'s."""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections import Counter
from collections.abc import Generator
from pathlib import Path

import numpy as np

from ..base.events import Progress
from ..base.jobs import drain, relay
from ..data.io import ImageReadError, read_image, write_mask, write_png, write_tiff
from ..data.lazy import image_shape
from ..inference.predictor import Predictor
from ..overlay import overlay
from ..postprocess import class_areas, object_stats, probabilities_to_labels, separate_objects
from .files import (
    FileResult,
    instances_path,
    mask_source,
    not_segmented,
    output_paths,
    real_path,
    source_text,
)
from .options import SegmentOptions
from .streamed import segment_streamed

Steps = Generator[Progress, None, FileResult]


def is_2d(shape: tuple[int, ...]) -> bool:
    return len(shape) == 2 or (len(shape) == 3 and shape[-1] <= 4)


def is_stack(shape: tuple[int, ...]) -> bool:
    return (len(shape) == 3 and shape[-1] > 4) or (len(shape) == 4 and shape[-1] <= 4)


def segment_file_steps(
    predictor: Predictor,
    path: Path,
    out_dir: Path,
    options: SegmentOptions | None = None,
    *,
    protected: frozenset[Path] = frozenset(),
    **changes,
) -> Steps:
    """Segment one file into ``out_dir``, yielding :class:`Progress` in tiles as it goes.

    Closing the generator (a cancel) stops after the current tile batch and leaves no output
    behind: outputs are written under temporary names and renamed once complete. The mask
    holds class indices (:func:`unet_core.data.io.write_mask`). The measurements hold each
    class's area and, with ``instances``, the number and mean area of separate objects (their
    labels written to ``<stem>_instances.tif``). ``changes`` override fields of ``options``
    (e.g. ``threshold=0.4``).
    """
    o = (options or SegmentOptions()).with_(**changes)
    start = time.perf_counter()
    path = Path(path)
    early = _not_to_segment(path, out_dir, o, protected)
    if early is not None:
        return early
    try:
        shape = image_shape(path)
        volumes = predictor.model.spatial_dims == 3
        fits = is_stack if volumes else is_2d
        pixels = int(np.prod(shape[: 3 if volumes else 2])) if shape is not None else 0
        if shape is not None and fits(shape) and pixels > o.stream_pixels:
            result = yield from segment_streamed(predictor, path, out_dir, o)
        else:
            image = read_image(path)
            if volumes:
                if not is_stack(image.shape):
                    raise ValueError(f"a 3-D model segments volumes (D, H, W[, C]); this is "
                                     f"an image of shape {tuple(image.shape)}")  # fmt: skip
                result = yield from _volume(predictor, path, image, out_dir, o)
            elif is_2d(image.shape):
                result = yield from _image(predictor, path, image, out_dir, o)
            elif is_stack(image.shape):
                _check_ambiguous(image.shape)
                result = yield from _stack(predictor, path, image, out_dir, o)
            else:
                raise ValueError(f"expected a 2-D image or a stack of them, got {image.shape}")
    except Exception as exc:  # noqa: BLE001 - one file's surprise must not stop the others
        return FileResult(path, "failed", _reason(exc, path), seconds=time.perf_counter() - start)
    result.seconds = time.perf_counter() - start
    result.precision = predictor.precision
    if o.overwrite:
        _remove_stale(path, out_dir, result.outputs)
    return result


def _remove_stale(path: Path, out_dir: Path, written: tuple[Path, ...]) -> None:
    """The outputs of ``path`` an earlier run wrote and this one did not (a probability map,
    an overlay, objects): they show the mask that was overwritten, so they go with it."""
    mask_path, prob_path, overlay_path = output_paths(path, out_dir)
    for stale in (prob_path, overlay_path, instances_path(path, out_dir)):
        if stale not in written and stale.is_file() and not stale.is_symlink():
            with contextlib.suppress(OSError):
                stale.unlink()


def _not_to_segment(path: Path, out_dir: Path, o: SegmentOptions,
                    protected: frozenset[Path]) -> FileResult | None:  # fmt: skip
    """The result of a file that is not segmented (not an image, outputs that exist or are in
    the way), or None to segment it."""
    mask_path, prob_path, overlay_path = output_paths(path, out_dir)
    problem = not_segmented(path)
    if problem is not None:
        return FileResult(path, *problem)
    targets = (mask_path,) + (prob_path,) * o.save_prob + (overlay_path,) * o.save_overlay
    targets += (instances_path(path, out_dir),) * o.instances
    if any(real_path(t) in protected for t in targets):
        return FileResult(path, "failed", "its output name would overwrite an input file")
    in_the_way = [t for t in targets if os.path.lexists(t) and not t.is_file()]
    if in_the_way:
        return FileResult(path, "failed", f"{in_the_way[0].name} is in the way: it exists and "
                          "is not a file")  # fmt: skip
    if o.overwrite or not all(t.exists() for t in targets):
        return None
    source = mask_source(mask_path)
    if source is None:
        return FileResult(path, "failed", f"{mask_path.name} exists but is not a mask (empty "
                          "or not a TIFF): remove it, or overwrite it (--overwrite)")  # fmt: skip
    if source and source != source_text(path) and os.path.exists(source):
        # another file of the same name made it (a moved input folder keeps its masks)
        return FileResult(path, "failed", f"{mask_path.name} is the mask of another file, "
                          f"{source}: rename one, or use another output folder")  # fmt: skip
    return FileResult(path, "skipped", FileResult.EXISTS, targets)


def _reason(exc: Exception, path: Path) -> str:
    """Why a file failed, in one line: a bad image, a full disk, or a surprise."""
    if isinstance(exc, (ImageReadError, ValueError, RuntimeError, MemoryError)):
        return str(exc).removeprefix(f"{path.name}: ") or type(exc).__name__
    if isinstance(exc, OSError):
        reason = f"{exc.strerror or exc}"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS):
            reason = f"cannot write its outputs ({reason})"
        return reason
    return f"unexpected error ({type(exc).__name__}: {str(exc).strip()[:200]})"


def segment_file(predictor: Predictor, path: Path, out_dir: Path,
                 options: SegmentOptions | None = None, **changes) -> FileResult:  # fmt: skip
    """:func:`segment_file_steps` run to the end."""
    return drain(segment_file_steps(predictor, path, out_dir, options, **changes))


def _image(predictor, path, image, out_dir, o: SegmentOptions):
    mask_path, prob_path, overlay_path = output_paths(path, out_dir)
    bad = _non_finite(image)
    predicted = yield from predictor.run(image)
    prob, scale = predicted.prob, predicted.scale
    labels = probabilities_to_labels(prob, o.threshold)
    reason = ""
    if bad is not None:
        labels[bad] = 0
        reason = f"{int(bad.sum())} NaN/inf pixel(s) treated as the mean and left unsegmented"
    outputs = (mask_path,) + (prob_path,) * o.save_prob + (overlay_path,) * o.save_overlay
    classes = predictor.card.classes
    values = class_areas(labels, classes)
    if o.instances:
        objects = separate_objects(prob, classes, o.threshold)
        if bad is not None:
            objects[bad] = 0
        write_tiff(instances_path(path, out_dir), objects.astype(_label_dtype(objects)))
        values.update(object_stats(objects))
        outputs += (instances_path(path, out_dir),)
    if o.save_prob:
        write_tiff(prob_path, prob)
    if o.save_overlay:
        write_png(overlay_path, overlay(image, labels))
    write_mask(mask_path, labels, classes, source=source_text(path))  # last: it means done
    if o.measure:
        values.update(predictor.task.measure(image, labels, predictor.card, predicted.context,
                                             calibration=o.calibration()))  # fmt: skip
    notes = predictor.task.notes(image, predictor.card, predicted.context)  # as Segment says
    return FileResult(path, "ok", reason, outputs, tuple(image.shape), 0.0,
                      _foreground(labels), scale, values,
                      finer=predicted.context.finer, notes=tuple(notes))  # fmt: skip


def _stack(predictor, path, stack, out_dir, o: SegmentOptions):
    """A 3-D stack where 2-D images were expected: segmented slice by slice."""
    mask_path, prob_path, _ = output_paths(path, out_dir)
    n = stack.shape[0]
    slices, probs, areas = [], [], Counter()
    for z in range(n):
        job = predictor.run(stack[z])
        predicted = yield from relay(job, lambda t, z=z: Progress(z * t.total + t.done,
                                                                  n * t.total, "tiles"))
        prob, scale = predicted.prob, predicted.scale
        slices.append(probabilities_to_labels(prob, o.threshold))
        areas.update(class_areas(slices[-1], predictor.card.classes))
        if o.save_prob:
            probs.append(prob)
    labels = np.stack(slices)
    if o.save_prob:
        write_tiff(prob_path, np.stack(probs))
    write_mask(mask_path, labels, predictor.card.classes, source=source_text(path))
    outputs = (mask_path,) + (prob_path,) * o.save_prob
    note = f"a stack of {n} slices, segmented slice by slice"
    skipped = [w for w, on in (("overlay", o.save_overlay), ("objects", o.instances)) if on]
    if skipped:
        note += f" (no {' or '.join(skipped)} for stacks)"
    return FileResult(path, "ok", note, outputs, tuple(stack.shape), 0.0, _foreground(labels),
                      scale, dict(areas))  # fmt: skip


def _volume(predictor, path, volume, out_dir, o: SegmentOptions):
    """A volume segmented by a 3-D model in one pass; the report gives voxels per class (and
    objects in 3-D with ``instances``)."""
    mask_path, prob_path, _ = output_paths(path, out_dir)
    predicted = yield from predictor.run(volume)
    prob = predicted.prob
    labels = probabilities_to_labels(prob, o.threshold)
    classes = predictor.card.classes
    values = {k.replace("area_", "volume_"): v for k, v in class_areas(labels, classes).items()}
    outputs = (mask_path,) + (prob_path,) * o.save_prob
    if o.instances:
        objects = separate_objects(prob, classes, o.threshold)
        write_tiff(instances_path(path, out_dir), objects.astype(_label_dtype(objects)))
        stats = object_stats(objects)
        values.update(objects=stats["objects"], mean_object_volume=stats["mean_object_area"])
        outputs += (instances_path(path, out_dir),)
    if o.save_prob:
        write_tiff(prob_path, prob)
    write_mask(mask_path, labels, classes, source=source_text(path))  # last: it means done
    note = f"a volume of {volume.shape[0]} slices, segmented in 3-D"
    if o.save_overlay:
        note += " (no overlay for volumes)"
    return FileResult(path, "ok", note, outputs, tuple(volume.shape), 0.0, _foreground(labels),
                      predicted.scale, values)  # fmt: skip


def _check_ambiguous(shape: tuple[int, ...]) -> None:
    """A ValueError for a (Z, H, W) array whose W is a few pixels: ``tifffile.imwrite`` stores
    a 64 x 64 x 5 array as 64 pages of 64 x 5 pixels, but it was most likely one image with 5
    channels. Neither reading can be segmented, so it is said instead of guessed."""
    if len(shape) == 3 and 4 < shape[-1] <= 16 and shape[-1] * 4 <= shape[1]:
        z, h, w = shape
        raise ValueError(f"a {z} x {h} x {w} array is either {z} slices of {h} x {w} pixels or "
                         f"one {z} x {h} image with {w} channels (at most 4 are segmented); "
                         "save slices first, as (slices, height, width)")  # fmt: skip


def _label_dtype(objects: np.ndarray):
    return np.uint16 if objects.max(initial=0) < 65536 else np.uint32


def _non_finite(image: np.ndarray) -> np.ndarray | None:
    if not np.issubdtype(image.dtype, np.floating):
        return None
    bad = ~np.isfinite(image)
    bad = bad.any(axis=-1) if image.ndim == 3 else bad
    return bad if bad.any() else None


def _foreground(labels: np.ndarray) -> float:
    """The share of pixels of any class but the background."""
    return float(np.mean(labels != 0))


