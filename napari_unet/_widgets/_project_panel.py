"""The Fine-tune widget's project rows: where the chosen labels' rounds are saved (their
project's folder; for labels no round has used yet, a folder to choose, beside the image by
default), opening a saved project into the window, and saving: after each round, and after
strokes, roll-backs and renamed classes once the brush rests, in the background."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from magicgui.widgets import FileEdit, Label, PushButton

from .._session import default_folder

SAVE_AFTER_MS = 1500  # a project is saved this long after the last stroke


class ProjectPanel:
    """Rows for the project of the chosen pair.

    workspace : the window's loop model; jobs : the widget's :class:`JobRunner`;
    opened : called with the ``LoopProject`` once it is open (the widget shows its layers).
    """

    def __init__(self, workspace, jobs, opened: Callable[[object], object]):
        from qtpy.QtCore import QTimer

        self.workspace, self.jobs, self.opened = workspace, jobs, opened
        self.folder = FileEdit(label="project", mode="d")
        self.folder.tooltip = "where the chosen labels' rounds are saved"
        self.open = PushButton(text="Open project")
        self.open.tooltip = "open the project in the folder above: its pairs and versions"
        self.saved = Label(value="")
        self.open.changed.connect(lambda *_: self.on_open())
        self._later: set = set()  # projects to save once the brush rests
        self._timer = QTimer(self.saved.native)  # goes with the widget
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._save_later)

    @property
    def rows(self) -> list:
        return [self.folder, self.open, self.saved]

    @property
    def saving(self) -> bool:
        """Whether a project of the window is being written."""
        from .._saving import saver

        return any(saver(p).busy for p in self.workspace.projects) or self._timer.isActive()

    def follow(self, pair, image_layer) -> None:
        """Show where ``pair``'s rounds go: its project's folder, or for a pair no round has
        used yet the default beside its image. The row can name another folder: to open the
        project there, or to save a new pair's rounds there; a pair already in a project
        stays in it."""
        project = self.workspace.project_of(pair) if pair is not None else None
        if project is not None:
            self.folder.value = project.folder
        elif image_layer is not None:
            self.folder.value = default_folder(image_layer)

    def destination(self, image_layer) -> Path:
        """The folder a round on labels that belong to no project yet is saved into."""
        folder = self.folder.value
        if not folder or str(folder) in (".", ""):
            folder = default_folder(image_layer)
            self.folder.value = folder
        return Path(folder)

    # ---- saving and opening ----------------------------------------------------------------------
    def save(self, project) -> None:
        """Write ``project`` now, in the background (one queue per project)."""
        import time

        from .._saving import saver

        def done(folder) -> None:
            with contextlib.suppress(RuntimeError):  # the widget was closed; files written
                self.saved.value = f"saved {time.strftime('%H:%M:%S')} to {folder}"

        saver(project).save(done)

    def save_soon(self, pair) -> None:
        """Save ``pair``'s project once the brush has rested a moment (strokes, a new
        threshold, a roll-back since the last round are kept over a restart)."""
        project = self.workspace.project_of(pair) if pair is not None else None
        if project is not None:
            self._later.add(project)
            self._timer.start(SAVE_AFTER_MS)

    def _save_later(self) -> None:
        projects, self._later = self._later, set()
        for project in projects:
            self.save(project)

    def on_open(self) -> None:
        """Open the project in the folder row, reading it and its images in the background."""
        from .._jobs import open_project_job

        folder = self.folder.value
        if not folder or str(folder) in (".", "") or not Path(folder).is_dir():
            self.jobs.say("choose a project folder first")
            return
        if self.jobs.busy:
            self.jobs.say("wait for the running job to end (or cancel it), then open")
            return
        found = self.workspace.project_in(folder)
        if found is not None:  # open already: show it again
            self.opened(found)
            return
        self.jobs.start(open_project_job(folder), f"opening {Path(folder).name}",
                        returned=self._attach)  # fmt: skip

    def _attach(self, project) -> None:
        self.opened(self.workspace.attach(project))
