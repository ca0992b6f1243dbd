"""One module per kind of image (``fundus``, ``em``) and the generic default (``task``): what
is specific to it, asked by the generic code through :func:`task_of`."""

from __future__ import annotations

from . import em, fundus
from .fov import has_colour, looks_like_fundus
from .task import Task

TASKS: dict[str, Task] = {t.name: t for t in (Task(), fundus.TASK, em.TASK)}


def task_of(card_or_name) -> Task:
    """The task of a model card (or of a task name); unknown names get the generic task."""
    name = card_or_name if isinstance(card_or_name, str) else getattr(card_or_name, "task", "")
    return TASKS.get(name or "generic", TASKS["generic"])


def infer_task(classes: list[str], scale: dict) -> str:
    """The task of a model card that names none (a file written before cards had it), from its
    class names and scale; read where files are read (``unet_core.formats``)."""
    names = [c.lower() for c in classes or []]
    if "fov_diameter" in (scale or {}) or any("vessel" in c for c in names):
        return fundus.TASK.name
    if any("membrane" in c for c in names):
        return em.TASK.name
    return "generic"


def sample_path(task: str):
    """The sample image shipped for a kind of image: in ``sample_data`` beside the plugin (an
    installed wheel) or at the repository root; FileNotFoundError if there is none."""
    import importlib.util
    from pathlib import Path

    name = TASKS[task].sample if task in TASKS else ""
    places = [Path(__file__).resolve().parents[3] / "sample_data"]
    spec = importlib.util.find_spec("napari_unet")  # finds the package without importing it
    if spec is not None and spec.origin:
        places.insert(0, Path(spec.origin).parent / "sample_data")
    for folder in places if name else []:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no sample image is installed for {task} images")


class NoModelFits(ValueError):
    """No bundled model was made for an image (:func:`suggest_model`)."""


def suggest_model(image) -> tuple[str, str]:
    """The bundled model for ``image`` and why, from what the image looks like: ``drive`` for
    a fundus photograph (a field of view on a dark border), ``em`` for another grayscale
    image. A ValueError in one line for a colour image that is not a fundus photograph: no
    bundled model was made for it."""
    import numpy as np

    image = np.asarray(image)
    if looks_like_fundus(image):
        return fundus.TASK.bundled, "a fundus photograph"
    if image.ndim == 2 or (image.shape[-1] >= 3 and not has_colour(image)):  # gray, or tinted
        return em.TASK.bundled, "a grayscale image that is not a fundus photograph"
    raise NoModelFits("no bundled model fits this image: it is in colour but not a fundus "
                      "photograph; choose a model, or train one for it")  # fmt: skip


__all__ = ["TASKS", "NoModelFits", "Task", "infer_task", "sample_path", "suggest_model",
           "task_of"]
