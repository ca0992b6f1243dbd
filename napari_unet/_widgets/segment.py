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
)
from napari.utils.notifications import show_error, show_info, show_warning

from .._jobs import AUTO, measure_job, segment_job, segment_stack_job
from .._session import image_id, image_pixels, new_pair, pair_of, take_classes, workspace
from ._classes import class_colormap, legend
from ._fit import button_row, make_scrollable
from ._layer_choice import image_choice
from ._levels import (
    LevelPicker,
    current_plane,
    is_multiscale,
    is_stack,
    level_data,
    level_scale,
    result_shapes,
)
from ._model_picker import ModelPicker, device_choices
from ._on_disk import OBJECTS_TIP, DiskOutputs, too_large
from ._outputs import output_layer, show_pyramid
from ._runner import JobRunner, error_line
from ._save_measurements import MeasurementsSaver

if TYPE_CHECKING:
    import napari


class SegmentWidget(Container):
    """Choose an image, a model and a device; segment in the background; adjust the threshold.
    The labels made are a pair of the window's loop model: what is painted on them is kept by
    every later prediction, threshold and fine-tuning round."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._workspace = workspace(napari_viewer)
        self._image = image_choice(napari_viewer, "image")
        self._levels = LevelPicker()  # shown for multiscale layers only
        self._picker = ModelPicker(self._workspace, "model", AUTO, first=(AUTO,))
        self._model, self._model_file = self._picker.rows
        self._model.tooltip = ("auto: the bundled model for the image's kind (drive for a fundus "
                               "photograph, em for other grayscale images)")  # fmt: skip
        self._device = ComboBox(label="device", choices=device_choices(), value="auto")
        self._tile = SpinBox(label="tile (0: auto)", min=0, max=16384, step=16, value=0)
        self._tta = CheckBox(text="test-time augmentation", value=False)
        self._tta.tooltip = "average over 8 flips and rotations: a little better, 8x slower"
        self._objects = CheckBox(text="separate objects", value=False)
        self._objects.tooltip = OBJECTS_TIP
        self._whole = CheckBox(text="whole stack", value=False, visible=False)
        self._whole.tooltip = ("segment every slice of the stack into one 3-D labels layer (a "
                               "3-D model always segments the whole stack)")  # fmt: skip
        self._run = PushButton(text="Segment")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="progress", min=0, max=1, value=0)
        self._threshold = FloatSlider(label="threshold", min=0.01, max=0.99, step=0.01, value=0.5)
        self._legend = Label(label="labels", value="")
        self._status = Label(label="status", value="ready")
        self._measurements = Label(label="measured", value="", visible=False)
        self._measure = PushButton(text="Measure the edited labels", visible=False)
        self._saver = MeasurementsSaver(lambda: self._last, lambda text: self._runner.say(text),
                                        self._workspace.describe)  # Save measurements…
        self.extend([self._image, self._levels.choice, self._model, self._model_file,
                     self._device, self._tile, self._tta, self._objects, self._whole,
                     button_row(self._run, self._cancel), self._progress, self._threshold,
                     self._legend, self._status,
                     self._measurements, self._measure, self._saver.button])  # fmt: skip
        self._runner = JobRunner(self._run, self._cancel, self._progress, self._status)
        self._disk = DiskOutputs(napari_viewer, self._workspace, self._runner, self._image,
                                 self._objects, self._legend)  # results too large for memory
        self._run.changed.connect(self._on_run)
        self._image.changed.connect(self._levels.follow)
        self._image.changed.connect(self._follow_stack)
        self._levels.follow(self._image.value)
        self._follow_stack(self._image.value)
        self._threshold.changed.connect(self._on_threshold)
        self._measure.changed.connect(self._on_measure)
        self._last: dict | None = None  # the most recent result shown
        self.max_width = 460
        make_scrollable(self, footer=(self._run, self._cancel, self._progress, self._status))

    @property
    def _worker(self):
        return self._runner.worker

    # ---- inputs -------------------------------------------------------------------------
    def _follow_stack(self, layer) -> None:  # "whole stack" for (slices, H, W) layers only
        self._whole.visible = is_stack(layer)

    # ---- running ------------------------------------------------------------------------
    def _on_run(self) -> None:
        layer = self._image.value
        if layer is None:
            self._runner.say("not started: open or select an image layer first")
            show_error("Open or select an image layer first.")
            return
        try:
            ref = self._picker.ref()
            level = self._levels.level(layer)
            whole = is_stack(layer) and self._whole.value
            image, index = ((level_data(layer, level), ()) if whole
                            else current_plane(self._viewer, layer, level))  # fmt: skip
        except ValueError as exc:
            show_error(error_line(exc))
            return
        shapes = result_shapes(layer, level) if is_multiscale(layer) and not index else None
        options = (self._device.value, self._tile.value, self._tta.value, self._threshold.value,
                   self._objects.value)  # fmt: skip
        if too_large(layer, level):  # probability and labels into a zarr folder, band by band
            return self._disk.run(layer, image, index, level, whole, ref, options)
        self._disk.forget()
        job = (segment_stack_job(image, ref, self._workspace, *options) if whole
               else segment_job(image, ref, self._workspace, *options, shapes,
                                in_stack=bool(index)))  # fmt: skip
        source = {"layer": layer, "data": layer.data, "index": index, "level": level}
        name = self._workspace.describe(ref) if ref != AUTO else "the model for its kind"
        self._runner.start(
            job, f"segmenting {layer.name}",
            returned=lambda result: self._on_done(source, result),
            aborted=lambda: self._runner.say("cancelled: nothing was changed"),
            status=f"segmenting '{layer.name}' with {name}…",
        )  # fmt: skip

    # ---- results ------------------------------------------------------------------------
    def _on_done(self, source: dict, result) -> None:
        layer = source["layer"]
        if layer not in self._viewer.layers:
            show_warning(f"'{layer.name}' was removed while it was segmented: result discarded.")
            self._runner.say("discarded: the image layer was removed")
            return
        if layer.data is not source["data"]:
            show_warning(f"'{layer.name}' changed while it was segmented: result discarded.")
            self._runner.say("discarded: the image changed; segment again")
            return
        notes = self._show(layer, source["index"], source["level"], result)
        model = self._workspace.describe(result.model)
        chosen = f": {result.chosen}" if result.chosen else ""
        extent = []
        if result.extent:  # a whole stack: looked at in 3-D
            self._viewer.dims.ndisplay = 3
            extent = [f"{result.extent}, shown in 3-D (the 2D/3D button goes back to slices)"]
        self._runner.say("; ".join([
            f"segmented '{layer.name}' in {result.seconds:.1f} s (model {model}{chosen}, "
            f"scale {result.scales}, {result.precision})", *extent, *result.notes, *notes]))
        self._show_measurements(result.measurements)
        (show_warning if notes or result.notes else show_info)(self._status.value)

    # ---- vessel measurements ------------------------------------------------------------
    def _show_measurements(self, values: dict | None) -> None:
        from unet_core.tasks import task_of

        card = (self._last or {}).get("card")
        text = task_of(card).describe(values) if values else ""  # "": nothing was measured
        self._measurements.value = text
        self._measurements.visible = self._measure.visible = bool(text)
        self._saver.follow(values)

    def _on_measure(self) -> None:
        """Measure the labels as they are now (after brush edits), in the background."""
        from .._worker import start_worker

        last = self._last
        if last is None or last["layer"] not in self._viewer.layers or last.get("card") is None:
            show_error("Segment an image with a vessel model first.")
            return
        labels = np.asarray(last["pair"].labels[last["index"]]).copy()
        self._measurements.value = "measuring…"
        self._measure_worker = start_worker(
            measure_job(last["image"], labels, last["card"]),
            returned=self._show_measurements,
            errored=self._runner.error,
        )
        self._measure_worker.start()

    def _show(self, layer, index: tuple[int, ...], level: int, result) -> list[str]:
        """The result in the probability, labels (a pair of the loop model: painted pixels
        kept) and objects layers; returns notes for the user (one line each)."""
        from unet_core.base.labels import IGNORE_LABEL
        from unet_core.postprocess import foreground_probability

        data = level_data(layer, level)
        shape = data.shape[: layer.ndim]
        kw = {"scale": level_scale(layer, level), "translate": layer.translate}
        if result.pyramid is not None:  # a pyramid like the image's, made by the job
            show_pyramid(self._viewer, f"{layer.name} probability", result.pyramid, kw)
        else:
            prob_layer, _ = output_layer(self._viewer, f"{layer.name} probability", "image",
                                         shape, np.float32, kw)  # fmt: skip
            prob_layer.data[index] = foreground_probability(result.prob)
            prob_layer.refresh()
        pair, lab_layer, created, notes = self._pair(layer, shape, kw, result)
        changed = pair.record(result.prob, result.model, index=index,
                              threshold=self._threshold.value, fresh=created)  # fmt: skip
        lab_layer.refresh()
        self._workspace.changed()  # Fine-tune and Measure show the pair's classes now
        self._last = {"pair": pair, "layer": lab_layer, "index": index, "card": result.card,
                      "changed": int(changed.sum()), "result": result, "image_layer": layer,
                      "image": data[index] if index else data}  # fmt: skip
        self._legend.value = (f"{legend(result.classes)}; {IGNORE_LABEL} = ignore (magenta, "
                              "skipped by training)")  # fmt: skip
        if result.objects is not None:
            objects, _ = output_layer(self._viewer, f"{layer.name} objects", "objects", shape,
                                      np.int32, kw)  # fmt: skip
            objects.data[index] = result.objects
            objects.refresh()
        return notes

    def _pair(self, layer, shape, kw: dict, result) -> tuple:
        """The pair the prediction goes to: that of ``<image> labels`` when it was made on this
        image (or on an earlier state of it, which is said), else a new layer and pair.
        Returns (pair, its layer, whether the layer is new, notes)."""
        from unet_core.loop import CORRECTIONS

        name, notes = f"{layer.name} labels", []
        known = self._pair_of_image(layer, shape)  # labels of this image, whatever their name
        if known is not None:
            take_classes(known[0], result.classes)
            return known[0], known[1], False, notes
        existing = self._viewer.layers[name] if name in self._viewer.layers else None  # noqa: SIM401 (a LayerList has no get)
        pair = pair_of(self._viewer, existing) if existing is not None else None
        if pair is not None and pair.complete and not pair.predictions:
            pair = None  # labels drawn by hand (a training's): the prediction goes beside them
        if pair is not None and np.shape(pair.labels) == tuple(shape):
            pixels = image_pixels(layer)
            mismatch = pair.image.mismatch(image_id(layer, pixels), pair.labels_name)
            if mismatch:
                notes.append(f"note: {mismatch}; the painted pixels are kept")
                pair.image, pair.pixels = image_id(layer, pixels), pixels
            take_classes(pair, result.classes)
            return pair, existing, False, notes
        if pair is not None and not any(p.any() for p in map(pair.painted, pair.predictions)):
            self._viewer.layers.remove(existing)  # our prediction at another level, unpainted
            self._workspace.forget(pair)
        elif existing is not None:  # not a prediction of this tool, or painted on: kept
            notes.append(f"'{name}' was left as it is (not a prediction of this image, or "
                         "drawn by hand)")  # fmt: skip
        labels = self._viewer.add_labels(np.zeros(shape, np.uint8), name=name,
                                         colormap=class_colormap(), **kw)  # fmt: skip
        pair = new_pair(self._viewer, layer, labels, CORRECTIONS, list(result.classes),
                        pixels=image_pixels(layer))  # fmt: skip
        return pair, labels, True, notes

    def _pair_of_image(self, layer, shape) -> tuple | None:
        """(pair, its labels layer) of corrections made on ``layer``'s pixels, open in the
        window and of ``shape`` (``<image> labels`` first), or None."""
        from unet_core.loop import CORRECTIONS

        from .._session import layer_of

        here = image_id(layer, image_pixels(layer))
        found = []
        for pair in self._workspace.pairs():
            if pair.mode != CORRECTIONS or pair.complete or np.shape(pair.labels) != tuple(shape):
                continue
            labels = layer_of(self._viewer, pair)
            if labels is not None and pair.image.mismatch(here, pair.labels_name) is None:
                found.append((labels.name != f"{layer.name} labels", pair, labels))
        return min(found, key=lambda f: f[0])[1:] if found else None

    def _on_threshold(self, value: float) -> None:
        """Re-derive the labels from the newest probabilities of the layer (the newest model
        that segmented it, fine-tuned versions included), keeping painted edits."""
        from unet_core.loop import LoopError

        if self._disk.rethreshold(value):  # the newest result is on disk: band by band
            return
        last = self._last
        if last is None and self._image.value is not None:  # e.g. a project just reopened
            image = self._image.value
            known = self._pair_of_image(image, np.shape(image_pixels(image))[: image.ndim])
            if known is not None:
                last = {"pair": known[0], "layer": known[1], "index": ()}
        if last is None or last["layer"] not in self._viewer.layers:
            return
        if pair_of(self._viewer, last["layer"]) is not last["pair"]:
            return  # the layer's data was replaced by something else
        try:
            last["pair"].rethreshold(value, last["index"])
        except LoopError as exc:
            self._runner.say(error_line(exc))
            return
        last["layer"].refresh()

