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

from .._jobs import AUTO, batch_job, resolve_model
from .._session import new_pair, workspace
from ._classes import class_colormap
from ._fit import button_row, make_scrollable
from ._model_picker import ModelPicker, device_choices
from ._runner import JobRunner, error_line
from ._scale_out import ScaleOutRows

if TYPE_CHECKING:
    import napari

DEFAULT_OUT = "segmented"  # the default output folder, inside the input folder


class BatchWidget(Container):
    """Segment every image of a folder into an output folder, in the background."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._workspace = workspace(napari_viewer)
        self._input = FileEdit(label="input folder", mode="d")
        self._pattern = LineEdit(label="pattern", value="*")
        self._recursive = CheckBox(text="include sub-folders", value=False)
        self._output = FileEdit(label="output folder", mode="d")
        self._picker = ModelPicker(self._workspace, "model", AUTO, first=(AUTO,))
        self._model, self._model_file = self._picker.rows
        self._model.tooltip = "auto: the bundled model for the kind of the folder's first image"
        self._device = ComboBox(label="device", choices=device_choices(), value="auto")
        self._threshold = FloatSpinBox(label="threshold", min=0.01, max=0.99, step=0.05,
                                       value=0.5)  # fmt: skip
        self._save_prob = CheckBox(text="also write probability maps", value=False)
        self._overwrite = CheckBox(text="overwrite existing results", value=False)
        self._objects = CheckBox(text="separate objects (count them)", value=False)
        self._fov_angle = FloatSpinBox(label="fundus field of view (°)", min=0, max=220,
                                       step=5, value=0)  # fmt: skip
        self._fov_angle.tooltip = ("fundus photographs: the camera's angle (e.g. 45), for "
                                   "calibres and CRAE/CRVE in microns; 0: in pixels")  # fmt: skip
        self._scale_out = ScaleOutRows()
        self._run = PushButton(text="Segment folder")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="files", min=0, max=1, value=0)
        self._status = Label(label="status", value="choose an input folder")
        self._failures = Table(label="failures and notes", value=[], columns=["file", "reason"])
        self._failures.visible = False
        self._failures.native.horizontalHeader().setStretchLastSection(True)
        self._failures.native.setMaximumHeight(160)
        self._failures.native.setWordWrap(True)
        self._results = ComboBox(label="results", choices=self._result_choices)
        self._open = PushButton(text="Open result next to its image", enabled=False)
        self.extend([self._input, self._pattern, self._recursive, self._output, self._model,
                     self._model_file, self._device, self._threshold, self._save_prob,
                     self._overwrite, self._objects, self._fov_angle, *self._scale_out.rows,
                     button_row(self._run, self._cancel), self._progress, self._status,
                     self._failures, self._results, self._open])  # fmt: skip
        self._runner = JobRunner(self._run, self._cancel, self._progress, self._status,
                               "cancelling after the current tiles…")  # fmt: skip
        self._input.changed.connect(self._on_input)
        self._run.changed.connect(self._on_run)
        self._open.changed.connect(self._on_open)
        self._ref = None  # the model of the last run
        self._chosen = ""  # the model auto chose for it, and why
        self._done: dict[str, tuple[Path, Path]] = {}  # input name -> (input, mask)
        self._files = (0, 0)  # (done, total) files of the running batch
        self._failed: list[list[str]] = []
        self.run = None  # the last finished BatchRun
        self.max_width = 520
        make_scrollable(self, footer=(self._run, self._cancel, self._progress, self._status))

    @property
    def _worker(self):
        return self._runner.worker

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
            if not folder or str(folder) == ".":
                raise ValueError("choose an input folder first")
            if not Path(folder).is_dir():
                raise ValueError(f"the input folder {folder} does not exist (or is no folder)")
            if not out or str(out) == ".":
                raise ValueError("choose an output folder first")
            ref = self._picker.ref()  # AUTO: the job chooses, reading the folder's pictures
            cluster = self._scale_out.choice()
            if cluster and ref.startswith("version:"):
                raise ValueError("a cluster reads its model from a file: choose a bundled "
                                 "model or a model file")  # fmt: skip
            model = resolve_model(self._workspace, ref, self._device.value) \
                if ref.startswith("version:") else ref  # fmt: skip
        except ValueError as exc:
            self._status.value = error_line(exc)
            show_error(error_line(exc))
            return
        from unet_core.batch.options import SegmentOptions

        options = SegmentOptions(device=self._device.value, threshold=self._threshold.value,
                                 save_prob=self._save_prob.value, overwrite=self._overwrite.value,
                                 instances=self._objects.value,
                                 fov_degrees=self._fov_angle.value or None)  # fmt: skip
        try:
            options.calibration()  # an angle no camera has: one line, before any file
        except ValueError as exc:
            self._status.value = error_line(exc)
            show_error(error_line(exc))
            return
        job = batch_job([str(folder)], str(out), model, options,
                        pattern=self._pattern.value or "*",
                        recursive=self._recursive.value, **cluster)  # fmt: skip
        self._failed = []
        self._failures.value = {"data": [], "columns": ["file", "reason"], "index": []}
        self._failures.visible = False
        self._done.clear()
        self._results.reset_choices()
        self._open.enabled = False
        self._ref, self._chosen = (None if ref == AUTO else ref), ""
        self._runner.cancelling = ("cancelling: closing the cluster…" if cluster else
                                   "cancelling after the current tiles…")  # fmt: skip
        how = "" if ref == AUTO else f" with {self._workspace.describe(ref)}"
        how += self._scale_out.describe(cluster)
        self._runner.start(job, f"batch-segmenting {Path(folder).name}", yielded=self._on_event,
                         returned=self._on_returned, aborted=self._on_aborted,
                         status=f"starting on {folder}{how}…")  # fmt: skip

    def _on_event(self, event) -> None:
        """A batch run's event: a file finished, the files done, the tiles of the current one,
        a status line."""
        from unet_core.base.events import Partial, Progress, Record, Status

        if isinstance(event, Record) and "model" in event.values:  # what auto chose
            self._ref = event.values["model"]
            self._chosen = f" with {self._workspace.describe(self._ref)} ({event.values['why']})"
            self._status.value = printable(f"segmenting{self._chosen}…")
        elif isinstance(event, Partial):
            self._on_file(event.value)
        elif isinstance(event, Status):
            self._status.value = printable(event.text)
        elif isinstance(event, Progress) and event.unit == "files":
            self._files = (event.done, event.total)
            self._runner.advance(event.done, event.total)
            self._status.value = f"{event.done}/{event.total} done"
        elif isinstance(event, Progress) and event.unit == "tiles":
            done, total = self._files
            tiles = f", tile {event.done}/{event.total}" if event.total else ""
            self._status.value = (f"{done}/{total} done; "
                                  f"{printable(event.values['file'].name)}{tiles}")  # fmt: skip

    def _on_file(self, result) -> None:
        """A file done: a failure's reason, or what is to be known of it (a note: a picture
        that is no fundus photograph, a gray one given to a colour model), in the table."""
        failed = result.status == "failed"
        said = [result.reason] if failed else [f"note: {note}" for note in result.notes]
        for text in said:
            self._failed.append([printable(result.path.name), printable(text)])
            self._failures.value = {"data": self._failed, "columns": ["file", "reason"],
                                    "index": list(range(len(self._failed)))}  # fmt: skip
            self._failures.visible = True
            self._failures.native.resizeColumnToContents(0)
            self._failures.native.resizeRowsToContents()
        if not failed and result.outputs:
            self._done[printable(result.path.name)] = (result.path, result.outputs[0])
            self._results.reset_choices()
            self._open.enabled = True

    def _on_returned(self, run) -> None:
        self.run = run
        self._status.value = printable(f"{run.summary()}{self._chosen}; report: {run.report_path}")
        show_info(f"napari-unet: {run.summary()}")

    def _on_aborted(self) -> None:
        self._status.value = ("cancelled: finished files are kept, the current one was not "
                              "written; run again to resume")  # fmt: skip

    # ---- results ------------------------------------------------------------------------
    def _on_open(self) -> None:
        """Add the chosen input image and its mask (as labels) to the viewer; the labels are
        a pair of the loop model, the mask its prediction, ready to correct and fine-tune."""
        from unet_core.data.io import read_image, read_mask
        from unet_core.loop import CORRECTIONS

        name = self._results.value
        if name not in self._done:
            return
        source, mask_path = self._done[name]
        try:
            image, mask = read_image(source), read_mask(mask_path)  # old 0/255 masks too
        except ValueError as exc:
            show_error(f"napari-unet: {error_line(exc)}")
            return
        stem = Path(name).stem
        rgb = image.ndim == 3 and image.shape[-1] in (3, 4) and mask.ndim == 2
        image_layer = self._viewer.add_image(image, name=stem, rgb=rgb)
        classes = list(self.run.classes) if self.run is not None else ["background", "object"]
        labels = np.asarray(mask, np.uint8)
        labels_layer = self._viewer.add_labels(labels, name=f"{stem} labels",
                                               colormap=class_colormap())  # fmt: skip
        if mask.ndim == 2 and self._ref is not None:
            pair = new_pair(self._viewer, image_layer, labels_layer, CORRECTIONS, classes)
            pair.record_mask(labels, self._ref)
        objects = mask_path.with_name(mask_path.name.replace("_mask.tif", "_instances.tif"))
        if objects.is_file():
            self._viewer.add_labels(read_image(objects), name=f"{stem} objects", opacity=0.6)
        show_info(f"napari-unet: opened {name} and {mask_path.name}")
