"""Paint-and-retrain: fine-tune on corrected Labels layers in the background, watch the loss,
see the re-segmented mask, and keep every round as a model version."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
    create_widget,
)
from napari.utils.notifications import show_error, show_info

from .._versions import STORE, ModelVersion
from .._workers import compare_job, finetune_job, load_model_cached, segment_job, start_worker
from ._jobs import JobControls
from .segment import BUNDLED, MODEL_FILE, device_choices, one_line

if TYPE_CHECKING:
    import napari

LATEST = "latest (the model that made the labels)"


class Sparkline:
    """A tiny line chart painted with QPainter: cheap enough to redraw on every training step."""

    def __init__(self, title: str) -> None:
        from qtpy.QtWidgets import QWidget

        chart = self

        class _Canvas(QWidget):
            def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
                chart.paint(self)

        self.title = title
        self.values: list[float] = []
        self.widget = _Canvas()
        self.widget.setMinimumHeight(80)

    def set(self, values: list[float]) -> None:
        self.values = list(values)
        self.widget.update()  # repainted by Qt when it next draws

    def paint(self, widget) -> None:
        from qtpy.QtCore import QPointF, Qt
        from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF

        painter = QPainter(widget)
        w, h = widget.width(), widget.height()
        painter.setPen(QColor(200, 200, 200))
        label = self.title
        if self.values:
            label += f": {self.values[-1]:.3f}"
        painter.drawText(4, 12, label)
        vals = [v for v in self.values if v == v]  # drop NaN
        if len(vals) >= 2:
            lo, hi = min(vals), max(vals)
            span = (hi - lo) or 1.0
            n = len(vals)
            points = [QPointF(4 + (w - 8) * i / (n - 1), 16 + (h - 20) * (1 - (v - lo) / span))
                      for i, v in enumerate(vals)]  # fmt: skip
            painter.setPen(QPen(QColor(80, 200, 255), 1.5, Qt.SolidLine))
            painter.drawPolyline(QPolygonF(points))
        painter.end()


class LossPlot:
    """Loss against step, and held-out Dice against round."""

    def __init__(self) -> None:
        from qtpy.QtWidgets import QHBoxLayout, QWidget

        self.loss = Sparkline("loss")
        self.dice = Sparkline("held-out Dice / round")
        self.canvas = QWidget()
        layout = QHBoxLayout(self.canvas)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss.widget)
        layout.addWidget(self.dice.widget)
        self.steps: list[int] = []
        self.losses: list[float] = []

    def reset(self) -> None:
        self.steps, self.losses = [], []
        self.loss.set([])

    def add(self, step: int, loss: float) -> None:
        self.steps.append(step)
        self.losses.append(loss)
        self.loss.set(self.losses)

    def draw(self, dice: list[float | None] | None = None) -> None:
        self.loss.set(self.losses)
        if dice is not None:
            self.dice.set([d for d in dice if d is not None])


class FinetuneWidget(JobControls, Container):
    """Fine-tune on (image, corrected labels) pairs; versions to switch, compare and save."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = napari_viewer
        self._image = create_widget(annotation="napari.layers.Image", label="image")
        self._labels = create_widget(annotation="napari.layers.Labels", label="corrected labels")
        self._add_pair = PushButton(text="Add this pair to the training set")
        self._pairs_view = Label(label="training set", value="(this pair only)")
        self._held_image = create_widget(annotation="napari.layers.Image", label="held-out image",
                                         options={"nullable": True})  # fmt: skip
        self._held_labels = create_widget(
            annotation="napari.layers.Labels", label="held-out labels", options={"nullable": True}
        )
        self._base = ComboBox(label="base model", choices=self._base_choices, value=LATEST)
        self._base_file = FileEdit(label="model file", filter="*.safetensors", visible=False)
        self._seconds = SpinBox(label="budget (s)", min=1, max=3600, value=20)
        self._steps = SpinBox(label="max steps (0: none)", min=0, max=100000, value=0)
        self._device = ComboBox(label="device", choices=device_choices(), value="auto")
        self._run = PushButton(text="Fine-tune")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="progress", min=0, max=100, value=0)
        self._status = Label(label="status", value="paint corrections, then fine-tune")
        self._versions = ComboBox(label="versions", choices=lambda _: STORE.names())
        self._use = PushButton(text="Segment with this version")
        self._restore = PushButton(text="Restore the corrections it was trained on")
        self._compare_with = ComboBox(label="compare with", choices=lambda _: STORE.names())
        self._compare = PushButton(text="Compare on the held-out pair")
        self._save_path = FileEdit(label="save as", mode="w", filter="*.safetensors")
        self._save = PushButton(text="Save version as a model file")
        self.extend([self._image, self._labels, self._add_pair, self._pairs_view,
                     self._held_image, self._held_labels, self._base, self._base_file,
                     self._seconds, self._steps, self._device, self._run, self._cancel,
                     self._progress, self._status, self._versions, self._use, self._restore,
                     self._compare_with, self._compare, self._save_path, self._save])  # fmt: skip
        self.plot = LossPlot()
        self.plot.canvas.setMinimumHeight(90)
        self.native.layout().insertWidget(14, self.plot.canvas)
        self._status.native.setWordWrap(True)
        self._pairs: list[tuple] = []
        self._worker = None
        self.max_width = 460
        self._base.changed.connect(lambda v: setattr(self._base_file, "visible", v == MODEL_FILE))
        self._add_pair.changed.connect(self._on_add_pair)
        self._run.changed.connect(self._on_run)
        self._cancel.changed.connect(self._on_cancel)
        self._use.changed.connect(self._on_use)
        self._restore.changed.connect(self._on_restore)
        self._compare.changed.connect(self._on_compare)
        self._save.changed.connect(self._on_save)
        STORE.changed.connect(self._on_versions_changed)

    # ---- choosing ------------------------------------------------------------------------
    def _base_choices(self, _=None) -> list[str]:
        return [LATEST, *STORE.names(), *BUNDLED, MODEL_FILE]

    def _on_versions_changed(self) -> None:
        try:
            for widget in (self._base, self._versions, self._compare_with):
                widget.reset_choices()
        except RuntimeError:  # this widget was closed: stop listening
            STORE.changed.disconnect(self._on_versions_changed)

    def _on_add_pair(self) -> None:
        image, labels = self._image.value, self._labels.value
        if image is None or labels is None:
            show_error("Choose an image and its corrected labels first.")
            return
        if all(p[1] is not labels for p in self._pairs):
            self._pairs.append((image, labels))
        self._pairs_view.value = "; ".join(f"{i.name} + {lab.name}" for i, lab in self._pairs)

    def _base_spec(self, labels) -> str:
        choice = self._base.value
        if choice == LATEST:
            made_by = labels.metadata.get("napari-unet", {}).get("model")
            return STORE.versions[-1].name if STORE.versions else (made_by or "drive")
        if choice == MODEL_FILE:
            path = self._base_file.value
            if not path or not path.is_file():
                raise ValueError("choose a model file (.safetensors) first")
            return str(path)
        return choice

    def _snapshot(self, image_layer, labels_layer) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the 2-D image and labels (painting on during training is safe)."""
        image = np.array(image_layer.data)
        labels = np.array(labels_layer.data)
        if labels.shape != image.shape[: labels.ndim] or labels.ndim != 2:
            raise ValueError(f"'{labels_layer.name}' {labels.shape} does not match "
                             f"'{image_layer.name}' {image.shape} as a 2-D image")  # fmt: skip
        return image, labels

    # ---- running -------------------------------------------------------------------------
    def _on_run(self) -> None:
        from unet_core.postprocess import IGNORE_LABEL

        pairs = self._pairs or [(self._image.value, self._labels.value)]
        if any(i is None or lab is None for i, lab in pairs):
            show_error("Choose an image and its corrected labels first.")
            return
        try:
            spec = self._base_spec(pairs[0][1])
            data = [self._snapshot(i, lab) for i, lab in pairs]
            held = None
            if self._held_image.value is not None and self._held_labels.value is not None:
                held = self._snapshot(self._held_image.value, self._held_labels.value)
            base = load_model_cached(spec, self._device.value)
        except Exception as exc:  # a bad file or shape: one line, never a crash
            show_error(f"napari-unet: {one_line(exc)}")
            return
        job = finetune_job(base, data, data[0][0], heldout=held, seconds=self._seconds.value,
                           steps=self._steps.value, device=self._device.value,
                           ignore_label=IGNORE_LABEL)  # fmt: skip
        context = {"pairs": pairs, "data": data, "parent": spec, "start": time.monotonic()}
        self._worker = start_worker(
            job, yielded=self._on_log, returned=lambda r: self._on_done(context, r),
            errored=self._on_error, aborted=self._on_aborted, finished=self._on_finished,
        )  # fmt: skip
        self.plot.reset()
        self._progress.max = self._steps.value or self._seconds.value
        self._progress.value = 0
        self._set_running(True)
        self._status.value = f"fine-tuning {spec} on {len(pairs)} image(s)…"
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

    def _on_cancel(self) -> None:
        if self._worker is not None:
            self._status.value = "cancelling…"
            self._worker.quit()

    def _on_aborted(self) -> None:
        self._status.value = "cancelled: the previous model is kept"

    def _on_error(self, exc: BaseException) -> None:
        self._status.value = f"failed: {one_line(exc)}"
        show_error(f"napari-unet: {one_line(exc)}")

    def _on_done(self, context: dict, result) -> None:
        pairs, data = context["pairs"], context["data"]
        version = STORE.add(ModelVersion(
            name=STORE.next_name(), model=result.model, parent=context["parent"],
            images=[i.name for i, _ in pairs], steps=result.steps, seconds=result.seconds,
            heldout_dice=result.heldout_dice,
            corrections=[(lab.name, d[1]) for (_, lab), d in zip(pairs, data)],
        ))  # fmt: skip
        self._versions.value = version.name
        flipped = self._show(pairs[0][0], pairs[0][1], result.prob, version.name)
        self.plot.draw([v.heldout_dice for v in STORE.versions])
        self._progress.value = self._progress.max
        self._status.value = f"{version.describe()}: {flipped} pixel(s) changed"
        show_info(self._status.value)

    def _show(self, image_layer, labels_layer, prob, model_name: str) -> int:
        """Put the re-segmentation into the labels (and probability) layers; pixels changed."""
        from unet_core.postprocess import probabilities_to_labels

        new = probabilities_to_labels(prob)
        if labels_layer not in self._viewer.layers:
            return 0
        flipped = int(np.sum(np.asarray(labels_layer.data) != new))
        labels_layer.data = new.astype(labels_layer.data.dtype)
        labels_layer.metadata.setdefault("napari-unet", {})["model"] = model_name
        name = f"{image_layer.name} probability"
        if name in self._viewer.layers and self._viewer.layers[name].data.shape == new.shape:
            fg = prob[1] if prob.shape[0] == 2 else 1 - prob[0]
            self._viewer.layers[name].data = fg.astype(np.float32)
        return flipped

    # ---- versions ------------------------------------------------------------------------
    def _version(self):
        version = STORE.get(self._versions.value or "")
        if version is None:
            show_error("No fine-tuned version yet.")
        return version

    def _on_use(self) -> None:
        """Re-segment the chosen image with the chosen version, in the background."""
        version = self._version()
        image, labels = self._image.value, self._labels.value
        if version is None or image is None or labels is None or self._worker is not None:
            return
        job = segment_job(np.asarray(image.data), version.name, self._device.value)
        self._start_side_job(
            job, lambda r: self._set_status(
                f"segmented with {version.name}: "
                f"{self._show(image, labels, r.prob, version.name)} pixel(s) changed"
            ),
        )  # fmt: skip

    def _start_side_job(self, job, on_result) -> None:
        """A short background job (segmenting, comparing) that keeps the viewer responsive."""
        self._worker = start_worker(job, returned=on_result, errored=self._on_error,
                                    finished=self._on_finished)  # fmt: skip
        self._set_running(True)
        self._status.value = "working…"
        self._worker.start()

    def _set_status(self, text: str) -> None:
        self._status.value = text

    def _on_restore(self) -> None:
        version = self._version()
        if version is None:
            return
        for name, labels in version.corrections:
            if name in self._viewer.layers:
                self._viewer.layers[name].data = labels.copy()
        self._status.value = f"restored the corrections {version.name} was trained on"

    def _on_compare(self) -> None:
        from unet_core.postprocess import IGNORE_LABEL

        a, b = STORE.get(self._versions.value or ""), STORE.get(self._compare_with.value or "")
        held = (self._held_image.value, self._held_labels.value)
        if a is None or b is None or None in held or self._worker is not None:
            show_error("Choose two versions and a held-out image with corrected labels.")
            return
        image, labels = self._snapshot(*held)
        job = compare_job([a.model, b.model], image, labels, IGNORE_LABEL, self._device.value)
        self._start_side_job(
            job, lambda d: self._set_status(
                f"held-out Dice: {a.name} {d[0]:.3f}, {b.name} {d[1]:.3f}"
            ),
        )  # fmt: skip

    def _on_save(self) -> None:
        version = self._version()
        if version is None:
            return
        path = self._save_path.value
        if not path or str(path) in (".", ""):
            show_error("Choose a file name to save to.")
            return
        from unet_core.model.store import save_model

        written = save_model(version.model, path, name=version.name)
        self._status.value = f"saved {version.name} to {written}"
