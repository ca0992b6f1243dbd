"""Batch-segment a folder from napari: progress per file and tile, cancel, a table of the
files that failed and why, and any result opened next to its image. The work is
``unet_core.batch.BatchRun``, the same code path as ``napari-unet segment``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    Table,
)
from napari.utils.notifications import show_error, show_info

from unet_core.base.names import one_line as printable

from .._workers import batch_job, start_worker
from ._jobs import JobControls, make_scrollable, one_line
from ._model_picker import ModelPicker
from .segment import device_choices, label_colormap

if TYPE_CHECKING:
    import napari

DEFAULT_OUT = "segmented"  # the default output folder, inside the input folder


class BatchWidget(JobControls, Container):
    """Segment every image of a folder into an output folder, in the background."""

    _cancelling = "cancelling after the current tiles…"

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._input = FileEdit(label="input folder", mode="d")
        self._pattern = LineEdit(label="pattern", value="*")
        self._recursive = CheckBox(text="include sub-folders", value=False)
        self._output = FileEdit(label="output folder", mode="d")
        self._picker = ModelPicker("model", "drive")
        self._model, self._model_file = self._picker.rows
        self._device = ComboBox(label="device", choices=device_choices(), value="auto")
        self._threshold = FloatSpinBox(label="threshold", min=0.01, max=0.99, step=0.05,
                                       value=0.5)  # fmt: skip
        self._save_prob = CheckBox(text="also write probability maps", value=False)
        self._overwrite = CheckBox(text="overwrite existing results", value=False)
        self._objects = CheckBox(text="separate objects (count and mean area in the CSV)",
                                 value=False)  # fmt: skip
        self._run = PushButton(text="Segment folder")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="files", min=0, max=1, value=0)
        self._status = Label(label="status", value="choose an input folder")
        self._failures = Table(label="failed", value=[], columns=["file", "reason"])
        self._failures.visible = False
        self._failures.native.horizontalHeader().setStretchLastSection(True)
        self._failures.native.setMaximumHeight(160)
        self._failures.native.setWordWrap(True)
        self._results = ComboBox(label="results", choices=self._result_choices)
        self._open = PushButton(text="Open result next to its image", enabled=False)
        self.extend([self._input, self._pattern, self._recursive, self._output, self._model,
                     self._model_file, self._device, self._threshold, self._save_prob,
                     self._overwrite, self._objects, self._run, self._cancel, self._progress,
                     self._status,
                     self._failures, self._results, self._open])  # fmt: skip
        self._input.changed.connect(self._on_input)
        self._run.changed.connect(self._on_run)
        self._cancel.changed.connect(self._on_cancel)
        self._open.changed.connect(self._on_open)
        self._worker = None
        self._done: dict[str, tuple[Path, Path]] = {}  # input name -> (input, mask)
        self._failed: list[list[str]] = []
        self.run = None  # the last finished BatchRun
        self.max_width = 520
        make_scrollable(self)
        self._status.native.setWordWrap(True)

    # ---- inputs -------------------------------------------------------------------------
    def _result_choices(self, _=None) -> list[str]:
        return sorted(self._done) if hasattr(self, "_done") else []

    def _on_input(self, folder: Path) -> None:
        """Suggest ``<input>/segmented`` as the output folder unless one was chosen."""
        out = self._output.value
        if folder and (not out or str(out) in (".", "") or out.name == DEFAULT_OUT):
            self._output.value = Path(folder) / DEFAULT_OUT
        self._status.value = "ready"

    def _on_run(self) -> None:
        folder, out = self._input.value, self._output.value
        try:
            if not folder or not Path(folder).is_dir() or str(folder) == ".":
                raise ValueError("choose an input folder first")
            if not out or str(out) == ".":
                raise ValueError("choose an output folder first")
            model = self._picker.spec()
        except ValueError as exc:
            self._status.value = one_line(exc)
            show_error(one_line(exc))
            return
        from unet_core.batch.options import SegmentOptions

        options = SegmentOptions(device=self._device.value, threshold=self._threshold.value,
                                 save_prob=self._save_prob.value, overwrite=self._overwrite.value,
                                 instances=self._objects.value)  # fmt: skip
        job = batch_job([str(folder)], str(out), model, options,
                        pattern=self._pattern.value or "*",
                        recursive=self._recursive.value)  # fmt: skip
        self._failed = []
        self._failures.value = {"data": [], "columns": ["file", "reason"], "index": []}
        self._failures.visible = False
        self._done.clear()
        self._results.reset_choices()
        self._open.enabled = False
        self._worker = start_worker(job, yielded=self._on_event, returned=self._on_returned,
                                    errored=self._on_error, aborted=self._on_aborted,
                                    finished=self._on_finished)  # fmt: skip
        self._set_running(True)
        self._status.value = f"starting on {folder}…"
        self._start_activity(1, f"batch-segmenting {Path(folder).name}")
        self._worker.start()

    def _on_event(self, event) -> None:
        from unet_core.batch import FileResult

        if isinstance(event, FileResult):
            self._on_file(event)
            return
        self._progress.max = max(event.files_total, 1)
        self._progress.value = event.files_done
        self._advance_activity(event.files_done, event.files_total)
        tiles = f", tile {event.tiles_done}/{event.tiles_total}" if event.tiles_total else ""
        self._status.value = (f"{event.files_done}/{event.files_total} done; "
                              f"{printable(event.path.name)}{tiles}")  # fmt: skip

    def _on_file(self, result) -> None:
        if result.status == "failed":
            self._failed.append([printable(result.path.name), printable(result.reason)])
            self._failures.value = {"data": self._failed, "columns": ["file", "reason"],
                                    "index": list(range(len(self._failed)))}  # fmt: skip
            self._failures.visible = True
            self._failures.native.resizeColumnToContents(0)
            self._failures.native.resizeRowsToContents()
        elif result.outputs:
            self._done[printable(result.path.name)] = (result.path, result.outputs[0])
            self._results.reset_choices()
            self._open.enabled = True

    def _on_returned(self, run) -> None:
        self.run = run
        self._status.value = f"{run.summary()}; report: {run.report_path}"
        show_info(f"napari-unet: {run.summary()}")

    def _on_aborted(self) -> None:
        self._status.value = ("cancelled: finished files are kept, the current one was not "
                              "written; run again to resume")  # fmt: skip

    # ---- results ------------------------------------------------------------------------
    def _on_open(self) -> None:
        """Add the chosen input image and its mask (as labels) to the viewer."""
        from unet_core.data.io import read_image

        name = self._results.value
        if name not in self._done:
            return
        source, mask_path = self._done[name]
        try:
            image, mask = read_image(source), read_image(mask_path)
        except ValueError as exc:
            show_error(f"napari-unet: {one_line(exc)}")
            return
        stem = Path(name).stem
        rgb = image.ndim == 3 and image.shape[-1] in (3, 4) and mask.ndim == 2
        self._viewer.add_image(image, name=stem, rgb=rgb)
        labels = (mask > 0).astype(np.uint8) if mask.max() == 255 else mask.astype(np.uint8)
        self._viewer.add_labels(labels, name=f"{stem} labels", colormap=label_colormap())
        objects = mask_path.with_name(mask_path.name.replace("_mask.tif", "_instances.tif"))
        if objects.is_file():
            self._viewer.add_labels(read_image(objects), name=f"{stem} objects", opacity=0.6)
        show_info(f"napari-unet: opened {name} and {mask_path.name}")
