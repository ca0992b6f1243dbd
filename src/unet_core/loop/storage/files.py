"""Where a project's files are and how one is read: the manifest, arrays, predictions, an
image; every path checked to lie inside the folder."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import numpy as np

from ..errors import ProjectError
from ..identity import ImageId
from ..project import LoopProject
from ..records import Pair, Prediction

MANIFEST = "project.json"
FORMAT = 2
MAX_MANIFEST_BYTES = 16 * 2**20


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


def writable_dir(folder: Path, sub: str) -> Path:
    """``folder/sub``, created; refused when it is a link (writes would land elsewhere)."""
    path = folder / sub
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise ProjectError(f"{path} is a link or a file, not a folder of the project: "
                           "nothing was written")  # fmt: skip
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_array(folder: Path, relative: str, what: str) -> np.ndarray:
    """An array the project wrote (a TIFF or an ``.npz`` of one array)."""
    from ...data.io import read_image

    path = inside(folder, relative, what)
    if path.suffix == ".npz":
        return read_npz(path)["array"]
    try:
        return read_image(path)
    except ValueError as exc:
        raise ProjectError(f"{path}: {what} cannot be read ({exc})") from None


def prediction_file(pair_id: str, index: tuple[int, ...]) -> str:
    """Where a pair's prediction of the plane ``index`` is saved, in the project folder."""
    return f"pairs/{pair_id}/prediction" + "".join(f"-{i}" for i in index) + ".npz"


def read_prediction(folder: Path, relative: str, model: str, threshold: float = 0.5):
    """A :class:`Prediction` the project wrote (derived labels, painted mask, probabilities)."""
    arrays = read_npz(inside(folder, relative, "prediction file"))
    derived = arrays.get("derived")
    if derived is None:
        raise ProjectError(f"{folder / relative} holds no derived labels")
    prob = arrays.get("prob")
    painted = arrays.get("painted", np.zeros(derived.shape, bool)).astype(bool)
    if painted.shape != derived.shape or (prob is not None and prob.shape[1:] != derived.shape):
        raise ProjectError(f"{folder / relative}: its arrays do not fit one another")
    return Prediction(derived, painted, model or str(arrays.get("model", "")), threshold,
                      None if prob is None else prob.astype(np.float32))  # fmt: skip


def read_npz(path: Path) -> dict[str, np.ndarray]:
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


def load_pixels(project: LoopProject, pair: Pair) -> np.ndarray:
    """The image of ``pair``, from its own file or the project's copy; the pair's identity
    is completed (format 1 knew only its name)."""
    from ...data.io import read_image

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


