"""Paint-and-retrain: fine-tune on corrected labels or on scribbles in the background, watch the
loss, see the new prediction fill what was not painted, find where to correct next, and keep
every round as a model version in a project folder."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
    create_widget,
)
from napari.utils.notifications import show_error, show_info

from .._layers import CORRECTIONS, SCRIBBLES, layer_info, painted_mask
from .._versions import STORE, ModelVersion
from .._workers import finetune_job, load_model_cached, start_worker
from ._jobs import JobControls, make_scrollable, one_line
from ._model_picker import BUNDLED, ModelPicker
from ._plot import LossPlot
from ._round_display import RoundDisplay
from ._versions_panel import VersionsPanel
from ._where_next import WhereNext
from .segment import device_choices

if TYPE_CHECKING:
    import napari

LATEST = "latest (the model that made the labels)"
TARGET_LABEL = {CORRECTIONS: "corrected labels", SCRIBBLES: "scribbles"}


class FinetuneWidget(JobControls, VersionsPanel, WhereNext, RoundDisplay, Container):
    """Fine-tune on (image, labels) pairs; versions to switch, compare, save and reopen."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._image = create_widget(annotation="napari.layers.Image", label="image")
        self._mode = ComboBox(label="mode", choices=[CORRECTIONS, SCRIBBLES], value=CORRECTIONS)
        self._target = create_widget(annotation="napari.layers.Labels", label="corrected labels")
        self._new_scribbles = PushButton(text="New scribbles layer for this image")
        self._legend = Label(label="legend", value="")
        self._add_pair = PushButton(text="Add this pair to the training set")
        self._pairs_view = Label(label="training set", value="(this pair only)")
        self._held_image = create_widget(annotation="napari.layers.Image", label="held-out image",
                                         options={"nullable": True})  # fmt: skip
        self._held_labels = create_widget(
            annotation="napari.layers.Labels", label="held-out labels", options={"nullable": True}
        )
        self._picker = ModelPicker("base model", LATEST, first=(LATEST,))
        self._base, self._base_file = self._picker.rows
        self._seconds = SpinBox(label="budget (s)", min=1, max=3600, value=20)
        self._steps = SpinBox(label="max steps (0: none)", min=0, max=100000, value=0)
        self._device = ComboBox(label="device", choices=device_choices(), value="auto")
        self._run = PushButton(text="Fine-tune")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="progress", min=0, max=100, value=0)
        self._status = Label(label="status", value="paint corrections, then fine-tune")
        self._unsure = PushButton(text="Show where the model is unsure")
        self._goto = PushButton(text="Go to the most uncertain region not yet corrected")
        self.extend([self._image, self._mode, self._target, self._new_scribbles, self._legend,
                     self._add_pair, self._pairs_view,
                     self._held_image, self._held_labels, self._base, self._base_file,
                     self._seconds, self._steps, self._device, self._run, self._cancel,
                     self._progress, self._status, self._unsure, self._goto,
                     *self._version_rows()])  # fmt: skip
        self.plot = LossPlot()
        self.plot.canvas.setMinimumHeight(90)
        self.native.layout().insertWidget(self.index(self._status), self.plot.canvas)
        for label in (self._status, self._legend):
            label.native.setWordWrap(True)
        self._pairs: list[tuple] = []
        self._worker = None
        self.max_width = 460
        make_scrollable(self)
        self._add_pair.changed.connect(self._on_add_pair)
        self._mode.changed.connect(self._on_mode)
        self._target.changed.connect(lambda _: self._show_legend())
        self._new_scribbles.changed.connect(self._on_new_scribbles)
        self._run.changed.connect(self._on_run)
        self._cancel.changed.connect(self._on_cancel)
        self._unsure.changed.connect(self._on_unsure)
        self._goto.changed.connect(self._on_goto)
        STORE.changed.connect(self._on_versions_changed)
        self._on_mode(self._mode.value)

    # ---- choosing ------------------------------------------------------------------------
    def _on_versions_changed(self) -> None:
        try:
            for widget in (self._versions, self._compare_with):
                widget.reset_choices()
        except RuntimeError:  # this widget was closed: stop listening
            STORE.changed.disconnect(self._on_versions_changed)

    def _on_mode(self, mode: str) -> None:
        self._target.label = TARGET_LABEL[mode]
        self._new_scribbles.visible = mode == SCRIBBLES
        self._show_legend()

    def _classes(self) -> list[str]:
        """Class names of the chosen labels' model (or of the chosen bundled model)."""
        layer = self._target.value
        classes = layer_info(layer).get("classes") if layer is not None else None
        if not classes and self._base.value in BUNDLED:
            from unet_core.model.store import read_card

            classes = read_card(self._base.value).classes
        return list(classes or ["background", "foreground"])

    def _show_legend(self) -> None:
        from unet_core.base.labels import IGNORE_LABEL

        from .segment import legend

        classes = self._classes()
        if self._mode.value == SCRIBBLES:
            self._legend.value = f"0 = not annotated; {legend(classes, offset=1)}"
        else:
            self._legend.value = (f"{legend(classes)}; {IGNORE_LABEL} = ignore (magenta). What "
                                  "you paint is kept by every round")  # fmt: skip

    def _on_new_scribbles(self) -> None:
        """An empty scribbles layer over the image (0 everywhere = nothing annotated yet)."""
        from .segment import label_colormap

        image = self._image.value
        if image is None:
            show_error("Choose an image first.")
            return
        shape = image.data.shape[:2] if image.rgb else image.data.shape[-2:]
        layer = self._viewer.add_labels(
            np.zeros(shape, np.uint8), name=f"{image.name} scribbles", colormap=label_colormap(),
            scale=image.scale[-2:], translate=image.translate[-2:],
        )  # fmt: skip
        layer_info(layer).update({"mode": SCRIBBLES, "classes": self._classes()})
        layer.selected_label = 1
        layer.mode = "paint"
        self._target.value = layer

    def _on_add_pair(self) -> None:
        image, labels = self._image.value, self._target.value
        if image is None or labels is None:
            show_error("Choose an image and its labels first.")
            return
        if all(p[1] is not labels for p in self._pairs):
            self._pairs.append((image, labels, self._mode.value))
        self._pairs_view.value = "; ".join(f"{i.name} + {lab.name} ({mode})"
                                           for i, lab, mode in self._pairs)  # fmt: skip

    def _base_spec(self, labels) -> str:
        choice = self._base.value
        if choice == LATEST:  # the model that made these labels, or its newest descendant
            made_by = layer_info(labels).get("model")
            if made_by is None:
                raise ValueError(f"no model has segmented '{labels.name}' yet: choose a base model")
            return STORE.newest_from(made_by)
        return self._picker.spec()

    def _snapshot(self, image_layer, labels_layer, mode: str = CORRECTIONS) -> tuple:
        """Copies of the 2-D image, the training labels and the layer's own values (painting
        on during training is safe)."""
        from unet_core.postprocess import scribbles_to_labels

        image = np.array(image_layer.data)
        raw = np.array(labels_layer.data)
        if raw.shape != image.shape[: raw.ndim] or raw.ndim != 2:
            raise ValueError(f"'{labels_layer.name}' {raw.shape} does not match "
                             f"'{image_layer.name}' {image.shape} as a 2-D image")  # fmt: skip
        labels = scribbles_to_labels(raw) if mode == SCRIBBLES else raw
        return image, labels, raw

    @staticmethod
    def _check_fit(model, data: list[tuple], names: list[str]) -> None:
        """One line, before any training, if the model cannot take the images or labels."""
        from unet_core.base.labels import IGNORE_LABEL
        from unet_core.data.preprocess import check_channels
        from unet_core.training.finetune import check_labels

        for (image, labels, _), name in zip(data, names):
            check_channels(image, model.card.preprocessing.channels, model.in_channels)
            check_labels(labels, image.shape[:2], model.num_classes, IGNORE_LABEL, f"'{name}'")

    # ---- running -------------------------------------------------------------------------
    def _on_run(self) -> None:
        from unet_core.base.labels import IGNORE_LABEL

        pairs = self._pairs or [(self._image.value, self._target.value, self._mode.value)]
        if any(i is None or lab is None for i, lab, _ in pairs):
            show_error("Choose an image and its labels first.")
            return
        try:
            data = [self._snapshot(*pair) for pair in pairs]
            spec = self._base_spec(pairs[0][1])
            held = None
            if self._held_image.value is not None and self._held_labels.value is not None:
                held = self._snapshot(self._held_image.value, self._held_labels.value)[:2]
            base = load_model_cached(spec, self._device.value)
            self._check_fit(base, data, [lab.name for _, lab, _ in pairs])
        except Exception as exc:  # a bad file, shape or label value: one line, never a crash
            show_error(f"napari-unet: {one_line(exc)}")
            self._status.value = f"not started: {one_line(exc)}"
            return
        train = [(image, labels) for image, labels, _ in data]
        job = finetune_job(base, train, data[0][0], heldout=held, seconds=self._seconds.value,
                           steps=self._steps.value, device=self._device.value,
                           ignore_label=IGNORE_LABEL)  # fmt: skip
        context = {"pairs": pairs, "data": data, "parent": spec, "start": time.monotonic(),
                   "corrected": sum(self._corrected(lab, mode, d[2])
                                    for (_, lab, mode), d in zip(pairs, data))}  # fmt: skip
        self._worker = start_worker(
            job, yielded=self._on_log, returned=lambda r: self._on_done(context, r),
            errored=self._on_error, aborted=self._on_aborted, finished=self._on_finished,
        )  # fmt: skip
        self.plot.reset()
        self._progress.max = self._steps.value or self._seconds.value
        self._progress.value = 0
        self._set_running(True)
        self._status.value = f"fine-tuning {spec} on {len(pairs)} image(s)…"
        self._start_activity(self._progress.max, f"fine-tuning {spec}")
        self._context = context
        self._worker.start()

    def _on_log(self, log: dict) -> None:
        if log.get("kind") == "status":
            self._status.value = log["text"]
            return
        if log.get("kind") != "step":
            return
        self.plot.add(log["step"], log["loss"])
        done = log["step"] if self._steps.value else time.monotonic() - self._context["start"]
        self._progress.value = int(min(done, self._progress.max))
        self._advance_activity(done)

    def _on_aborted(self) -> None:
        self._status.value = "cancelled: the previous model is kept"

    def _on_done(self, context: dict, result) -> None:
        pairs, data = context["pairs"], context["data"]
        version = STORE.add(ModelVersion(
            name=STORE.next_name(), model=result.model, parent=context["parent"],
            images=[i.name for i, _, _ in pairs], steps=result.steps, seconds=result.seconds,
            heldout_dice=result.heldout_dice,
            corrections=[(lab.name, d[2]) for (_, lab, _), d in zip(pairs, data)],
        ))  # fmt: skip
        self._versions.value = version.name
        for _, layer, _ in pairs:  # the next round on these labels starts from this version
            layer_info(layer)["model"] = version.name
        image, labels, mode = pairs[0]
        flipped = self._show(image, labels if mode == CORRECTIONS else None, result.prob,
                             version.name)  # fmt: skip
        self.plot.draw([v.heldout_dice for v in STORE.versions])
        self._progress.value = self._progress.max
        self._status.value = (f"{version.describe()}: {flipped} pixel(s) changed; "
                              "the pixels you painted are kept")  # fmt: skip
        self._save_to_project(context, version)
        show_info(self._status.value)

    @staticmethod
    def _corrected(layer, mode: str, raw: np.ndarray) -> int:
        """Pixels the user annotated on this pair (for the learning curve)."""
        if mode == SCRIBBLES:
            return int(np.count_nonzero(raw))
        return int(painted_mask(layer).sum()) if layer_info(layer).get("planes") else raw.size
