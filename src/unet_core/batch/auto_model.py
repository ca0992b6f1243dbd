"""``auto`` for a folder: the bundled model for its images, chosen from the first one that a
bundled model fits (``unet_core.tasks.suggest_model``), as the Batch widget offers it."""

from __future__ import annotations

import os
from collections.abc import Generator

from ..base.events import Status
from ..base.jobs import drain

#: how many pictures no bundled model fits ``auto`` reads before it asks for a model
CHOOSE_FROM = 10


def folder_model(folder: str | list[str], pattern: str = "*",
                 recursive: bool = False) -> tuple[str, str]:  # fmt: skip
    """The bundled model for a folder's images (or those of several files and folders),
    chosen from its first image that one fits (of the first :data:`CHOOSE_FROM` readable
    ones), and why; a one-line ValueError when the folder has no image, or none of those that
    a bundled model fits (naming the first)."""
    return drain(choosing_model(folder, pattern, recursive))


def choosing_model(folder: str | list[str], pattern: str = "*", recursive: bool = False,
                   ) -> Generator[Status, None, tuple[str, str]]:  # fmt: skip
    """:func:`folder_model` as a job: yields a status line before each picture it reads (a
    background run can stop between them), returns (the model, why)."""
    from ..data.io import read_image
    from ..tasks import NoModelFits, suggest_model
    from .files import find_inputs

    inputs = [folder] if isinstance(folder, str) else list(folder)
    present = [p for p in inputs if os.path.exists(p)]
    if not present:  # as the batch says it (one path gone among others: the batch names it)
        raise ValueError(f"no such file or folder: {inputs[0]}")
    inputs, folder = present, ", ".join(map(str, present))
    unfit, read, listed = None, 0, 0
    for path in find_inputs(inputs, pattern, recursive):
        listed += 1
        yield Status(f"reading {path.name} to choose the model…")
        try:
            image = read_image(path)
        except ValueError:  # unreadable: the batch says why; the next one
            continue
        try:
            name, why = suggest_model(image)
        except NoModelFits:  # e.g. a colour picture that is no fundus photograph: the next
            unfit = unfit or path.name
            read += 1
            if read >= CHOOSE_FROM:
                break
            continue
        return name, f"{path.name} is {why}"
    if unfit is not None:
        raise ValueError(f"no bundled model fits the images of {folder} ({unfit}: in colour "
                         "but not a fundus photograph): choose a model")  # fmt: skip
    if not listed:
        where = f"{folder} (pattern '{pattern}')" if pattern not in ("", "*") else folder
        raise ValueError(f"no file to segment in {where}")
    raise ValueError(f"no file of {folder} could be read as an image: no model to choose from")
