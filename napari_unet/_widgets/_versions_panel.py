"""The Fine-tune widget's version rows: segment with a version (which makes it the base of
the labels' next round: rolling back sticks), undo the last round, restore the labels it was
trained on, compare two on a held-out pair, save one as a model file."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from magicgui.widgets import ComboBox, FileEdit, PushButton

from .._session import image_id, image_pixels, layer_of
from ._runner import error_line


class VersionsPanel:
    """Rows for the window's versions.

    viewer, workspace : the window and its loop model.
    jobs : the widget's :class:`JobRunner`; pairs : its :class:`PairPanel`;
    view : its :class:`LoopView`; device : ``() -> str``;
    held_out : ``() -> (image, labels) | None``; check_image : ``(pair, image layer, retry)
    -> bool``, False when the image is not the pair's and the user is being asked;
    changed : ``(pair) -> None``, told when a pair changed (its project is saved).
    """

    def __init__(self, viewer, workspace, jobs, pairs, view, device: Callable[[], str],
                 held_out: Callable, check_image: Callable,
                 changed: Callable = lambda pair: None):  # fmt: skip
        self.viewer, self.workspace, self.jobs, self.pairs, self.view = (
            viewer, workspace, jobs, pairs, view)  # fmt: skip
        self.device, self.held_out, self.check_image = device, held_out, check_image
        self.changed = changed
        self.versions = ComboBox(label="versions", choices=self.choices)
        self.use = PushButton(text="Segment with it")
        self.use.tooltip = "re-segment the image; its labels' next round starts from it"
        self.restore = PushButton(text="Restore its labels")
        self.restore.tooltip = "put back the labels this version was trained on"
        self.compare_with = ComboBox(label="compare with", choices=self.choices)
        self.compare = PushButton(text="Compare on held-out")
        self.save_path = FileEdit(label="save as", mode="w", filter="*.safetensors *.zip")
        self.save = PushButton(text="Save as model file")
        self.undo = PushButton(text="Undo last round")
        self.undo.tooltip = ("segment with the model the labels' last round started from (your "
                             "painted pixels kept); again: one more round back")  # fmt: skip
        for button, handler in ((self.use, self.on_use), (self.restore, self.on_restore),
                                (self.compare, self.on_compare), (self.save, self.on_save),
                                (self.undo, self.on_undo)):  # fmt: skip
            button.changed.connect(lambda *_, h=handler: h())
        workspace.listeners.append(self._on_versions_changed)

    @property
    def rows(self) -> list:
        return [self.versions, self.use, self.undo, self.restore, self.compare_with,
                self.compare, self.save_path, self.save]  # fmt: skip

    def choices(self, _=None) -> list[tuple[str, str]]:
        return [(self.workspace.label(v), v.ref) for v in self.workspace.versions()]

    def _on_versions_changed(self) -> None:
        try:
            for widget in (self.versions, self.compare_with):
                widget.reset_choices()
        except RuntimeError:  # the widget was closed: stop listening
            self.workspace.listeners.remove(self._on_versions_changed)

    def chosen(self, widget=None):
        """(project, version) chosen in ``widget`` (the versions row), or None with a line."""
        found = self.workspace.find((widget or self.versions).value)
        if found is None:
            self.jobs.say("no fine-tuned version yet")
        return found

    # ---- handlers --------------------------------------------------------------------------------
    def on_use(self) -> None:
        """Re-segment the chosen image with the chosen version (:meth:`segment_with`)."""
        found = self.chosen()
        if found is not None:
            self.segment_with(found[1].ref)

    def segment_with(self, ref: str) -> None:
        """Re-segment the chosen image with the model ``ref`` (a version, a bundled model or a
        file) into its labels, painted pixels kept; the model becomes the base of their next
        round."""
        from .._jobs import segment_job

        image, pair = self.pairs.image.value, self.pairs.pair()
        if image is None or pair is None or self.jobs.busy:
            return
        if not self.check_image(pair, image, lambda: self.segment_with(ref)):
            return
        pixels = np.asarray(image_pixels(image))
        job = segment_job(pixels, ref, self.workspace, self.device())
        name = self.workspace.describe(ref)

        def done(result) -> None:
            if pair.image.mismatch(image_id(image, pixels), pair.labels_name):
                pair.image, pair.pixels = image_id(image, pixels), image_pixels(image)
            _, created = self.view.target(pair, image)
            changed = pair.record(result.prob, ref, fresh=created)
            self.view.refresh(pair, image, result.prob, changed)
            self.changed(pair)  # the roll-back is kept over a restart
            self.jobs.say(f"segmented with {name}: {int(changed.sum())} pixel(s) changed; the "
                          "next round starts from it")  # fmt: skip

        self.jobs.start(job, f"segmenting with {name}", returned=done)

    def on_undo(self) -> None:
        """Undo the chosen labels' last round: re-segment with the model that round started
        from (:meth:`segment_with`: painted pixels kept, and their next round starts from it);
        pressed again, it goes one more round back."""
        pair = self.pairs.pair(create=False)
        found = self.workspace.find(pair.model) if pair is not None else None
        if self.jobs.busy:
            self.jobs.say("not undone: a job is running (wait for it, or Cancel)")
        elif found is None:
            self.jobs.say("nothing to undo: the chosen labels hold no fine-tuned version")
        else:
            parent = self.workspace.find(found[1].parent)
            if parent is not None:
                self.versions.value = parent[1].ref
            self.segment_with(found[1].parent)

    def on_restore(self) -> None:
        from unet_core.loop import LoopError

        found = self.chosen()
        if found is None:
            return
        project, version = found
        try:
            restored = project.restore(version)
        except LoopError as exc:
            self.jobs.say(error_line(exc))
            return
        names = []
        for pair in restored:
            layer = layer_of(self.viewer, pair)
            if layer is not None:
                layer.refresh()
            self.changed(pair)
            names.append(f"'{pair.labels_name}'" + ("" if layer is not None else " (not open)"))
        self.jobs.say(f"restored the labels {version.name} was trained on: {', '.join(names)}")

    def on_compare(self) -> None:
        from unet_core.base.labels import IGNORE_LABEL

        from .._jobs import compare_job

        a, b, held = self.chosen(), self.chosen(self.compare_with), self.held_out()
        if a is None or b is None or held is None or self.jobs.busy:
            self.jobs.say("choose two versions and a held-out image with corrected labels")
            return
        models = [project.model_of(v) for project, v in (a, b)]
        job = compare_job(models, held[0], held[1], IGNORE_LABEL, self.device())
        self.jobs.start(job, "comparing versions", returned=lambda d: self.jobs.say(
            f"held-out Dice: {a[1].name} {d[0]:.3f}, {b[1].name} {d[1]:.3f}"))  # fmt: skip

    def on_save(self) -> None:
        from unet_core.loop.storage.write import write_model

        found, path = self.chosen(), self.save_path.value
        if found is None:
            return
        if not path or str(path) in (".", ""):
            self.jobs.say("choose a file name to save to")
            return
        project, version = found
        try:  # another tool's network is saved as its bioimage.io package (.zip)
            written = write_model(path, project.model_of(version), version.name,
                                  list(version.classes))  # fmt: skip
        except (OSError, ValueError) as exc:  # a read-only folder, a full disk: one line
            self.jobs.error(exc)
            return
        self.jobs.say(f"saved {version.name} to {written}")
