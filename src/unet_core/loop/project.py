"""One project of the loop: its pairs and versions, and the operations that change them (a
round's new version, restoring what a version was trained on). :mod:`.storage` reads and
writes it; nothing here touches the disk but reading a version's files back."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LoopError
from .records import SCRIBBLES, Pair, Version, version_id
from .rounds import RoundData, RoundResult


def snapshot(pairs: list[Pair], images: list[Any] | None = None) -> list[RoundData]:
    """Copies of what a round trains on (painting on meanwhile is safe): each pair's image
    (``images``, else the pair's own pixels) and its training labels; LoopError, before any
    work, when a pair cannot teach anything."""
    images = images if images is not None else [p.pixels for p in pairs]
    data = []
    for pair, image in zip(pairs, images):
        if image is None:
            raise LoopError(f"the image of '{pair.labels_name}' ('{pair.image.name}') is not open")
        image = np.array(image)
        labels, corrected = pair.training_labels()
        if labels.shape != image.shape[: labels.ndim] or image.ndim > labels.ndim + 1:
            kind = "a 2-D image" if labels.ndim == 2 else "a stack"
            raise LoopError(f"'{pair.labels_name}' {labels.shape} does not match "
                            f"'{pair.image.name}' {image.shape} as {kind}")  # fmt: skip
        data.append(RoundData(pair.id, image, labels, corrected, np.array(pair.labels),
                              pair.prediction(), sparse=pair.mode == SCRIBBLES))  # fmt: skip
    return data


class LoopProject:
    """The pairs and versions of one project folder (nothing is written until it is saved:
    :func:`.storage.save_job`)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.pairs: list[Pair] = []
        self.versions: list[Version] = []
        self.written: dict[str, Any] = {}  # storage's: file -> the object last written there
        self.notes: list[str] = []  # what opening it could not do (an image that has moved)

    @classmethod
    def open(cls, folder: str | os.PathLike) -> LoopProject:
        """The project saved in ``folder`` (ProjectError naming the file and the field when it
        cannot be read)."""
        from .storage import read_project

        return read_project(folder)

    @property
    def name(self) -> str:
        return self.folder.name

    def __repr__(self) -> str:
        return f"LoopProject({str(self.folder)!r}, {len(self.pairs)} pairs, " \
               f"{len(self.versions)} versions)"  # fmt: skip

    # ---- lookups ------------------------------------------------------------------------------
    def pair(self, pair_id: str) -> Pair | None:
        return next((p for p in self.pairs if p.id == pair_id), None)

    def version(self, ref_or_id: str | None) -> Version | None:
        """A version by its reference (``version:<id>``) or id."""
        key = version_id(ref_or_id) or ref_or_id
        return next((v for v in self.versions if v.id == key), None)

    def named(self, name: str) -> Version | None:
        return next((v for v in self.versions if v.name == name), None)

    def next_name(self, kind: str = "fine-tuned") -> str:
        """``<kind> v<n>``, n one above every version of that kind here (names never repeat
        within a project, whatever was opened beside it)."""
        pattern = re.compile(rf"^{re.escape(kind)} v(\d+)$")
        numbers = [int(m[1]) for v in self.versions if (m := pattern.match(v.name))]
        return f"{kind} v{max(numbers, default=0) + 1}"

    def lineage(self, version: Version) -> list[str]:
        """The names of ``version``, its parent, its parent's parent, ... up to a model that
        is not a version of this project (a bundled name or a file)."""
        chain, seen = [version.name], {version.id}
        parent = version.parent
        while (up := self.version(parent)) is not None and up.id not in seen:
            chain.append(up.name)
            seen.add(up.id)
            parent = up.parent
        if version_id(parent) is None:
            chain.append(Path(parent).stem if os.sep in parent else parent)
        return chain

    # ---- operations ---------------------------------------------------------------------------
    def add_pair(self, pair: Pair) -> Pair:
        if all(p is not pair for p in self.pairs):
            self.pairs.append(pair)
        return pair

    def add_round(self, result: RoundResult, parent_name: str, *, kind: str = "fine-tuned",
                  fresh: bool = False) -> tuple[Version, np.ndarray]:  # fmt: skip
        """Record a round: a new version (named uniquely here) that becomes the base of every
        pair it was trained on, and its prediction merged into the first pair's labels, the
        painted pixels kept. Returns (the version, the pixels that changed)."""
        pairs = [self.pair(d.pair) for d in result.data]
        if any(p is None for p in pairs):
            raise LoopError("a pair of this round is not in the project")
        version = Version(
            name=self.next_name(kind), parent=result.parent, parent_name=parent_name, kind=kind,
            steps=result.steps, seconds=round(result.seconds, 1), pairs=[p.id for p in pairs],
            images=[p.image.name for p in pairs], corrected_pixels=result.corrected_pixels,
            heldout_dice=result.heldout_dice, classes=list(pairs[0].classes),
            model=result.model, trained_on={d.pair: d.raw for d in result.data},
            trained_over={d.pair: d.prediction for d in result.data if d.prediction},
        )  # fmt: skip
        self.versions.append(version)
        for pair in pairs:
            pair.model = version.ref
        changed = pairs[0].record(result.prob, version.ref, fresh=fresh)
        return version, changed

    def add_trained(self, version: Version, pairs: list[Pair]) -> Version:
        """Record a model trained from scratch on ``pairs`` (its file already written in the
        project): the base of those pairs' next round."""
        version.name = self.next_name(version.kind) if self.named(version.name) else version.name
        self.versions.append(version)
        for pair in pairs:
            self.add_pair(pair)
            pair.model = version.ref
        return version

    def restore(self, version: Version) -> list[Pair]:
        """Put back into each pair the labels ``version`` was trained on (in place: a layer
        showing them follows), with the prediction they were painted over, so that the same
        pixels count as the user's strokes as then. Returns the pairs restored; LoopError
        when none can be."""
        restored = []
        for pair_id in version.pairs:
            pair, labels = self.pair(pair_id), self.trained_on(version, pair_id)
            if pair is None or labels is None or labels.shape != np.shape(pair.labels):
                continue
            pair.labels[...] = labels
            over = self.trained_over(version, pair_id)
            if over is not None and over.derived.shape == labels.shape:
                pair.predictions[()] = over
            restored.append(pair)
        if not restored:
            raise LoopError(f"the labels {version.name} was trained on are not in the project")
        return restored

    def trained_on(self, version: Version, pair_id: str) -> np.ndarray | None:
        """The labels of ``pair_id`` as ``version`` was trained on them (None if unknown)."""
        if pair_id in version.trained_on:
            return version.trained_on[pair_id]
        file = version.corrections.get(pair_id)
        if not file:
            return None
        from .storage import read_array

        labels = read_array(self.folder, file, f"{version.name}'s corrections")
        version.trained_on[pair_id] = labels
        return labels

    def trained_over(self, version: Version, pair_id: str):
        """The prediction the labels of ``pair_id`` were painted over when ``version`` was
        trained on them (None if unknown)."""
        if pair_id in version.trained_over:
            return version.trained_over[pair_id]
        file = version.predictions.get(pair_id)
        if not file:
            return None
        from .storage import read_prediction

        version.trained_over[pair_id] = read_prediction(self.folder, file, "")
        return version.trained_over[pair_id]

    def model_of(self, version: Version, device: str = "cpu") -> Any:
        """``version``'s network (loaded from its file the first time)."""
        if version.model is None:
            from ..formats.store import load_model
            from .storage import inside

            if not version.file:
                raise LoopError(f"{version.name} has no model file in {self.folder}")
            version.model = load_model(inside(self.folder, version.file, "file"), device=device)
        return version.model
