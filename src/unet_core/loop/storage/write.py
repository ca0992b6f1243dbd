"""A project folder written: what a save writes, copied on the caller's thread and written
later, the manifest last; the learning curve."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...base.files import atomic_write
from ..project import LoopProject
from ..records import Pair, Prediction, Version
from .files import FORMAT, MANIFEST, inside, prediction_file, slug, writable_dir

CURVE_COLUMNS = ["round", "version", "parent", "created", "steps", "images",
                 "corrected_pixels", "heldout_dice"]  # fmt: skip


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
        v.file = v.file or f"versions/{slug(v.name)}{model_suffix(v.model)}"
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
        from ...data.io import write_tiff

        for sub in ("pairs", "versions"):
            writable_dir(folder, sub)
        for relative, array in writes:
            target = inside(folder, relative, "file")
            if target.suffix == ".npz":
                atomic_write(target, lambda tmp, a=array: write_npz(tmp, a))
            else:
                write_tiff(target, array)
        for relative, model, name, classes in models:
            write_model(inside(folder, relative, "file"), model, name, classes)
        text = json.dumps(manifest, indent=1, ensure_ascii=False)
        atomic_write(folder / MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        atomic_write(folder / "learning_curve.csv",
                     lambda tmp: tmp.write_text(curve, encoding="utf-8"))  # fmt: skip
        saved.update(updates)  # only now: a failed save is written whole the next time
        return folder

    return write


def write_model(target: Path, model: Any, name: str, classes: list[str]) -> Path:
    """A version's model: a model file, or a package for another tool's network (``target``
    given its suffix); the path written."""
    if model_suffix(model) == ".zip":  # another tool's network: its package again
        from ...formats.foreign_write import export_foreign

        return export_foreign(model, Path(target).with_suffix(".zip"), name=name)
    from ...formats.safetensors_file import save_model

    meta = {"classes": classes} if classes and len(classes) == model.num_classes else {}
    return save_model(model, target, name=name, **meta)


def model_suffix(model: Any) -> str:
    """A version's file type: a bioimage.io package for a network of another tool
    (docs/other-models.md), a model file for this tool's U-Net."""
    from ...model.external import ExternalNetwork

    return ".zip" if isinstance(model, ExternalNetwork) else ".safetensors"


def write_npz(tmp: Path, arrays: dict) -> None:
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
        file = prediction_file(pair.id, index)
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
