"""The Segment widget's results too large for memory: when an in-memory result of the layer
would take more than :data:`ON_DISK_FRACTION` of the memory available, its probability and
labels go into a new chunked zarr folder (:func:`new_folder`), written band by band by the
core (``unet_core.inference.into``) and shown lazily; the labels are paintable (napari writes
the strokes into the store). The threshold is re-applied band by band, painted pixels kept;
separate objects need the whole image and are switched off for such layers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .._session import display_metadata, image_file
from ._classes import class_colormap, legend
from ._levels import level_data, level_scale

#: an output goes to disk when the in-memory result would take more than this fraction of the
#: memory available now (``unet_core.inference.into.result_bytes``)
ON_DISK_FRACTION = 0.5
OBJECTS_TIP = "a layer with one label per object (touching ones split)"
OBJECTS_OFF = ("off for a layer this large: separating objects needs the whole image in "
               "memory")  # fmt: skip


def available_memory() -> int:
    """Bytes of memory available to this process now."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # psutil comes with napari; a plain sysconf otherwise
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def output_shape(layer, level: int = 0) -> tuple[int, ...]:
    """The shape of a result of ``layer`` at ``level``: from the shape, nothing read."""
    return tuple(int(n) for n in level_data(layer, level).shape[: layer.ndim])


def too_large(layer, level: int = 0) -> bool:
    """Whether ``layer``'s result at ``level`` goes to disk (:data:`ON_DISK_FRACTION`)."""
    from unet_core.inference.into import result_bytes  # torch-free

    if layer is None:
        return False
    return result_bytes(output_shape(layer, level)) > ON_DISK_FRACTION * available_memory()


def new_folder(layer) -> Path:
    """``<image>.segmented.zarr`` beside the image's file (where it may be written), else in
    ``~/napari-unet-projects``; ``-2``, ``-3``... after the name rather than over a folder."""
    from unet_core.loop.storage import slug

    path = image_file(layer)
    parent = Path(path).parent if path else None
    if parent is None or not os.access(parent, os.W_OK):
        parent = Path.home() / "napari-unet-projects"
    stem = slug(Path(path).stem if path else layer.name)
    folder, n = parent / f"{stem}.segmented.zarr", 2
    while folder.exists():
        folder, n = parent / f"{stem}.segmented-{n}.zarr", n + 1
    return folder


def _removed_on_failure(job, folder: Path):
    """``job``, with ``folder`` deleted when it fails or is cancelled: nothing half-written."""
    try:
        return (yield from job)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


class DiskOutputs:
    """Runs, shows and re-thresholds the Segment widget's on-disk results.

    viewer, workspace : the window's; runner : the widget's JobRunner; image : its image
    choice (followed); objects : its "separate objects" box; labels : its legend row."""

    def __init__(self, viewer, workspace, runner, image, objects, labels):
        self.viewer, self.workspace, self.runner = viewer, workspace, runner
        self.objects, self.legend = objects, labels
        self.current: dict | None = None  # the newest on-disk result shown
        self.pending: float | None = None  # a threshold asked for while a pass ran
        image.changed.connect(self.follow)
        self.follow(image.value)

    def follow(self, layer) -> None:
        """Switch "separate objects" off, saying why, for a layer whose result goes to disk."""
        large = too_large(layer)
        self.objects.enabled = not large
        self.objects.tooltip = OBJECTS_OFF if large else OBJECTS_TIP

    def forget(self) -> None:
        self.current = None

    def run(self, layer, image, index: tuple, level: int, whole: bool, ref: str,
            options: tuple) -> None:  # fmt: skip
        """Segment ``image`` (the plane at ``index`` of ``layer`` at ``level``, or the whole
        stack) into a new zarr folder, shown when done."""
        from unet_core.inference.into import create_outputs

        from .._disk_jobs import segment_into_job

        device, tile, tta, threshold, _ = options
        folder = new_folder(layer)
        try:
            targets = create_outputs(folder, output_shape(layer, level))
        except OSError as exc:
            self.runner.error(exc)
            return
        self.current = None
        job = segment_into_job(image, ref, self.workspace, targets, index=index, whole=whole,
                               device=device, tile=tile, tta=tta, threshold=threshold)  # fmt: skip
        self.runner.start(
            _removed_on_failure(job, folder), f"segmenting {layer.name} into {folder.name}",
            returned=lambda result: self._show(layer, level, index, folder, targets, threshold,
                                               result),  # fmt: skip
            aborted=lambda: self.runner.say("cancelled: nothing was kept"),
            status=f"segmenting '{layer.name}' band by band into {folder} (too large for "
                   "memory)…",
        )  # fmt: skip

    def _show(self, layer, level, index, folder, targets, threshold, result) -> None:
        probability, labels = targets
        if layer not in self.viewer.layers:
            self.runner.say(f"written to {folder}; not shown: the image layer was removed")
            return
        kw = {"scale": level_scale(layer, level), "translate": layer.translate}
        name = f"{layer.name} probability"
        self.viewer.add_image(probability, name=name, colormap="magma", contrast_limits=(0, 1),
                              blending="additive", visible=False,
                              metadata=display_metadata(name), **kw)  # fmt: skip
        shown = self.viewer.add_labels(labels, name=f"{layer.name} labels",
                                       colormap=class_colormap(), **kw)  # fmt: skip
        from unet_core.inference.into import BAND_ROWS

        bands = -(-int(labels.shape[len(index)]) // BAND_ROWS)
        self.current = {"probability": probability, "labels": labels, "layer": shown,
                        "index": index, "bands": [threshold] * bands,
                        "two_class": len(result.classes) == 2}  # fmt: skip
        self.legend.value = legend(result.classes)
        chosen = f": {result.chosen}" if result.chosen else ""
        self.runner.say("; ".join([
            f"segmented '{layer.name}' in {result.seconds:.1f} s (model "
            f"{self.workspace.describe(result.model)}{chosen}, {result.precision}) into "
            f"{folder} (too large for memory: on disk, painted there)", *result.notes]))

    # ---- the threshold, band by band --------------------------------------------------------
    def rethreshold(self, value: float) -> bool:
        """Re-derive the newest on-disk labels at ``value`` in the background; False when
        there is none (the widget's own threshold applies)."""
        current = self.current
        if current is None or current["layer"] not in self.viewer.layers:
            return False
        if not current["two_class"]:
            from unet_core.loop.records import MULTICLASS_THRESHOLD

            self.runner.say(MULTICLASS_THRESHOLD)
        elif self.runner.busy:
            self.pending = value  # applied when the running pass ends
        else:
            self._start(current, value)
        return True

    def _start(self, current: dict, value: float) -> None:
        from unet_core.inference.into import rethreshold_into

        def seen(event) -> None:  # bands written so far are at the new threshold
            current["bands"][: event.done] = [value] * event.done
            self.runner.advance(event.done, event.total)

        def done(changed: int) -> None:
            current["layer"].refresh()
            self.runner.say(f"labels re-derived at {value:.2f} band by band on disk ({changed} "
                            "pixels changed; painted ones kept)")  # fmt: skip
            from qtpy.QtCore import QTimer

            QTimer.singleShot(0, self._next)  # once this worker has finished

        job = rethreshold_into(current["probability"], current["labels"],
                               list(current["bands"]), value, current["index"])  # fmt: skip
        self.pending = None
        self.runner.start(job, "re-thresholding on disk", returned=done, yielded=seen,
                          aborted=lambda: current["layer"].refresh(),
                          status=f"re-deriving the labels at {value:.2f} band by band")  # fmt: skip

    def _next(self) -> None:
        if self.pending is not None and self.current is not None and not self.runner.busy:
            self._start(self.current, self.pending)
