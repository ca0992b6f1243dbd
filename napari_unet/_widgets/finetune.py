"""Paint-and-retrain: fine-tune on corrected labels or scribbles in the background, watch the loss,
see the new prediction fill what was not painted, find where to correct next, keep every round as
a version in a project that reopens whole. The state is the window's loop model (unet_core.loop
via .._session); this widget composes panels that show and call it, and keys (._shortcuts)."""

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
)
from napari.utils.notifications import show_error, show_info

from unet_core.base.events import Progress, Status

from .._jobs import resolve_model, round_job
from .._session import image_pixels, show_project, workspace
from ._choice import ChoiceRow
from ._classes import colormap_for
from ._fit import button_row, make_scrollable
from ._layer_choice import image_choice, labels_choice
from ._live_panel import LivePanel
from ._loop_view import LoopView
from ._model_picker import ModelPicker, device_choices
from ._pair_panel import PairPanel
from ._plot import LossPlot
from ._project_panel import ProjectPanel
from ._round_checks import check_fit, same_image
from ._runner import JobRunner, error_line
from ._shortcuts import LoopKeys
from ._versions_panel import VersionsPanel
from ._where_next import WhereNextPanel

if TYPE_CHECKING:
    import napari

LATEST = "latest"


class FinetuneWidget(Container):
    """Fine-tune on (image, labels) pairs; versions to switch, compare, save and reopen."""

    def __init__(self, napari_viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = viewer = napari_viewer
        self._workspace = ws = workspace(viewer)
        self._picker = ModelPicker(ws, "base model", LATEST, first=(LATEST,))
        self._base, self._base_file = self._picker.rows
        self._base.tooltip = ("latest: the model whose prediction the labels hold, the version "
                              "a round made on them, or the one they were re-segmented with")
        self._pairs = PairPanel(viewer, ws, self._default_classes, self._on_target,
                                lambda pair: self._project.save_soon(pair))  # fmt: skip
        self._held_image = image_choice(viewer, "held-out", nullable=True)
        self._held_labels = labels_choice(viewer, "its labels", nullable=True)
        self._seconds = SpinBox(label="budget (s)", min=1, max=3600, value=20)
        self._steps = SpinBox(label="max steps", min=0, max=99999, value=0)
        self._steps.tooltip = "0: as many as the budget allows"
        self._device = ComboBox(label="device", choices=device_choices(), value="auto")
        self._run = PushButton(text="Fine-tune")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="progress", min=0, max=100, value=0)
        self._status = Label(label="status", value="paint, then fine-tune")
        self._runner = JobRunner(self._run, self._cancel, self._progress, self._status)
        self._choice = ChoiceRow()
        self._view = LoopView(viewer)
        self._where = WhereNextPanel(viewer, lambda: self._pairs.pair(create=False),
                                     lambda: self._pairs.image.value, self._runner.say)
        self._project = ProjectPanel(ws, self._runner, self._on_opened)
        self._versions = VersionsPanel(viewer, ws, self._runner, self._pairs, self._view,
                                       lambda: self._device.value, self._held_out,
                                       self._check_image, self._project.save_soon)  # fmt: skip
        self._live = LivePanel(viewer, ws, lambda: self._pairs.pair(create=False),
                               lambda: self._pairs.image.value, self._live_model,
                               lambda: self._device.value, lambda: self._runner.busy,
                               self._on_stroke)  # fmt: skip
        self.extend([*self._project.rows, *self._pairs.rows, *self._live.rows,
                     self._held_image, self._held_labels, self._base, self._base_file,
                     self._seconds, self._steps, self._device, button_row(self._run, self._cancel),
                     self._progress, self._status, *self._choice.rows, *self._where.rows,
                     *self._versions.rows])  # fmt: skip
        self.plot = LossPlot()
        self.native.layout().insertWidget(self.index(self._status), self.plot.canvas)
        self._run.changed.connect(lambda *_: self._on_run())
        self._base.changed.connect(lambda *_: self._on_base())
        self._base_file.changed.connect(lambda *_: self._on_base())
        ws.listeners.append(self._on_workspace)  # labels another widget made: shown as pairs
        self.keys = LoopKeys(viewer, self, self._run, self._runner, self._pairs, self._where,
                             self._versions)  # Shift+F, N, H, U: see ._shortcuts
        self.max_width = 460
        make_scrollable(self, footer=(
            self._run, self._cancel, self._progress, self._status, *self._choice.rows))  # fmt: skip
        self._pairs.mode.changed.emit(self._pairs.mode.value)
        self._pairs.follow(self._pairs.target.value)

    @property
    def _worker(self):
        return self._runner.worker

    @property
    def _saving(self):
        return self._project.saving or None

    # ---- what the rows choose ----------------------------------------------------------------
    def _default_classes(self) -> list[str]:
        """Class names of labels no model made yet: the chosen base model's."""
        from unet_core.formats.store import read_card

        try:
            ref = self._picker.ref()
            found = self._workspace.find(ref)
            if found is not None and found[1].classes:
                return list(found[1].classes)
            if ref != LATEST and found is None:
                return list(read_card(ref).classes)
        except ValueError:  # no file chosen yet, or not a model file
            pass
        return ["background", "foreground"]

    def _on_base(self) -> None:
        """Labels no model made yet take the class names of the base model chosen."""
        if self._pairs.pair(create=False) is None:
            self._pairs.names.value = ", ".join(self._default_classes())
        self._pairs.show_legend()

    def _live_model(self) -> str:
        """The reference of the base model, for the live answer (which loads it)."""
        pair = self._pairs.pair(create=False)
        if pair is None:
            raise ValueError("choose labels first")
        return self._base_ref(pair)

    def _on_workspace(self) -> None:
        """A pair or version appeared (e.g. Segment made labels): the rows show it."""
        try:
            target = self._pairs.target.value
        except RuntimeError:  # the widget was closed: stop listening
            self._workspace.listeners.remove(self._on_workspace)
            return
        if target is not None and not self._runner.busy:
            self._pairs.refresh(target)

    def _on_target(self, layer) -> None:
        self._choice.close()
        self._live.follow(layer)
        self._project.follow(self._pairs.pair(layer, create=False) if layer else None,
                             self._pairs.image.value)  # fmt: skip

    def _on_stroke(self) -> None:
        """Strokes since the last round are saved once the brush rests (renamed classes too:
        ``PairPanel``'s ``on_renamed``)."""
        self._project.save_soon(self._pairs.pair(create=False))

    def _held_out(self):
        """Copies of the held-out image and labels (painting on meanwhile is safe)."""
        image, labels = self._held_image.value, self._held_labels.value
        if image is None or labels is None:
            return None
        return np.array(image_pixels(image)), np.array(labels.data)

    # ---- a round -----------------------------------------------------------------------------
    def _on_run(self) -> None:
        from unet_core.loop import LoopError
        from unet_core.loop.project import snapshot

        if self._runner.busy:
            return
        self._choice.close()
        chosen = self._pairs.pairs()
        if not chosen:
            self._refuse("choose an image and its labels first")
            return
        for pair, image in chosen:
            if not self._check_image(pair, image, self._on_run):
                return
        pairs = [p for p, _ in chosen]
        try:
            data = snapshot(pairs, [image_pixels(image) for _, image in chosen])
            ref = self._base_ref(pairs[0])
            base = resolve_model(self._workspace, ref, self._device.value)
            check_fit(base, data, pairs)
            self._workspace.destination(pairs, self._project.destination(chosen[0][1]))
        except LoopError as exc:
            self._refuse(error_line(exc), pairs[0])
            return
        except Exception as exc:  # a bad file, shape or label value: one line, never a crash
            self._refuse(error_line(exc))
            return
        job = round_job(base, data, parent=ref, heldout=self._held_out(),
                        seconds=self._seconds.value, steps=self._steps.value,
                        device=self._device.value, classes=pairs[0].classes)  # fmt: skip
        context = {"chosen": chosen, "ref": ref, "start": time.monotonic(),
                   "folder": self._project.destination(chosen[0][1])}  # fmt: skip
        self.plot.reset()
        self._live.clear()  # the round will answer; a live answer meanwhile would compete
        self._view.prepare(chosen[0][1], data[0].labels.shape)
        if pairs[0].shown_apart:  # its prediction layer too, now rather than at the end
            self._view.target(pairs[0], chosen[0][1])
        name = self._workspace.describe(ref)
        self._runner.start(job, f"fine-tuning {name}", yielded=lambda log: self._on_log(log,
                         context), returned=lambda r: self._on_done(context, r),
                         aborted=lambda: self._runner.say("cancelled: the previous model is kept"),
                         total=self._steps.value or self._seconds.value,
                         status=f"fine-tuning {name} on {len(pairs)} image(s)…")  # fmt: skip

    def _check_image(self, pair, image_layer, retry) -> bool:
        """``same_image``, asking in this widget: use the labels' own image, or go on."""
        def use(layer) -> None:
            self._pairs.image.value = layer

        def ask(mismatch: str, answers: list) -> None:
            self._choice.ask(f"{mismatch}.", *answers)
            self._runner.say("answer the question below to go on")

        return same_image(pair, image_layer, self._viewer, ask, use, retry)

    def _refuse(self, text: str, pair=None) -> None:
        """Say why nothing started (one line); for corrections no model made, offer the ways
        out: a scribbles layer, or all pixels drawn by hand."""
        show_error(f"napari-unet: {text}")
        self._runner.say(f"not started: {text}")
        if pair is None or pair.mode != "corrections" or pair.predictions or pair.complete:
            return

        def complete() -> None:
            pair.complete = True
            self._on_run()

        self._choice.ask(f"'{pair.labels_name}' holds no prediction to correct.",
                         ("New scribbles layer", self._pairs.make_scribbles),
                         ("Every pixel is annotated", complete))  # fmt: skip

    def _base_ref(self, pair) -> str:
        from unet_core.loop import LoopError

        if self._base.value != LATEST:
            return self._picker.ref()
        if pair.model is None:
            raise LoopError(f"no model has made '{pair.labels_name}' yet: choose a base model")
        return pair.model

    def _on_log(self, event, context: dict) -> None:
        if isinstance(event, Status):
            self._runner.say(event.text)
        elif isinstance(event, Progress):
            self.plot.add(event.done, event.values["loss"])
            done = event.done if self._steps.value else time.monotonic() - context["start"]
            self._runner.advance(done)

    def _on_done(self, context: dict, result) -> None:
        """The round's version into the loop model, its prediction shown (painted pixels
        kept), the project saved in the background."""
        pairs = [p for p, _ in context["chosen"]]
        image = context["chosen"][0][1]
        try:
            project = self._workspace.adopt(pairs, context["folder"])
            _, created = self._view.target(pairs[0], image)
            version, changed = project.add_round(
                result, self._workspace.describe(context["ref"]), fresh=created)  # fmt: skip
        except Exception as exc:  # e.g. the labels layer was deleted meanwhile
            self._runner.error(exc)
            return
        self._workspace.changed()
        self._versions.versions.value = version.ref
        self._live.clear()  # the round's prediction replaces the live answer
        self._view.refresh(pairs[0], image, result.prob, changed)
        self._project.follow(pairs[0], image)
        self.plot.draw([v.heldout_dice for v in project.versions])
        self._runner.advance(self._progress.max)
        self._runner.say(f"{version.describe()}: {int(changed.sum())} pixel(s) changed; the "
                       "pixels you painted are kept")  # fmt: skip
        show_info(self._status.value)
        self._project.save(project)

    # ---- a project opened ----------------------------------------------------------------------
    def _on_opened(self, project) -> None:
        layers = show_project(self._viewer, project, colormap_for)
        self._workspace.changed()
        if layers:
            pair = project.pairs[0]
            self._pairs.image.reset_choices()
            self._pairs.target.reset_choices()
            self._pairs.image.value = next(
                (layer for layer in self._viewer.layers if layer.data is pair.pixels),
                self._pairs.image.value)  # fmt: skip
            self._pairs.target.value = layers[0]
            self._pairs.follow(layers[0])  # bound after napari listed it: show it afresh
            found = self._workspace.find(pair.model)
            if found is not None:  # the version these labels go on from
                self._versions.versions.value = found[1].ref
        self.plot.draw([v.heldout_dice for v in project.versions])
        self._runner.say("; ".join([f"opened {project.folder}: {len(project.pairs)} pair(s), "
                                  f"{len(project.versions)} version(s)", *project.notes]))
