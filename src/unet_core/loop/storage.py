"""A project folder: the loop model on disk, read and written whole.

Layout::

    project.json                     the manifest (format 2), written atomically and last
    pairs/<pair id>/labels.tif       the labels as the user painted them
    pairs/<pair id>/shown.tif        scribbles: the prediction shown beside them
    pairs/<pair id>/prediction.npz   what the last prediction wrote (derived labels, painted
                                     mask, probabilities); ``prediction-<i>-<j>.npz`` per plane
    pairs/<pair id>/image.tif        the image, when it has no file of its own
    versions/<name>.safetensors      each version's model (weights and card)
    versions/<version id>/<pair id>.tif   the labels each version was trained on
    learning_curve.csv               round, version, parent, corrected pixels, held-out Dice

Reading checks the folder as a whole before anything is used: the manifest is a regular file
of bounded size, every field has its type, and every file it names lies inside the folder
(no absolute paths, no ``..``, no links out), except an image's own file, which is only read.
Projects of format 1 (no predictions, versions by name) are read too.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..base.files import atomic_write
from .errors import ProjectError
from .project import LoopProject
from .records import MODES, ImageId, Pair, Prediction, Version

MANIFEST = "project.json"
FORMAT = 2
MAX_MANIFEST_BYTES = 16 * 2**20
CURVE_COLUMNS = ["round", "version", "parent", "created", "steps", "images",
                 "corrected_pixels", "heldout_dice"]  # fmt: skip


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.") or "item"


def is_project(folder: str | os.PathLike) -> bool:
    return (Path(folder) / MANIFEST).exists()


# ---- paths -----------------------------------------------------------------------------------
def inside(folder: Path, relative: str, field: str) -> Path:
    """``folder / relative``, refused (ProjectError) unless it stays inside ``folder``."""
    if not isinstance(relative, str) or not relative:
        raise ProjectError(f"{folder / MANIFEST}: {field} must be a file name, got {relative!r}")
    path = Path(relative)
    if path.is_absolute() or ".." in path.parts:
        raise ProjectError(f"{folder / MANIFEST}: {field} {relative!r} is outside the project")
    full = folder / path
    try:
        full.resolve().relative_to(folder.resolve())
    except ValueError:
        raise ProjectError(f"{folder / MANIFEST}: {field} {relative!r} leads outside the "
                           "project (a link)") from None  # fmt: skip
    return full


def _writable_dir(folder: Path, sub: str) -> Path:
    """``folder/sub``, created; refused when it is a link (writes would land elsewhere)."""
    path = folder / sub
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise ProjectError(f"{path} is a link or a file, not a folder of the project: "
                           "nothing was written")  # fmt: skip
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_array(folder: Path, relative: str, what: str) -> np.ndarray:
    """An array the project wrote (a TIFF or an ``.npz`` of one array)."""
    from ..data.io import read_image

    path = inside(folder, relative, what)
    if path.suffix == ".npz":
        return _read_npz(path)["array"]
    try:
        return read_image(path)
    except ValueError as exc:
        raise ProjectError(f"{path}: {what} cannot be read ({exc})") from None


def read_prediction(folder: Path, relative: str, model: str, threshold: float = 0.5):
    """A :class:`Prediction` the project wrote (derived labels, painted mask, probabilities)."""
    arrays = _read_npz(inside(folder, relative, "prediction file"))
    derived = arrays.get("derived")
    if derived is None:
        raise ProjectError(f"{folder / relative} holds no derived labels")
    prob = arrays.get("prob")
    painted = arrays.get("painted", np.zeros(derived.shape, bool)).astype(bool)
    if painted.shape != derived.shape or (prob is not None and prob.shape[1:] != derived.shape):
        raise ProjectError(f"{folder / relative}: its arrays do not fit one another")
    return Prediction(derived, painted, model or str(arrays.get("model", "")), threshold,
                      None if prob is None else prob.astype(np.float32))  # fmt: skip


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ProjectError(f"{path} is missing from the project")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:  # a damaged or foreign file: one line naming it
        raise ProjectError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None


# ---- reading ---------------------------------------------------------------------------------
def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        info = path.stat()
    except OSError:
        raise ProjectError(f"{folder} holds no napari-unet project ({MANIFEST} is missing)") \
            from None  # fmt: skip
    if not stat.S_ISREG(info.st_mode):
        raise ProjectError(f"{path} is not a regular file")
    if info.st_size > MAX_MANIFEST_BYTES:
        raise ProjectError(f"{path} is {info.st_size / 2**20:.0f} MB: larger than any project "
                           "manifest")  # fmt: skip
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ProjectError(f"{path} is not a napari-unet project: {exc}") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{path} is not a napari-unet project: expected an object, got "
                           f"{type(data).__name__}")  # fmt: skip
    return data


class _Fields:
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
    return project


def _read_v2(project: LoopProject, path: Path, data: dict) -> None:
    folder = project.folder
    for i, entry in enumerate(_entries(path, data, "versions")):
        f = _Fields(path, f"versions[{i}]", entry)
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
        project.pairs.append(_read_pair(folder, path, _Fields(path, f"pairs[{i}]", entry)))


def _read_pair(folder: Path, path: Path, f: _Fields) -> Pair:
    image = _Fields(path, f"{f.where}.image", f.get("image", dict))
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
        p = _Fields(path, f"{f.where}.predictions[{j}]", entry)
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
        f = _Fields(path, f"versions[{i}]", entry)
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
        f = _Fields(path, f"pairs[{i}]", entry)
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


def load_pixels(project: LoopProject, pair: Pair) -> np.ndarray:
    """The image of ``pair``, from its own file or the project's copy; the pair's identity
    is completed (format 1 knew only its name)."""
    from ..data.io import read_image

    relative = pair.image_file
    if not relative:
        raise ProjectError(f"{project.folder / MANIFEST}: '{pair.labels_name}' names no image")
    path = Path(relative) if Path(relative).is_absolute() else inside(
        project.folder, relative, "image_file")  # fmt: skip
    try:
        pixels = read_image(path)
    except ValueError as exc:
        raise ProjectError(f"the image of '{pair.labels_name}' cannot be read: {exc}") from None
    if not pair.image.shape:
        pair.image = ImageId.of(pixels, pair.image.name, str(path) if
                                Path(relative).is_absolute() else None)  # fmt: skip
    pair.pixels = pixels
    return pixels


# ---- writing ---------------------------------------------------------------------------------
def save_job(project: LoopProject) -> Callable[[], Path]:
    """What a save writes, copied now (on the caller's thread: painting on meanwhile is
    safe); the returned function writes it (in the background, if the caller likes) and
    returns the folder. Files already written are not written again."""
    folder = project.folder
    saved = project.written  # file -> the object last written there (once written)
    writes: list[tuple[str, Any]] = []
    updates: dict[str, Any] = {}  # what ``saved`` learns once the files are written

    def plan(relative: str, obj: Any, array: Any) -> None:
        """Write ``array`` to ``relative`` unless ``obj`` (an object, or a digest) is what was
        written there already (``obj`` None: write every time)."""
        last = saved.get(relative)
        if obj is None or (last is not obj and not (isinstance(obj, str) and last == obj)):
            writes.append((relative, array))
            updates[relative] = obj

    pairs = [_plan_pair(p, plan) for p in project.pairs]
    models = []
    for v in project.versions:
        v.file = v.file or f"versions/{slug(v.name)}.safetensors"
        if v.model is not None and saved.get(v.file) is None and not (folder / v.file).exists():
            models.append((v.file, v.model, v.name, list(v.classes)))
            updates[v.file] = v.model
        for pair_id, labels in v.trained_on.items():
            v.corrections.setdefault(pair_id, f"versions/{v.id}/{pair_id}.tif")
            plan(v.corrections[pair_id], labels, np.array(labels))
        for pair_id, over in v.trained_over.items():
            v.predictions.setdefault(pair_id, f"versions/{v.id}/{pair_id}_prediction.npz")
            plan(v.predictions[pair_id], over, _prediction_arrays(over))
    manifest = {"format": FORMAT, "pairs": pairs,
                "versions": [_version_entry(v) for v in project.versions]}  # fmt: skip
    curve = learning_curve_csv(project)

    def write() -> Path:
        from ..data.io import write_tiff
        from ..formats.safetensors_file import save_model

        for sub in ("pairs", "versions"):
            _writable_dir(folder, sub)
        for relative, array in writes:
            target = inside(folder, relative, "file")
            if target.suffix == ".npz":
                atomic_write(target, lambda tmp, a=array: _write_npz(tmp, a))
            else:
                write_tiff(target, array)
        for relative, model, name, classes in models:
            meta = {"classes": classes} if classes and len(classes) == model.num_classes else {}
            save_model(model, inside(folder, relative, "file"), name=name, **meta)
        text = json.dumps(manifest, indent=1, ensure_ascii=False)
        atomic_write(folder / MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        atomic_write(folder / "learning_curve.csv",
                     lambda tmp: tmp.write_text(curve, encoding="utf-8"))  # fmt: skip
        saved.update(updates)  # only now: a failed save is written whole the next time
        return folder

    return write


def _write_npz(tmp: Path, arrays: dict) -> None:
    with open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def _plan_pair(pair: Pair, plan: Callable) -> dict:
    base = f"pairs/{pair.id}"
    plan(f"{base}/labels.tif", None, np.array(pair.labels))  # painted since: always written
    entry = {"id": pair.id, "image": pair.image.to_dict(), "labels_name": pair.labels_name,
             "mode": pair.mode, "classes": list(pair.classes), "labels_file":
             f"{base}/labels.tif", "model": pair.model, "complete": pair.complete}  # fmt: skip
    own = pair.image.path and Path(pair.image.path).is_file()
    entry["image_file"] = str(Path(pair.image.path).resolve()) if own else f"{base}/image.tif"
    if not own and pair.pixels is not None:
        plan(entry["image_file"], pair.image.digest or id(pair.pixels), np.asarray(pair.pixels))
    if pair.shown is not None:
        entry["shown_file"] = f"{base}/shown.tif"
        plan(entry["shown_file"], None, np.array(pair.shown))
    entry["predictions"] = []
    for index, pred in pair.predictions.items():
        name = "prediction" + "".join(f"-{i}" for i in index)
        file = f"{base}/{name}.npz"
        plan(file, pred, _prediction_arrays(pred))
        entry["predictions"].append({"index": list(index), "file": file, "model": pred.model,
                                     "threshold": pred.threshold})  # fmt: skip
    return entry


def _prediction_arrays(pred: Prediction) -> dict[str, np.ndarray]:
    """What a prediction file holds (copies; the probabilities in float16)."""
    arrays = {"derived": pred.derived.copy(), "painted": pred.painted.copy(),
              "model": np.array(pred.model)}
    if pred.prob is not None:
        arrays["prob"] = pred.prob.astype(np.float16)
    return arrays


def _version_entry(v: Version) -> dict:
    return {"id": v.id, "name": v.name, "parent": v.parent, "parent_name": v.parent_name,
            "kind": v.kind, "steps": v.steps, "seconds": v.seconds, "pairs": list(v.pairs),
            "images": list(v.images), "corrected_pixels": v.corrected_pixels,
            "heldout_dice": v.heldout_dice, "classes": list(v.classes), "created": v.created,
            "file": v.file, "corrections": dict(v.corrections),
            "predictions": dict(v.predictions)}  # fmt: skip


def learning_curve_csv(project: LoopProject) -> str:
    """One row per version: what the learning curve plots (held-out Dice against rounds and
    against the pixels corrected so far)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CURVE_COLUMNS)
    for i, v in enumerate(project.versions, start=1):
        dice = "" if v.heldout_dice is None else f"{v.heldout_dice:.4f}"
        writer.writerow([i, v.name, v.parent_name, v.created, v.steps, ";".join(v.images),
                         v.corrected_pixels, dice])  # fmt: skip
    return out.getvalue()
