"""Measure a fundus photograph's vessel map in napari: the measures research publishes (vessel
density, fractal dimension, calibre, tortuosity, the optic disc, CRAE, CRVE and AVR; per
vessel type for an artery/vein map) in a table that follows the labels as they are corrected,
and a layer that shows the measured segments, the disc and Knudtson's zone. The numbers are
``unet_core.tasks.fundus.measure_map``'s, the same as ``segmentation.csv``'s."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    Table,
)

from .._session import image_id, image_pixels, pair_of, workspace
from ._classes import CLASS_COLOURS
from ._fit import button_row, full_width, make_scrollable
from ._layer_choice import image_choice, labels_choice
from ._runner import JobRunner
from ._save_measurements import MeasurementsSaver

if TYPE_CHECKING:
    import napari

#: how long the brush rests before the table follows it (ms)
SETTLE_MS = 400


class MeasureWidget(Container):
    """The measurements of a vessel or artery/vein labels layer over its photograph."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._image = image_choice(napari_viewer, "image")
        self._target = labels_choice(napari_viewer, "labels")
        self._typed = CheckBox(text="artery/vein map (1 = artery, 2 = vein)", value=False)
        from unet_core.retina.biomarkers import FOV_DEGREES, PIXEL_SIZE_UM

        self._pixel = FloatSpinBox(label="pixel size (µm)", min=0, max=PIXEL_SIZE_UM[1],
                                   step=0.1, value=0)  # fmt: skip
        self._pixel.tooltip = ("microns per pixel (0.5-100); 0: not known (then the angle, "
                               "else pixels)")  # fmt: skip
        self._angle = FloatSpinBox(label="field of view (°)", min=0, max=FOV_DEGREES[1], step=5,
                                   value=0)  # fmt: skip
        self._angle.tooltip = ("the camera's field-of-view angle (10-220), e.g. 45; 0: not "
                               "known; give it or the pixel size")  # fmt: skip
        self._follow = CheckBox(text="update as the labels are corrected", value=True)
        self._run = PushButton(text="Measure")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._show = PushButton(text="Show segments and zone")
        self._status = Label(label="status", value="choose a photograph and its vessel labels")
        self._table = Table(value={"measure": [], "value": []}, label="")
        self._runner = JobRunner(self._run, self._cancel, None, self._status)
        self._saver = MeasurementsSaver(lambda: self._measured or None, self._runner.say,
                                        row=_row)  # fmt: skip
        self._saver.button.tooltip = "the table as a CSV file: one row, a column per measure"
        self.extend([self._image, self._target, self._typed, self._pixel, self._angle,
                     self._follow, button_row(self._run, self._cancel), self._show, self._status,
                     self._table, self._saver.button])  # fmt: skip
        full_width(self._table, fill=True)  # the measures' names and values, not a label
        make_scrollable(self, footer=(self._run, self._cancel, self._status))
        self._table.native.setMinimumHeight(260)
        self._table.native.verticalHeader().setVisible(False)  # no row numbers: room for names
        self._table.native.horizontalHeader().setStretchLastSection(True)
        # the cells show the text given (magicgui's own delegate re-formats every number:
        # 27110 as 27110.0000, 0.005364 as 5.364e-03)
        from qtpy.QtWidgets import QStyledItemDelegate

        self._table.native.setItemDelegate(QStyledItemDelegate(self._table.native))
        self._measured: dict = {}  # the last result: values, segments, disc, the layer
        self._pending = False
        self._watched = None
        self._typed_for = None  # (the layer, its pair's classes) that ticked the type box
        self._timer = _timer(self._on_settled, self.native)  # goes with the widget
        self._run.changed.connect(lambda *_: self.measure())
        self._show.changed.connect(lambda *_: self.show_geometry())
        self._target.changed.connect(self._on_labels)
        self._on_labels(self._target.value)
        workspace(napari_viewer).listeners.append(self._on_workspace)  # a round, a new map
        napari_viewer.layers.events.removed.connect(self._on_removed)

    @property
    def _worker(self):
        return self._runner.worker

    # ---- following the labels ----------------------------------------------------------------
    def _on_labels(self, layer) -> None:
        """Watch the chosen layer's strokes; an artery/vein pair ticks the type box. The
        table of other labels (or of a layer removed) goes."""
        if self._watched is not None:
            for event in (self._watched.events.paint, self._watched.events.data):
                event.disconnect(self._on_changed)
        self._watched = layer
        if self._measured and self._measured["layer"] is not layer:
            self._forget("choose a photograph and its vessel labels, and Measure")
        if layer is None:
            return
        layer.events.paint.connect(self._on_changed)
        layer.events.data.connect(self._on_changed)
        self._type_from_pair(layer)

    def _type_from_pair(self, layer) -> None:
        """Tick the type box by the classes of the pair ``layer`` shows, once per layer: a
        layer chosen as it was added (Segment binds its pair just after) is decided when it is
        first measured; a user's own tick stands after that."""
        from unet_core.tasks.fundus import artery_vein

        pair = pair_of(self._viewer, layer)
        if pair is not None and self._typed_for != (layer, tuple(pair.classes)):
            self._typed.value = artery_vein(pair.classes)  # again when a model of other
            self._typed_for = (layer, tuple(pair.classes))  # classes segmented it

    def _on_workspace(self) -> None:
        """A round or another model changed the labels (no paint event): measured again."""
        try:
            self._target.value  # noqa: B018 - raises once the widget is closed
        except RuntimeError:
            workspace(self._viewer).listeners.remove(self._on_workspace)
            return
        self._on_changed()

    def _on_removed(self, event) -> None:
        """The measured labels were removed: their table and layer go with them."""
        if self._measured and event.value is self._measured["layer"]:
            try:
                self._forget("the measured labels were removed")
            except RuntimeError:  # the widget was closed
                self._viewer.layers.events.removed.disconnect(self._on_removed)

    def _forget(self, status: str) -> None:
        """No table: what it showed is not what is chosen or given now."""
        self._measured = {}
        self._saver.follow(None)
        self._table.value = {"measure": [], "value": []}
        self._runner.say(status)

    def _failed(self, exc: BaseException) -> None:
        self._forget("")
        self._runner.error(exc)

    def _on_changed(self, event=None) -> None:
        if self._follow.value and self._measured:
            self._timer.start(SETTLE_MS)

    def _on_settled(self) -> None:
        if self._runner.busy:
            self._pending = True  # measured again once this one is done
        else:
            self.measure()

    # ---- measuring ---------------------------------------------------------------------------
    def measure(self) -> None:
        from unet_core.retina.biomarkers import Calibration

        image, labels = self._image.value, self._target.value
        if image is None or labels is None:
            self._runner.say("choose a photograph and its vessel labels first")
            return
        if self._runner.busy:
            return
        self._type_from_pair(labels)
        try:
            calibration = Calibration(self._pixel.value or None, self._angle.value or None)
        except ValueError as exc:
            self._failed(exc)
            return
        pixels, pair = np.asarray(image_pixels(image)), pair_of(self._viewer, labels)
        wrong = pair.image.mismatch(image_id(image, pixels), pair.labels_name) if pair else None
        if wrong:  # labels Segment made on another photograph (or on its probability map)
            self._failed(ValueError(wrong))
            return
        job = _measure_job(pixels, np.array(labels.data), self._typed.value, calibration)
        self._runner.start(job, f"measuring {labels.name}",
                           returned=lambda result: self._on_done(labels, result, image),
                           aborted=lambda: self._runner.say(
                               "cancelled: the table shows the last measurement"
                               if self._measured else "cancelled"),
                           errored=self._failed,
                           status=f"measuring '{labels.name}'…")  # fmt: skip

    def _on_done(self, layer, result, image) -> None:
        if layer is not self._target.value or layer not in self._viewer.layers:
            return  # other labels were chosen (or these removed) while it ran
        values, keep = result
        self._measured = {"values": values, "layer": layer, "image_layer": image, **keep}
        self._saver.follow(values)
        rows = [(k, _shown(v)) for k, v in values.items() if k != "not_measured"]
        self._table.value = {"measure": [k for k, _ in rows], "value": [v for _, v in rows]}
        self._table.native.resizeColumnToContents(0)  # every measure's name in full
        why = values.get("not_measured") or "every measure made"
        self._runner.say(f"'{layer.name}': {values.get('segments', 0)} segments; {why}")
        if f"{layer.name} measured" in self._viewer.layers:
            self.show_geometry()  # the layer follows too
        if self._pending:
            self._pending = False
            self._timer.start(SETTLE_MS)

    def show_geometry(self) -> None:
        """A shapes layer ``<labels> measured``: each segment's centreline in its class's
        colour, the disc's margin and the zone's two circles in yellow."""
        from unet_core.retina.disc import zone_radii

        if not self._measured:
            self._runner.say("measure first: the layer shows what was measured")
            return
        layer, disc = self._measured["layer"], self._measured["disc"]
        paths = [s.path[:: 2] if len(s.path) > 4 else s.path for s in self._measured["segments"]]
        colours = [CLASS_COLOURS[min(s.label, len(CLASS_COLOURS) - 1)]
                   for s in self._measured["segments"]]  # fmt: skip
        shapes, kinds = list(paths), ["path"] * len(paths)
        if disc is not None:
            for r in zone_radii(disc):  # an ellipse as its centre and its radii
                shapes.append(np.array([[disc.row, disc.col], [r, r]]))
                kinds.append("ellipse")
                colours.append("yellow")
        name = f"{layer.name} measured"
        if name in self._viewer.layers:
            self._viewer.layers.remove(name)
        self._viewer.add_shapes(shapes, shape_type=kinds, edge_color=colours, edge_width=1.5,
                                face_color="transparent", name=name, scale=layer.scale,
                                translate=layer.translate)  # fmt: skip


def _measure_job(image, labels, typed: bool, calibration):
    """The measurement as a job (the widget's runner runs it in a worker)."""
    from unet_core.tasks.fundus import measure_map_steps

    keep: dict = {}
    values = yield from measure_map_steps(image, labels, typed=typed, calibration=calibration,
                                          keep=keep)  # fmt: skip
    return values, keep


def _row(measured: dict) -> tuple[tuple[str, ...], dict]:
    """(columns, row) of a measurement for its CSV file: the photograph, the labels, then
    every measure (microns where a pixel size or angle was given)."""
    from .._session import image_file

    image, values = measured["image_layer"], measured["values"]
    row = {"file": image_file(image) or image.name, "labels": measured["layer"].name, **values}
    return ("file", "labels", *values), row


def _shown(value) -> str:
    """A measure as the table shows it: whole numbers from 1000 up, else 4 significant digits
    (0.005364, 7.496), exponents only below 0.001."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:.0f}"
        return f"{value:.4g}" if value == 0 or abs(value) >= 1e-3 else f"{value:.3e}"
    return str(value)


def _timer(callback, parent):
    from qtpy.QtCore import QTimer

    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.timeout.connect(callback)
    return timer
