"""Segment the open image with a U-Net: probability and editable labels layers, a threshold
slider, progress and cancel. The numerics live in ``unet_core``; this module only wires them
to napari."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSlider,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
    create_widget,
)
from napari.utils.notifications import show_error, show_info, show_warning

from .._layers import rethreshold_layer, write_prediction
from .._workers import measure_job, segment_job, start_worker
from ._jobs import JobControls, make_scrollable, one_line
from ._levels import LevelPicker, is_multiscale, level_data, level_scale, result_shapes
from ._model_picker import ModelPicker

if TYPE_CHECKING:
    import napari


def device_choices() -> list[str]:
    from unet_core.base.device import available_devices

    return ["auto", *available_devices()]


#: colours of classes 1, 2, ... (class 0, the background, is transparent; 255 is magenta)
PALETTE = ("lime", "cyan", "yellow", "orange", "dodgerblue", "red", "white", "hotpink",
           "purple", "chocolate", "olive", "teal")  # fmt: skip


def label_colormap():
    """Fixed label colours that stand out on fundus, EM and fluorescence images: value v in
    ``PALETTE[v - 1]``, 255 (ignore) magenta."""
    from napari.utils.colormaps import DirectLabelColormap

    from unet_core.base.labels import IGNORE_LABEL

    colours = {None: "transparent", 0: "transparent", IGNORE_LABEL: "magenta"}
    for value, colour in enumerate(PALETTE, start=1):
        colours[value] = colour
    return DirectLabelColormap(color_dict=colours)


def legend(classes: list[str], offset: int = 0) -> str:
    """``0 = background, 1 = nucleus (lime), 2 = border (cyan)``: each class's value and colour
    (``offset`` 1 for scribbles, where class k is painted as k + 1 and 0 means not annotated)."""
    entries = []
    for k, name in enumerate(classes):
        value = k + offset
        colour = f" ({PALETTE[value - 1]})" if 0 < value <= len(PALETTE) else ""
        entries.append(f"{value} = {name}{colour}")
    return ", ".join(entries)


class SegmentWidget(JobControls, Container):
    """Choose an image, a model and a device; segment in the background; adjust the threshold."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._image = create_widget(annotation="napari.layers.Image", label="image")
        self._levels = LevelPicker()  # shown for multiscale layers only
        self._picker = ModelPicker("model", "drive")
        self._model, self._model_file = self._picker.rows
        self._device = ComboBox(label="device", choices=device_choices(), value="auto")
        self._tile = SpinBox(label="tile (0: auto)", min=0, max=16384, step=16, value=0)
        self._tta = CheckBox(text="test-time augmentation (8x slower)", value=False)
        self._objects = CheckBox(text="separate objects (an instance labels layer)", value=False)
        self._run = PushButton(text="Segment")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="progress", min=0, max=1, value=0)
        self._threshold = FloatSlider(label="threshold", min=0.01, max=0.99, step=0.01, value=0.5)
        self._legend = Label(label="labels", value="")
        self._status = Label(label="status", value="ready")
        self._measurements = Label(label="measured", value="", visible=False)
        self._measure = PushButton(text="Measure the edited labels", visible=False)
        self.extend([self._image, self._levels.choice, self._model, self._model_file,
                     self._device, self._tile, self._tta, self._objects, self._run,
                     self._cancel, self._progress, self._threshold, self._legend,
                     self._status, self._measurements, self._measure])  # fmt: skip
        self._run.changed.connect(self._on_run)
        self._image.changed.connect(self._levels.follow)
        self._levels.follow(self._image.value)
        self._cancel.changed.connect(self._on_cancel)
        self._threshold.changed.connect(self._on_threshold)
        self._measure.changed.connect(self._on_measure)
        self._worker = None
        self._last: dict | None = None  # the most recent result shown
        self.max_width = 460
        make_scrollable(self)
        for label in (self._legend, self._status, self._measurements):
            label.native.setWordWrap(True)

    # ---- inputs -------------------------------------------------------------------------
    def _current_plane(self, layer, level: int) -> tuple[np.ndarray, tuple[int, ...]]:
        """The 2-D (or RGB) image to segment, and its index in a stack (``()`` for 2-D); of a
        multiscale layer, the chosen level. Lazy data (dask, zarr) is not read here: the
        predictor reads it tile by tile."""
        data = level_data(layer, level)
        lead = layer.ndim - 2
        if lead <= 0:
            return data, ()
        point = layer.world_to_data(self._viewer.dims.point)
        index = tuple(int(np.clip(round(p), 0, n - 1))
                      for p, n in zip(point[:lead], data.shape[:lead]))  # fmt: skip
        return data[index], index

    # ---- running ------------------------------------------------------------------------
    def _on_run(self) -> None:
        layer = self._image.value
        if layer is None:
            show_error("Open or select an image layer first.")
            return
        try:
            spec = self._picker.spec()
            level = self._levels.level(layer)
            image, index = self._current_plane(layer, level)
        except ValueError as exc:
            show_error(one_line(exc))
            return
        shapes = result_shapes(layer, level) if is_multiscale(layer) and not index else None
        job = segment_job(image, spec, self._device.value, self._tile.value, self._tta.value,
                          self._threshold.value, self._objects.value, shapes)  # fmt: skip
        source = {"layer": layer, "data": layer.data, "index": index, "level": level}
        self._worker = start_worker(
            job,
            yielded=self._on_progress,
            returned=lambda result: self._on_done(source, result),
            errored=self._on_error,
            aborted=lambda: self._set_status("cancelled: nothing was changed"),
            finished=self._on_finished,
        )
        self._set_running(True)
        self._set_status(f"segmenting '{layer.name}' with {spec}…")
        self._start_activity(1, f"segmenting {layer.name}")
        self._worker.start()

    def _on_progress(self, value: tuple[int, int]) -> None:
        done, total = value
        self._progress.max = max(total, 1)
        self._progress.value = done
        self._advance_activity(done, total)

    def _set_status(self, text: str) -> None:
        self._status.value = text

    # ---- results ------------------------------------------------------------------------
    def _on_done(self, source: dict, result) -> None:
        layer = source["layer"]
        if layer not in self._viewer.layers:
            show_warning(f"'{layer.name}' was removed while it was segmented: result discarded.")
            self._set_status("discarded: the image layer was removed")
            return
        if layer.data is not source["data"]:
            show_warning(f"'{layer.name}' changed while it was segmented: result discarded.")
            self._set_status("discarded: the image changed; segment again")
            return
        self._show(layer, source["index"], source["level"], result)
        self._set_status(
            f"segmented '{layer.name}' in {result.seconds:.1f} s (model {result.model}, "
            f"scale {result.scale:.2f}, {result.precision})"
        )
        self._show_measurements(result.measurements)
        show_info(self._status.value)

    # ---- vessel measurements ------------------------------------------------------------
    def _show_measurements(self, values: dict | None) -> None:
        from unet_core.tasks import task_of

        card = (self._last or {}).get("card")
        self._measurements.value = task_of(card).describe(values) if values else ""
        self._measurements.visible = self._measure.visible = bool(values)

    def _on_measure(self) -> None:
        """Measure the labels as they are now (after brush edits), in the background."""
        last = self._last
        if last is None or last["labels"] not in self._viewer.layers or last.get("card") is None:
            show_error("Segment an image with a vessel model first.")
            return
        labels = np.asarray(last["labels"].data[last["index"]]).copy()
        self._measurements.value = "measuring…"
        self._measure_worker = start_worker(
            measure_job(last["image"], labels, last["card"]),
            returned=self._show_measurements,
            errored=self._on_error,
        )
        self._measure_worker.start()

    def _show(self, layer, index: tuple[int, ...], level: int, result) -> None:
        from unet_core.base.labels import IGNORE_LABEL
        from unet_core.postprocess import foreground_probability

        data = level_data(layer, level)
        shape = data.shape[: layer.ndim]
        kw = {"scale": level_scale(layer, level), "translate": layer.translate}
        if result.pyramid is not None:  # a pyramid like the image's, made by the job
            self._show_pyramid(f"{layer.name} probability", result.pyramid, kw)
        else:
            prob_layer, _ = self._layer(f"{layer.name} probability", "image", shape, np.float32,
                                        kw)  # fmt: skip
            prob_layer.data[index] = foreground_probability(result.prob)
            prob_layer.refresh()
        lab_layer, created = self._layer(f"{layer.name} labels", "labels", shape, np.uint8, kw)
        changed = write_prediction(
            lab_layer, result.prob, index=index, threshold=self._threshold.value,
            model=result.model, fresh=created,
            extra={"classes": result.classes, "ignore_label": IGNORE_LABEL, "source": layer.name},
        )  # fmt: skip
        self._last = {"labels": lab_layer, "index": index, "card": result.card,
                      "changed": int(changed.sum()),
                      "image": data[index] if index else data}  # fmt: skip
        self._legend.value = (f"{legend(result.classes)}; {IGNORE_LABEL} = ignore (magenta, "
                              "skipped by training)")  # fmt: skip
        if result.objects is not None:
            objects, _ = self._layer(f"{layer.name} objects", "objects", shape, np.int32, kw)
            objects.data[index] = result.objects
            objects.refresh()

    def _show_pyramid(self, name: str, levels: list, kw: dict) -> None:
        """The probability of a multiscale image as a multiscale layer (replaced each run)."""
        if name in self._viewer.layers:
            self._viewer.layers.remove(name)
        self._viewer.add_image(levels, multiscale=True, name=name,
                               colormap="magma", contrast_limits=(0, 1), blending="additive",
                               visible=False, **kw)  # fmt: skip

    def _layer(self, name: str, kind: str, shape, dtype, kw: dict):
        """The result layer ``name``, reused when it fits, else created; and whether it was
        created."""
        if name in self._viewer.layers:
            existing = self._viewer.layers[name]
            from napari.layers import Image, Labels

            wanted = Image if kind == "image" else Labels
            if isinstance(existing, wanted) and existing.data.shape == tuple(shape):
                return existing, False
            self._viewer.layers.remove(existing)
        data = np.zeros(shape, dtype)
        if kind == "objects":  # separate objects: napari's random colours, outlined
            return self._viewer.add_labels(data, name=name, opacity=0.6, **kw), True
        if kind == "labels":
            return self._viewer.add_labels(data, name=name, colormap=label_colormap(), **kw), True
        return self._viewer.add_image(data, name=name, colormap="magma", contrast_limits=(0, 1),
                                      blending="additive", visible=False, **kw), True  # fmt: skip

    def _on_threshold(self, value: float) -> None:
        """Re-derive the labels from the newest probabilities of the layer (the newest model
        that segmented it, fine-tuned versions included), keeping painted edits."""
        last = self._last
        if last is None or last["labels"] not in self._viewer.layers:
            return
        rethreshold_layer(last["labels"], value, last["index"])
