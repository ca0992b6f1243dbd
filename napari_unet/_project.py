"""The Fine-tune widget's project on disk (``unet_core.project``): every round saved as it ends,
and a project reopened into a new napari session (its layers and versions restored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._layers import layer_info
from ._versions import STORE, ModelVersion


def image_file(layer) -> str | None:
    """The file an image layer was opened from, if any."""
    path = getattr(getattr(layer, "source", None), "path", None)
    return str(path) if path and Path(path).is_file() else None


def default_folder(image_layer) -> Path:
    from unet_core.project import Project

    return Project.default_folder(image_file(image_layer), image_layer.name)


def save_round(folder: Path, pairs: list[tuple], data: list[tuple], version: ModelVersion,
               corrected_pixels: int, model_written: bool = False) -> Any:  # fmt: skip
    """Write the round's pairs (labels as painted) and its version into the project
    (``model_written``: its model file is in place already)."""
    from unet_core.project import Project

    project = Project(folder)
    for (image_layer, labels_layer, mode), (image, _, raw) in zip(pairs, data):
        project.save_pair(image_layer.name, labels_layer.name, mode, raw, image=image,
                          image_path=image_file(image_layer))  # fmt: skip
    model = None if model_written else version.model
    project.save_version(model, version.name, version.parent, version.steps, version.seconds,
                         version.images, corrected_pixels, version.heldout_dice)  # fmt: skip
    return project


def open_project(viewer, folder: Path, device: str = "cpu") -> Any:
    """Restore a project: its versions into the session's store (under their saved names) and
    its pairs as layers (those already open are left as they are)."""
    from unet_core.project import Project

    from ._widgets.segment import label_colormap

    project = Project(folder)
    if not project.versions and not project.pairs:
        raise ValueError(f"{folder} holds no napari-unet project")
    for v in project.versions:
        if STORE.get(v.name) is None:
            STORE.add(ModelVersion(name=v.name, model=project.load_version(v, device),
                                   parent=v.parent, images=v.images, steps=v.steps,
                                   seconds=v.seconds, heldout_dice=v.heldout_dice,
                                   created=v.created))  # fmt: skip
    for pair in project.pairs:
        if pair.name not in viewer.layers:
            viewer.add_image(project.load_image(pair), name=pair.name)
        if pair.labels_name not in viewer.layers:
            layer = viewer.add_labels(project.load_labels(pair), name=pair.labels_name,
                                      colormap=label_colormap())  # fmt: skip
            made_by = next((v.name for v in reversed(project.versions) if pair.name in v.images),
                           None)  # fmt: skip
            layer_info(layer).update({"mode": pair.mode, "model": made_by})
    return project
