"""An image too large to load: read lazily, predicted band by band, its mask (and probability
map) written band by band into TIFFs that reserve their space before the first band."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from ..base.events import Progress
from ..base.files import file_mode, temp_prefix
from ..base.labels import file_mask, mask_metadata, mask_palette
from ..data.lazy import open_lazy
from ..inference.bands import predict_bands
from ..postprocess import class_areas, probabilities_to_labels
from .files import FileResult, output_paths, source_text
from .options import SegmentOptions


def segment_streamed(predictor, path: Path, out_dir: Path, o: SegmentOptions):
    """Segment an image too large to load, yielding :class:`Progress` in tiles; returns its
    :class:`FileResult` (the class areas, no measurements: the image is never whole)."""
    mask_path, prob_path, _ = output_paths(path, out_dir)
    if predictor.scale != "auto" and abs(float(predictor.scale) - 1.0) >= 0.02:
        raise ValueError("images this large are segmented at their own scale (no --scale)")
    if o.save_prob and predictor.model.num_classes != 2:
        raise ValueError("probability maps of multi-class models are not written for huge images")
    nd = predictor.model.spatial_dims
    image = open_lazy(path, volume=nd == 3)
    shape = tuple(image.shape[:nd])
    count, areas = 0, Counter()
    classes = predictor.card.classes
    with contextlib.ExitStack() as stack:
        mask_out = stack.enter_context(BandWriter(
            mask_path, shape, np.uint8, palette=True,
            **mask_metadata(classes), source=source_text(path)))  # fmt: skip
        prob_out = None
        if o.save_prob:
            prob_out = stack.enter_context(BandWriter(prob_path, shape, np.float32))
        for event in predict_bands(predictor, image):
            if isinstance(event, Progress):
                yield event
                continue
            a, b = event.value.y0, event.value.prob
            labels = file_mask(probabilities_to_labels(b, o.threshold), len(classes))
            count += int(np.count_nonzero(labels))
            areas.update(class_areas(labels, classes))
            if prob_out is not None:
                prob_out.write(a, b[1])
            mask_out.write(a, labels)
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
    note = ("streamed band by band" if nd == 2 else "a volume, streamed slab by slab")
    note += f" (no {', '.join(skipped)})" if skipped else ""
    return FileResult(path, "ok", note, outputs, tuple(image.shape), 0.0,
                      count / int(np.prod(shape)), 1.0, dict(areas))  # fmt: skip


class BandWriter:
    """An uncompressed TIFF written band by band (a volume: slab by slab of pages), under a
    temporary name renamed when complete.

    The space is reserved when the file is created (``posix_fallocate``), so a full disk is
    an ``OSError`` at the start (the file fails, the batch goes on) and never the ``SIGBUS``
    that writing through a memory map into a sparse file gives. Bands are written with
    ``pwrite``, so written pages do not pile up in this process. With ``palette`` the TIFF
    carries the masks' palette (:func:`unet_core.base.labels.mask_palette`).
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype, palette: bool = False,
                 **meta):  # fmt: skip
        self.path, self.shape, self.dtype = Path(path), shape, np.dtype(dtype)
        self.meta = meta
        self.colours = {"photometric": "palette", "colormap": mask_palette()} if palette else {}
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
                tif.write(shape=self.shape, dtype=self.dtype, metadata=self.meta,
                          **self.colours)  # a hole
            with tifffile.TiffFile(self.tmp) as tif:
                self.offset = tif.pages.first.dataoffsets[0]
            self.fd = os.open(self.tmp, os.O_RDWR)
            # a volume's pages are written one after the other, so its data is one block too
            size = self.offset + int(np.prod(self.shape)) * self.dtype.itemsize
            _reserve(self.fd, size, self.path.parent)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def write(self, y0: int, band: np.ndarray) -> None:
        data = np.ascontiguousarray(band, self.dtype).tobytes()
        at = self.offset + y0 * int(np.prod(self.shape[1:])) * self.dtype.itemsize
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
