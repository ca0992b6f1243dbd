"""The Fine-tune widget's versions and project: segment with a version, restore what it was
trained on, compare two, save one as a model file; every round saved into the project folder,
and a project reopened in a new session."""

from __future__ import annotations

import contextlib

import numpy as np
from napari.utils.notifications import show_error

from .._layers import CORRECTIONS
from .._versions import STORE
from .._workers import compare_job, segment_job, start_worker
from ._jobs import one_line


class VersionsPanel:
    """Mixin for the Fine-tune widget: the versions and project rows and their handlers."""

    def _version_rows(self) -> list:
        """The rows, connected to their handlers, for the widget to add."""
        from magicgui.widgets import ComboBox, FileEdit, PushButton

        self._versions = ComboBox(label="versions", choices=lambda _: STORE.names())
        self._use = PushButton(text="Segment with this version")
        self._restore = PushButton(text="Restore the corrections it was trained on")
        self._compare_with = ComboBox(label="compare with", choices=lambda _: STORE.names())
        self._compare = PushButton(text="Compare on the held-out pair")
        self._save_path = FileEdit(label="save as", mode="w", filter="*.safetensors")
        self._save = PushButton(text="Save version as a model file")
        self._project = FileEdit(label="project folder", mode="d")
        self._open_project = PushButton(text="Open project (pairs and versions)")
        for button, handler in ((self._use, self._on_use), (self._restore, self._on_restore),
                                (self._compare, self._on_compare), (self._save, self._on_save),
                                (self._open_project, self._on_open_project)):  # fmt: skip
            button.changed.connect(handler)
        return [self._versions, self._use, self._restore, self._compare_with, self._compare,
                self._save_path, self._save, self._project, self._open_project]  # fmt: skip

    def _project_folder(self, image_layer):
        from .._project import default_folder

        folder = self._project.value
        if not folder or str(folder) in (".", ""):
            folder = default_folder(image_layer)
            self._project.value = folder
        return folder

    _saving = None  # the worker writing the last round into the project, while it runs

    def _save_to_project(self, context: dict, version) -> None:
        """Every round goes to the project folder as it ends (a crash loses nothing older),
        written in the background so the window does not stall on the model file."""
        from .._project import save_round

        folder = self._project_folder(context["pairs"][0][0])

        def job():
            yield
            save_round(folder, context["pairs"], context["data"], version, context["corrected"])
            return folder

        def failed(exc):  # a full disk or a read-only folder: say so, keep the version
            show_error(f"napari-unet: the project was not saved: {one_line(exc)}")

        def saved(where):
            with contextlib.suppress(RuntimeError):  # the widget was closed; files are written
                self._status.value += f"; saved to {where}"

        self._saving = start_worker(job(), returned=saved, errored=failed,
                                    finished=lambda: setattr(self, "_saving", None))  # fmt: skip
        self._saving.start()

    def _on_open_project(self) -> None:
        from .._project import open_project

        folder = self._project.value
        if not folder or str(folder) in (".", "") or not folder.is_dir():
            show_error("Choose a project folder first.")
            return
        try:
            project = open_project(self._viewer, folder, device="cpu")
        except Exception as exc:
            show_error(f"napari-unet: {one_line(exc)}")
            return
        self.reset_choices()
        if project.pairs:
            first = project.pairs[0]
            self._image.value = self._viewer.layers[first.name]
            self._mode.value = first.mode
            self._target.value = self._viewer.layers[first.labels_name]
        self.plot.draw([v.heldout_dice for v in STORE.versions])
        self._status.value = (f"opened {folder}: {len(project.pairs)} pair(s), "
                              f"{len(project.versions)} version(s)")  # fmt: skip

    def _version(self):
        version = STORE.get(self._versions.value or "")
        if version is None:
            show_error("No fine-tuned version yet.")
        return version

    def _on_use(self) -> None:
        """Re-segment the chosen image with the chosen version, in the background."""
        version = self._version()
        image, labels = self._image.value, self._target.value
        if version is None or image is None or labels is None or self._worker is not None:
            return
        job = segment_job(np.asarray(image.data), version.name, self._device.value)
        target = labels if self._mode.value == CORRECTIONS else None
        self._start_side_job(
            job, lambda r: self._set_status(
                f"segmented with {version.name}: "
                f"{self._show(image, target, r.prob, version.name)} pixel(s) changed"
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
        from unet_core.base.labels import IGNORE_LABEL

        a, b = STORE.get(self._versions.value or ""), STORE.get(self._compare_with.value or "")
        held = (self._held_image.value, self._held_labels.value)
        if a is None or b is None or None in held or self._worker is not None:
            show_error("Choose two versions and a held-out image with corrected labels.")
            return
        image, labels, _ = self._snapshot(*held)
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
