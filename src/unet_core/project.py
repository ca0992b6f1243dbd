"""A paint-and-retrain project on disk: the training pairs and every model version, so that a
session can be closed and picked up again.

Layout of the folder::

    project.json            the manifest: pairs and versions (written atomically, last)
    pairs/<n>_labels.tif    each pair's labels as the user painted them (and its image when
    pairs/<n>_image.tif     the image has no file of its own)
    versions/<name>.safetensors   each version's weights and model card
    learning_curve.csv      round, version, parent, corrected pixels, held-out Dice

Every file is written to a temporary name and renamed, and the manifest is written after the
files it names, so a crash mid-round leaves the previous state readable.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .base.files import atomic_write
from .data.io import read_image, write_tiff

MANIFEST = "project.json"
CURVE_COLUMNS = ["round", "version", "parent", "created", "steps", "images",
                 "corrected_pixels", "heldout_dice"]  # fmt: skip


@dataclass
class Pair:
    """One training pair: an image and the labels painted on it."""

    name: str  # the image's name (layer name in napari)
    labels_name: str
    mode: str  # "corrections" (class indices, 255 = ignore) or "scribbles" (0 = not annotated)
    labels_file: str
    image_file: str  # absolute path of the image's own file, or a file inside the project


@dataclass
class Version:
    """One round: the model file and what made it."""

    name: str
    file: str
    parent: str
    steps: int
    seconds: float
    images: list[str]
    corrected_pixels: int = 0
    heldout_dice: float | None = None
    created: str = field(default_factory=lambda: dt.datetime.now().isoformat(timespec="seconds"))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "item"


class Project:
    """A project folder (created when missing). ``pairs`` and ``versions`` mirror the manifest."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.pairs: list[Pair] = []
        self.versions: list[Version] = []
        manifest = self.folder / MANIFEST
        if manifest.exists():
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
                self.pairs = [Pair(**p) for p in data.get("pairs", [])]
                self.versions = [Version(**v) for v in data.get("versions", [])]
            except (ValueError, TypeError, KeyError) as exc:
                raise ValueError(f"{manifest} is not a napari-unet project: {exc}") from None

    @staticmethod
    def default_folder(image_path: str | os.PathLike | None, image_name: str) -> Path:
        """Beside the image's file when it has one, else in the home folder."""
        stem = _slug(Path(image_path).stem if image_path else image_name)
        parent = Path(image_path).parent if image_path else Path.home() / "napari-unet-projects"
        return parent / f"{stem}.unet-project"

    # ---- writing ------------------------------------------------------------------------
    def save_pair(self, name: str, labels_name: str, mode: str, labels: np.ndarray,
                  image: np.ndarray | None = None,
                  image_path: str | os.PathLike | None = None) -> Pair:  # fmt: skip
        """Store (or update) the pair of ``labels_name``; the image is copied into the project
        only when it has no file of its own."""
        existing = next((p for p in self.pairs if p.labels_name == labels_name), None)
        index = self.pairs.index(existing) if existing else len(self.pairs)
        stem = f"{index:02d}_{_slug(labels_name)}"
        labels_file = f"pairs/{stem}_labels.tif"
        write_tiff(self.folder / labels_file, np.asarray(labels))
        if image_path and Path(image_path).is_file():
            image_file = str(Path(image_path).resolve())
        elif existing is not None:
            image_file = existing.image_file
        else:
            if image is None:
                raise ValueError(f"'{name}' has no file: pass its pixels to keep them")
            image_file = f"pairs/{stem}_image.tif"
            write_tiff(self.folder / image_file, np.asarray(image))
        pair = Pair(name, labels_name, mode, labels_file, image_file)
        if existing is not None:
            self.pairs[index] = pair
        else:
            self.pairs.append(pair)
        self._write_manifest()
        return pair

    def save_version(self, model: Any, name: str, parent: str, steps: int, seconds: float,
                     images: list[str], corrected_pixels: int = 0,
                     heldout_dice: float | None = None) -> Version:  # fmt: skip
        """Write ``model`` as ``versions/<name>.safetensors`` and record it (``model=None``:
        the file is there already, e.g. written by training)."""
        from .model.store import save_model

        file = self.version_file(name).relative_to(self.folder).as_posix()
        if model is not None:
            save_model(model, self.folder / file, name=name)
        elif not (self.folder / file).is_file():
            raise ValueError(f"{file} is missing from the project")
        version = Version(name, file, parent, int(steps), float(seconds), list(images),
                          int(corrected_pixels), heldout_dice)  # fmt: skip
        self.versions = [v for v in self.versions if v.name != name] + [version]
        self._write_manifest()
        atomic_write(
            self.folder / "learning_curve.csv",
            lambda tmp: tmp.write_text(self.learning_curve_csv(), encoding="utf-8"),
        )
        return version

    def _write_manifest(self) -> None:
        data = {"format": 1, "pairs": [asdict(p) for p in self.pairs],
                "versions": [asdict(v) for v in self.versions]}  # fmt: skip
        text = json.dumps(data, indent=1, ensure_ascii=False)
        atomic_write(self.folder / MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    # ---- reading ------------------------------------------------------------------------
    def version_file(self, name: str) -> Path:
        """Where the model file of version ``name`` lives."""
        return self.folder / "versions" / f"{_slug(name)}.safetensors"

    def path(self, relative: str) -> Path:
        return Path(relative) if Path(relative).is_absolute() else self.folder / relative

    def load_labels(self, pair: Pair) -> np.ndarray:
        return read_image(self.path(pair.labels_file))

    def load_image(self, pair: Pair) -> np.ndarray:
        return read_image(self.path(pair.image_file))

    def load_version(self, version: Version, device: str = "cpu"):
        from .model.store import load_model

        return load_model(self.path(version.file), device=device)

    def learning_curve_csv(self) -> str:
        """One row per version: what the learning curve plots (held-out Dice against rounds
        and against the pixels corrected so far)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CURVE_COLUMNS)
        for i, v in enumerate(self.versions, start=1):
            dice = "" if v.heldout_dice is None else f"{v.heldout_dice:.4f}"
            writer.writerow([i, v.name, v.parent, v.created, v.steps, ";".join(v.images),
                             v.corrected_pixels, dice])  # fmt: skip
        return out.getvalue()
