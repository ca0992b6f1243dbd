"""A project folder read whole: the manifest checked field by field, format 2 and format 1."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ProjectError
from ..identity import ImageId
from ..project import LoopProject
from ..records import MODES, Pair, Version
from .files import (
    FORMAT,
    MANIFEST,
    inside,
    prediction_file,
    read_array,
    read_manifest,
    read_prediction,
)


class Fields:
    """Typed access to one manifest entry, each error naming the file and the field."""

    def __init__(self, path: Path, where: str, entry: Any):
        if not isinstance(entry, dict):
            raise ProjectError(f"{path}: {where} must be an object, got {type(entry).__name__}")
        self.path, self.where, self.entry = path, where, entry

    def get(self, key: str, kind: type | tuple, default: Any = ...) -> Any:
        if key not in self.entry or (self.entry[key] is None and default is not ...):
            if default is ...:
                raise ProjectError(f"{self.path}: {self.where} has no '{key}'")
            return default
        value = self.entry[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            value = None  # true/false is not a number here
        if not isinstance(value, kinds):
            raise ProjectError(f"{self.path}: {self.where}.{key} must be "
                               f"{' or '.join(k.__name__ for k in kinds)}, got {value!r:.40}")
        return value

    def strings(self, key: str) -> list[str]:
        values = self.get(key, list, [])
        if not all(isinstance(v, str) for v in values):
            raise ProjectError(f"{self.path}: {self.where}.{key} must be a list of text")
        return list(values)

    def number(self, key: str, default: float | None = 0.0) -> float | None:
        value = self.get(key, (int, float), default)
        if value is not None and not np.isfinite(value):
            raise ProjectError(f"{self.path}: {self.where}.{key} must be finite, got {value}")
        return value


def _entries(path: Path, data: dict, key: str) -> list:
    entries = data.get(key, [])
    if not isinstance(entries, list):
        raise ProjectError(f"{path}: '{key}' must be a list, got {type(entries).__name__}")
    return entries


def read_project(folder: str | os.PathLike) -> LoopProject:
    """The project in ``folder``, checked whole (ProjectError naming the file and field)."""
    folder = Path(folder)
    data = read_manifest(folder)
    path = folder / MANIFEST
    version = data.get("format", 1)
    if version not in (1, FORMAT):
        raise ProjectError(f"{path}: format {version!r} is not one this napari-unet reads "
                           f"(1 or {FORMAT})")  # fmt: skip
    project = LoopProject(folder)
    read = (_read_v1 if version == 1 else _read_v2)
    read(project, path, data)
    for pair in project.pairs:  # what is on disk now is not written again by the next save
        if pair.image.digest and not Path(pair.image_file).is_absolute():
            project.written[pair.image_file] = pair.image.digest
        for index, prediction in pair.predictions.items():
            project.written[prediction_file(pair.id, index)] = prediction
    return project


def _read_v2(project: LoopProject, path: Path, data: dict) -> None:
    folder = project.folder
    for i, entry in enumerate(_entries(path, data, "versions")):
        f = Fields(path, f"versions[{i}]", entry)
        corrections = f.get("corrections", dict, {})
        predictions = f.get("predictions", dict, {})
        for file in [*corrections.values(), *predictions.values()]:
            inside(folder, file, f"versions[{i}].corrections")
        v = Version(
            name=f.get("name", str), parent=f.get("parent", str),
            parent_name=f.get("parent_name", str, ""), kind=f.get("kind", str, "fine-tuned"),
            steps=int(f.number("steps")), seconds=float(f.number("seconds")),
            pairs=f.strings("pairs"), images=f.strings("images"),
            corrected_pixels=int(f.number("corrected_pixels")),
            heldout_dice=f.number("heldout_dice", None), classes=f.strings("classes"),
            created=f.get("created", str, ""), id=f.get("id", str),
            file=f.get("file", str), corrections=dict(corrections),
            predictions=dict(predictions),
        )  # fmt: skip
        inside(folder, v.file, f"versions[{i}].file")
        if project.named(v.name) or project.version(v.id):
            raise ProjectError(f"{path}: versions[{i}] repeats the name or id of another")
        project.versions.append(v)
    for i, entry in enumerate(_entries(path, data, "pairs")):
        project.pairs.append(_read_pair(folder, path, Fields(path, f"pairs[{i}]", entry)))


def _read_pair(folder: Path, path: Path, f: Fields) -> Pair:
    image = Fields(path, f"{f.where}.image", f.get("image", dict))
    shape = image.get("shape", list)
    if not all(isinstance(n, int) and n > 0 for n in shape):
        raise ProjectError(f"{path}: {f.where}.image.shape must be whole numbers")
    identity = ImageId(image.get("name", str), tuple(shape), image.get("digest", str, None),
                       image.get("path", str, None))  # fmt: skip
    mode = f.get("mode", str)
    if mode not in MODES:
        raise ProjectError(f"{path}: {f.where}.mode must be one of {', '.join(MODES)}")
    labels = read_array(folder, f.get("labels_file", str), f"{f.where}.labels_file")
    shown_file = f.get("shown_file", str, "")
    pair = Pair(identity, f.get("labels_name", str), mode, f.strings("classes"), labels,
                read_array(folder, shown_file, f"{f.where}.shown_file") if shown_file else None,
                model=f.get("model", str, None), complete=bool(f.get("complete", bool, False)),
                id=f.get("id", str))  # fmt: skip
    pair.image_file = f.get("image_file", str)
    for j, entry in enumerate(f.get("predictions", list, [])):
        p = Fields(path, f"{f.where}.predictions[{j}]", entry)
        index = tuple(p.get("index", list))
        if not all(isinstance(n, int) and n >= 0 for n in index):
            raise ProjectError(f"{path}: {p.where}.index must be whole numbers")
        prediction = read_prediction(folder, p.get("file", str), p.get("model", str),
                                     float(p.number("threshold", 0.5)))  # fmt: skip
        plane = labels[index] if index else labels
        if prediction.derived.shape != plane.shape:
            raise ProjectError(f"{path}: {p.where} does not fit the labels {plane.shape}")
        pair.predictions[index] = prediction
    return pair


def _read_v1(project: LoopProject, path: Path, data: dict) -> None:
    """Format 1: versions named by name, pairs with no record of their prediction (the
    opener can make one: :meth:`Pair.adopt`)."""
    folder = project.folder
    by_name: dict[str, Version] = {}
    for i, entry in enumerate(_entries(path, data, "versions")):
        f = Fields(path, f"versions[{i}]", entry)
        name = f.get("name", str)
        kind = name.rsplit(" v", 1)[0] if re.fullmatch(r".+ v\d+", name) else "fine-tuned"
        v = Version(name=name, parent=f.get("parent", str), kind=kind,
                    parent_name=f.get("parent", str), steps=int(f.number("steps")),
                    seconds=float(f.number("seconds")), images=f.strings("images"),
                    corrected_pixels=int(f.number("corrected_pixels")),
                    heldout_dice=f.number("heldout_dice", None),
                    created=f.get("created", str, ""), file=f.get("file", str))  # fmt: skip
        inside(folder, v.file, f"versions[{i}].file")
        by_name[v.name] = v
        project.versions = [x for x in project.versions if x.name != v.name] + [v]
    for v in project.versions:  # parents by identity from now on
        if v.parent in by_name:
            v.parent = by_name[v.parent].ref
    for i, entry in enumerate(_entries(path, data, "pairs")):
        f = Fields(path, f"pairs[{i}]", entry)
        name, mode = f.get("name", str), f.get("mode", str)
        if mode not in MODES:
            raise ProjectError(f"{path}: pairs[{i}].mode must be one of {', '.join(MODES)}")
        labels = read_array(folder, f.get("labels_file", str), f"pairs[{i}].labels_file")
        image_file = f.get("image_file", str)
        made_by = next((v for v in reversed(project.versions) if name in v.images), None)
        pair = Pair(ImageId(name, ()), f.get("labels_name", str), mode, [], labels,
                    model=made_by.ref if made_by else None)  # fmt: skip
        pair.image_file = image_file
        if made_by is not None:
            made_by.pairs.append(pair.id)
        project.pairs.append(pair)


