"""The loop models open in one window: the projects (each a folder) and the pairs no round has
used yet. Versions are told apart by identity; names shown to people never clash."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from .errors import LoopError
from .project import LoopProject
from .records import Pair, Version, version_id


def _same_folder(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError):
        return a.resolve() == b.resolve()
    return a == b


class Workspace:
    """Projects and loose pairs of one window; ``listeners`` are called when versions or
    projects change (a widget's model list follows)."""

    def __init__(self) -> None:
        self.projects: list[LoopProject] = []
        self.loose: list[Pair] = []
        self.listeners: list[Callable[[], object]] = []

    def changed(self) -> None:
        for listener in list(self.listeners):
            listener()

    # ---- pairs --------------------------------------------------------------------------------
    def pairs(self) -> list[Pair]:
        return [*self.loose, *(p for project in self.projects for p in project.pairs)]

    def pair(self, pair_id: str | None) -> Pair | None:
        return next((p for p in self.pairs() if p.id == pair_id), None)

    def add_pair(self, pair: Pair) -> Pair:
        if self.project_of(pair) is None and all(p is not pair for p in self.loose):
            self.loose.append(pair)
            self.changed()
        return pair

    def forget(self, pair: Pair) -> None:
        """Drop a loose pair (its labels were discarded); a project's pairs stay."""
        self.loose = [p for p in self.loose if p is not pair]

    def project_of(self, pair: Pair) -> LoopProject | None:
        return next((pr for pr in self.projects if any(p is pair for p in pr.pairs)), None)

    # ---- projects -----------------------------------------------------------------------------
    def project_in(self, folder: str | os.PathLike) -> LoopProject | None:
        """The open project of ``folder`` (None when it is not open)."""
        return next((p for p in self.projects if _same_folder(p.folder, Path(folder))), None)

    def open(self, folder: str | os.PathLike) -> LoopProject:
        """The project saved in ``folder``, read once: opening it again returns the same one."""
        folder = Path(folder)
        if (found := self.project_in(folder)) is not None:
            return found
        project = LoopProject.open(folder)
        self.projects.append(project)
        self.changed()
        return project

    def attach(self, project: LoopProject) -> LoopProject:
        """Add a project read elsewhere (in the background); the one already open from the
        same folder wins."""
        if (found := self.project_in(project.folder)) is not None:
            return found
        self.projects.append(project)
        self.changed()
        return project

    def project_at(self, folder: str | os.PathLike) -> LoopProject:
        """The project of ``folder``: the open one, the one saved there, or a new one."""
        from .storage import is_project

        folder = Path(folder)
        if (found := self.project_in(folder)) is not None:
            return found
        if is_project(folder):
            return self.open(folder)
        project = LoopProject(folder)
        self.projects.append(project)
        return project

    def destination(self, pairs: list[Pair], folder: str | os.PathLike) -> LoopProject:
        """The project a round on ``pairs`` is saved into: the one they belong to, else the
        one at ``folder`` (read if saved there). LoopError when they belong to two projects,
        or ProjectError when the folder holds a project that cannot be read: said before any
        training."""
        owners = {id(pr): pr for p in pairs if (pr := self.project_of(p)) is not None}
        if len(owners) > 1:
            names = ", ".join(pr.name for pr in owners.values())
            raise LoopError(f"these labels belong to different projects ({names}): a round "
                            "trains the pairs of one project")  # fmt: skip
        return next(iter(owners.values())) if owners else self.project_at(folder)

    def adopt(self, pairs: list[Pair], folder: str | os.PathLike) -> LoopProject:
        """:meth:`destination`, with the loose pairs joining it."""
        project = self.destination(pairs, folder)
        for pair in pairs:
            if any(p is pair for p in self.loose):
                self.loose = [p for p in self.loose if p is not pair]
                project.add_pair(pair)
        return project

    # ---- versions -----------------------------------------------------------------------------
    def versions(self) -> list[Version]:
        return [v for project in self.projects for v in project.versions]

    def find(self, ref: str | None) -> tuple[LoopProject, Version] | None:
        """The project and version a reference names (None for a bundled name or file)."""
        key = version_id(ref)
        for project in self.projects:
            for v in project.versions:
                if v.id == key:
                    return project, v
        return None

    def label(self, version: Version) -> str:
        """``version``'s name, with its project's folder when another open project has a
        version of the same name."""
        clash = sum(v.name == version.name for v in self.versions()) > 1
        if not clash:
            return version.name
        project = next(pr for pr in self.projects if any(v is version for v in pr.versions))
        return f"{version.name} ({project.name})"

    def describe(self, ref: str | None) -> str:
        """A model reference as people know it: a version's label, a bundled model's name,
        a file's name."""
        if ref is None:
            return "(none)"
        found = self.find(ref)
        if found is not None:
            return self.label(found[1])
        if version_id(ref) is not None:
            return "a version of a project that is not open"
        return Path(ref).name if os.sep in ref or "/" in ref else ref

    def model(self, ref: str, device: str = "cpu"):
        """The network of a version reference (LoopError if its project is not open)."""
        found = self.find(ref)
        if found is None:
            raise LoopError(f"{self.describe(ref)}: open its project first")
        return found[0].model_of(found[1], device)
