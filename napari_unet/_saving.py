"""Saving a project in the background: one queue per project, whichever widget asks (a round,
a training, a stroke, a roll-back), so two saves never race and the newest state is written
last. What a save writes is copied when it is asked for (``unet_core.loop.storage.save_job``),
so painting on meanwhile is safe."""

from __future__ import annotations

import weakref
from collections.abc import Callable

_SAVERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Saver:
    """The save queue of one project: one write at a time; asked again while writing, it
    writes once more afterwards (with everything asked for by then)."""

    def __init__(self, project):
        self.project = project
        self.worker = None
        self._again = False
        self._done: list[Callable] = []

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def save(self, done: Callable | None = None) -> None:
        """Write the project; ``done(folder)`` once it is on disk (errors: one line)."""
        from unet_core.loop.storage import save_job

        from ._jobs import write_job
        from ._worker import start_worker

        if done is not None:
            self._done.append(done)
        if self.worker is not None:
            self._again = True
            return
        callbacks, self._done = self._done, []
        self.worker = start_worker(write_job(save_job(self.project)),
                                   returned=lambda folder: [cb(folder) for cb in callbacks],
                                   errored=self._failed, finished=self._finished)  # fmt: skip
        self.worker.start()

    def _failed(self, exc: BaseException) -> None:  # a full disk, a read-only folder: said
        from napari.utils.notifications import show_error

        from ._widgets._runner import error_line

        show_error(f"napari-unet: {self.project.folder} was not saved: {error_line(exc)}")

    def _finished(self) -> None:
        self.worker = None
        if self._again:
            self._again = False
            self.save()


def saver(project) -> Saver:
    """The save queue of ``project``."""
    found = _SAVERS.get(project)
    if found is None:
        found = _SAVERS[project] = Saver(project)
    return found
