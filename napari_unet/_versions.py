"""Model versions made by fine-tuning in this session, shared by the widgets."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from psygnal import Signal


@dataclass
class ModelVersion:
    """One round of paint-and-retrain: the model and what made it."""

    name: str
    model: Any
    parent: str
    images: list[str]
    steps: int
    seconds: float
    heldout_dice: float | None = None
    created: str = field(default_factory=lambda: _dt.datetime.now().strftime("%H:%M:%S"))
    corrections: list = field(default_factory=list, repr=False)  # (layer name, labels) trained on

    def describe(self) -> str:
        dice = "" if self.heldout_dice is None else f", held-out Dice {self.heldout_dice:.3f}"
        return (f"{self.name} ({self.created}, from {self.parent}, {len(self.images)} image(s), "
                f"{self.steps} steps, {self.seconds:.0f} s{dice})")  # fmt: skip


class VersionStore:
    """The versions, in order; ``changed`` fires when one is added."""

    changed = Signal()

    def __init__(self) -> None:
        self.versions: list[ModelVersion] = []

    def add(self, version: ModelVersion) -> ModelVersion:
        self.versions.append(version)
        self.changed.emit()
        return version

    def names(self) -> list[str]:
        return [v.name for v in self.versions]

    def get(self, name: str) -> ModelVersion | None:
        return next((v for v in self.versions if v.name == name), None)

    def lineage(self, name: str) -> list[str]:
        """``name``, its parent, its parent's parent, ... up to a model that is not a version."""
        chain = [name]
        while (version := self.get(chain[-1])) is not None and version.parent not in chain:
            chain.append(version.parent)
        return chain

    def newest_from(self, name: str) -> str:
        """The newest version that descends from ``name`` (itself included), else ``name``:
        the model to fine-tune further labels made by ``name``."""
        for version in reversed(self.versions):
            if name in self.lineage(version.name):
                return version.name
        return name

    def next_name(self, kind: str = "fine-tuned") -> str:
        return f"{kind} v{len(self.versions) + 1}"


STORE = VersionStore()
