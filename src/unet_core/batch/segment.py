"""Segmenting one file: read (or stream), predict, write atomically, measure; never raise for a
bad file, answer with a :class:`FileResult` that says why."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path

import numpy as np

from ..base.events import Progress
from ..base.files import file_mode, temp_prefix
from ..base.jobs import drain, relay
from ..data.io import ImageReadError, read_image, write_png, write_tiff
from ..data.lazy import image_shape, open_lazy
from ..inference.bands import predict_bands
from ..inference.predictor import Predictor
from ..overlay import overlay
from ..postprocess import (
    class_areas,
    labels_to_mask,
    object_stats,
    probabilities_to_labels,
    separate_objects,
)
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

Steps = Generator[tuple[int, int], None, FileResult]


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
    """Segment one file into ``out_dir``, yielding ``(done, total)`` tiles as it goes.

    Closing the generator (a cancel) stops after the current tile batch and leaves no output
    behind: outputs are written under temporary names and renamed once complete. The
    measurements hold each class's area and, with ``instances``, the number and mean area of
    separate objects (their labels written to ``<stem>_instances.tif``). ``changes`` override
    fields of ``options`` (e.g. ``threshold=0.4``).
    """
    o = (options or SegmentOptions()).with_(**changes)
    start = time.perf_counter()
    path = Path(path)
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
    if not o.overwrite and all(t.exists() for t in targets):
        source = mask_source(mask_path)
        if source is None:
            return FileResult(path, "failed", f"{mask_path.name} exists but is not a mask "
                              "(empty or not a TIFF): remove it, or use overwrite")  # fmt: skip
        if source and source != source_text(path) and os.path.exists(source):
            # another file of the same name made it (a moved input folder keeps its masks)
            return FileResult(path, "failed", f"{mask_path.name} is the mask of another file, "
                              f"{source}: rename one, or use another output folder")  # fmt: skip
        return FileResult(path, "skipped", "outputs exist (use overwrite to redo)", targets)
    try:
        shape = image_shape(path)
        if shape is not None and is_2d(shape) and shape[0] * shape[1] > o.stream_pixels:
            result = yield from _streamed(predictor, path, out_dir, o)
        else:
            image = read_image(path)
            if is_2d(image.shape):
                result = yield from _image(predictor, path, image, out_dir, o)
            elif is_stack(image.shape):
                _check_ambiguous(image.shape)
                result = yield from _stack(predictor, path, image, out_dir, o)
            else:
                raise ValueError(f"expected a 2-D image or a stack of them, got {image.shape}")
    except (ImageReadError, ValueError, RuntimeError, MemoryError) as exc:
        reason = str(exc).removeprefix(f"{path.name}: ") or type(exc).__name__
        return FileResult(path, "failed", reason, seconds=time.perf_counter() - start)
    except OSError as exc:
        reason = f"{exc.strerror or exc}"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS):
            reason = f"cannot write its outputs ({reason})"
        return FileResult(path, "failed", reason, seconds=time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - one file's surprise must not stop the others
        reason = f"unexpected error ({type(exc).__name__}: {str(exc).strip()[:200]})"
        return FileResult(path, "failed", reason, seconds=time.perf_counter() - start)
    result.seconds = time.perf_counter() - start
    result.precision = predictor.precision
    return result


def segment_file(predictor: Predictor, path: Path, out_dir: Path,
                 options: SegmentOptions | None = None, **changes) -> FileResult:  # fmt: skip
    """:func:`segment_file_steps` run to the end."""
    return drain(segment_file_steps(predictor, path, out_dir, options, **changes))


def _image(predictor, path, image, out_dir, o: SegmentOptions):
    mask_path, prob_path, overlay_path = output_paths(path, out_dir)
    bad = _non_finite(image)
    predicted = yield from relay(predictor.run(image), lambda e: (e.done, e.total))
    prob, scale = predicted.prob, predicted.scale
    labels = probabilities_to_labels(prob, o.threshold)
    reason = ""
    if bad is not None:
        labels[bad] = 0
        reason = f"{int(bad.sum())} NaN/inf pixel(s) treated as the mean and left unsegmented"
    mask = labels_to_mask(labels, prob.shape[0])
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
        write_png(overlay_path, overlay(image, mask))
    write_tiff(mask_path, mask, source=source_text(path))  # last: its presence means done
    if o.measure:
        values.update(predictor.task.measure(image, mask, predictor.card, predicted.context))
    return FileResult(path, "ok", reason, outputs, tuple(image.shape), 0.0,
                      _foreground(mask, prob.shape[0]), scale, values)  # fmt: skip


def _stack(predictor, path, stack, out_dir, o: SegmentOptions):
    """A 3-D stack where 2-D images were expected: segmented slice by slice."""
    mask_path, prob_path, _ = output_paths(path, out_dir)
    n = stack.shape[0]
    masks, probs, areas = [], [], {}
    for z in range(n):
        job = predictor.run(stack[z])
        predicted = yield from relay(job, lambda e, z=z: (z * e.total + e.done, n * e.total))
        prob, scale = predicted.prob, predicted.scale
        labels = probabilities_to_labels(prob, o.threshold)
        masks.append(labels_to_mask(labels, prob.shape[0]))
        areas = _add(areas, class_areas(labels, predictor.card.classes))
        if o.save_prob:
            probs.append(prob)
    mask = np.stack(masks)
    if o.save_prob:
        write_tiff(prob_path, np.stack(probs))
    write_tiff(mask_path, mask, source=source_text(path))
    outputs = (mask_path,) + (prob_path,) * o.save_prob
    note = f"a stack of {n} slices, segmented slice by slice"
    skipped = [w for w, on in (("overlay", o.save_overlay), ("objects", o.instances)) if on]
    if skipped:
        note += f" (no {' or '.join(skipped)} for stacks)"
    fg = _foreground(mask, predictor.model.num_classes)
    return FileResult(path, "ok", note, outputs, tuple(stack.shape), 0.0, fg, scale, areas)


def _streamed(predictor, path, out_dir, o: SegmentOptions):
    """An image too large to load: read lazily, predicted band by band, written band by band."""
    mask_path, prob_path, _ = output_paths(path, out_dir)
    if predictor.scale != "auto" and abs(float(predictor.scale) - 1.0) >= 0.02:
        raise ValueError("images this large are segmented at their own scale (no --scale)")
    if o.save_prob and predictor.model.num_classes != 2:
        raise ValueError("probability maps of multi-class models are not written for huge images")
    image = open_lazy(path)
    H, W = image.shape[:2]
    count, areas = 0, {}
    with contextlib.ExitStack() as stack:
        mask_out = stack.enter_context(BandWriter(mask_path, (H, W), np.uint8,
                                                  source=source_text(path)))  # fmt: skip
        prob_out = None
        if o.save_prob:
            prob_out = stack.enter_context(BandWriter(prob_path, (H, W), np.float32))
        for event in predict_bands(predictor, image):
            if isinstance(event, Progress):
                yield event.done, event.total
                continue
            a, b = event.value.y0, event.value.prob
            labels = probabilities_to_labels(b, o.threshold)
            mask = labels_to_mask(labels, b.shape[0])
            count += int(np.count_nonzero(mask))
            areas = _add(areas, class_areas(labels, predictor.card.classes))
            if prob_out is not None:
                prob_out.write(a, b[1])
            mask_out.write(a, mask)
    outputs = (mask_path,) + (prob_path,) * o.save_prob
    skipped = [
        w
        for w, on in (
            ("overlay", o.save_overlay),
            ("objects", o.instances),
            ("measurements", o.measure and bool(predictor.task.report_columns)),
        )
        if on
    ]
    if predictor.card.scale:  # the image is never whole in memory: its own scale, all of it
        skipped += ["automatic scale", "field-of-view limit"]
    note = "streamed band by band" + (f" (no {', '.join(skipped)})" if skipped else "")
    return FileResult(path, "ok", note, outputs, tuple(image.shape), 0.0, count / (H * W), 1.0,
                      areas)  # fmt: skip


class BandWriter:
    """An uncompressed TIFF written band by band, under a temporary name renamed when complete.

    The space is reserved when the file is created (``posix_fallocate``), so a full disk is
    an ``OSError`` at the start (the file fails, the batch goes on) and never the ``SIGBUS``
    that writing through a memory map into a sparse file gives. Bands are written with
    ``pwrite``, so written pages do not pile up in this process.
    """

    def __init__(self, path: Path, shape: tuple[int, int], dtype, **meta):
        self.path, self.shape, self.dtype = Path(path), shape, np.dtype(dtype)
        self.meta = meta
        self.tmp: Path | None = None
        self.offset = 0
        self.fd = -1

    def __enter__(self) -> BandWriter:
        import tifffile

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(self.path), suffix=".tif.part",
                                   dir=self.path.parent)  # fmt: skip
        os.close(fd)
        self.tmp = Path(tmp)
        try:
            with tifffile.TiffWriter(self.tmp, bigtiff=True) as tif:
                tif.write(shape=self.shape, dtype=self.dtype, metadata=self.meta)  # a hole
            with tifffile.TiffFile(self.tmp) as tif:
                self.offset = tif.pages.first.dataoffsets[0]
            self.fd = os.open(self.tmp, os.O_RDWR)
            size = self.offset + self.shape[0] * self.shape[1] * self.dtype.itemsize
            _reserve(self.fd, size, self.path.parent)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def write(self, y0: int, band: np.ndarray) -> None:
        data = np.ascontiguousarray(band, self.dtype).tobytes()
        at = self.offset + y0 * self.shape[1] * self.dtype.itemsize
        while data:
            written = os.pwrite(self.fd, data, at)
            data, at = data[written:], at + written

    def __exit__(self, kind, exc, tb) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if kind is None:
            os.chmod(self.tmp, file_mode())
            os.replace(self.tmp, self.path)
        else:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)


def _reserve(fd: int, size: int, folder: Path) -> None:
    """Make sure ``size`` bytes can be written to ``fd``: an OSError (no space) now, not later."""
    try:
        os.posix_fallocate(fd, 0, size)
    except AttributeError:  # no posix_fallocate (macOS, Windows): compare with the free space
        if shutil.disk_usage(folder).free < size:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from None
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system without it
            raise


def _check_ambiguous(shape: tuple[int, ...]) -> None:
    """A ValueError for a (Z, H, W) array whose W is a few pixels: ``tifffile.imwrite`` stores
    a 64 x 64 x 5 array as 64 pages of 64 x 5 pixels, but it was most likely one image with 5
    channels. Neither reading can be segmented, so it is said instead of guessed."""
    if len(shape) == 3 and 4 < shape[-1] <= 16 and shape[-1] * 4 <= shape[1]:
        z, h, w = shape
        raise ValueError(f"a {z} x {h} x {w} array is either {z} slices of {h} x {w} pixels or "
                         f"one {z} x {h} image with {w} channels (at most 4 are segmented); "
                         "save slices first, as (slices, height, width)")  # fmt: skip


def _add(total: dict, more: dict) -> dict:
    return {k: total.get(k, 0) + v for k, v in more.items()}


def _label_dtype(objects: np.ndarray):
    return np.uint16 if objects.max(initial=0) < 65536 else np.uint32


def _non_finite(image: np.ndarray) -> np.ndarray | None:
    if not np.issubdtype(image.dtype, np.floating):
        return None
    bad = ~np.isfinite(image)
    bad = bad.any(axis=-1) if image.ndim == 3 else bad
    return bad if bad.any() else None


def _foreground(mask: np.ndarray, classes: int) -> float:
    return float(np.mean(mask > 0)) if classes == 2 else float(np.mean(mask != 0))
