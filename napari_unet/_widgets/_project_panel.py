"""The Fine-tune widget's project rows: where the chosen labels' rounds are saved (their
project's folder; for labels no round has used yet, a folder to choose, beside the image by
default), opening a saved project into the window, and saving each round in the background."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from magicgui.widgets import FileEdit, PushButton
from napari.utils.notifications import show_error

from .._session import default_folder
from ._jobs import one_line


class ProjectPanel:
    """Rows for the project of the chosen pair.

    workspace : the window's loop model; jobs : the widget's :class:`JobRunner`;
    opened : called with the ``LoopProject`` once it is open (the widget shows its layers).
    """

    def __init__(self, workspace, jobs, opened: Callable[[object], object]):
        self.workspace, self.jobs, self.opened = workspace, jobs, opened
        self.folder = FileEdit(label="project", mode="d")
        self.folder.tooltip = "where the chosen labels' rounds are saved"
        self.open = PushButton(text="Open project")
        self.open.tooltip = "open the project in the folder above: its pairs and versions"
        self.open.changed.connect(lambda *_: self.on_open())
        self._saving = None  # the worker writing the last round, while it runs
        self._again: tuple | None = None  # a save asked for meanwhile

    @property
    def rows(self) -> list:
        return [self.folder, self.open]

    @property
    def saving(self) -> bool:
        return self._saving is not None

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
    def save(self, project, done: Callable[[Path], object]) -> None:
        """Write ``project`` in the background (what it holds is copied now; painting on is
        safe); one save at a time, the next one waiting for the last."""
        from unet_core.loop.storage import save_job

        from .._workers import start_worker, write_job

        if self._saving is not None:
            self._again = (project, done)
            return
        job = write_job(save_job(project))

        def failed(exc) -> None:  # a full disk or a read-only folder: say so, keep the version
            show_error(f"napari-unet: the project was not saved: {one_line(exc)}")

        def finished() -> None:
            self._saving = None
            if self._again is not None:
                again, self._again = self._again, None
                self.save(*again)

        self._saving = start_worker(job, returned=done, errored=failed, finished=finished)
        self._saving.start()

    def on_open(self) -> None:
        """Open the project in the folder row, reading it and its images in the background."""
        from .._workers import open_project_job

        folder = self.folder.value
        if not folder or str(folder) in (".", "") or not Path(folder).is_dir():
            self.jobs.say("choose a project folder first")
            return
        if self.jobs.busy:
            return
        for project in self.workspace.projects:  # open already: show it again
            if project.folder.resolve() == Path(folder).resolve():
                self.opened(project)
                return
        self.jobs.start(open_project_job(folder), f"opening {Path(folder).name}",
                        yielded=self.jobs.say, returned=self._attach)  # fmt: skip

    def _attach(self, project) -> None:
        self.opened(self.workspace.attach(project))
