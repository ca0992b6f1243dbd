"""One colour per class in every layer of the loop, and the legend that names them.

Class k has ``CLASS_COLOURS[k]`` wherever it is shown: in a labels layer (value k; the
background, class 0, transparent so the image shows) and in a scribbles layer (value k + 1,
0 meaning not annotated). The ignore value is magenta everywhere."""

from __future__ import annotations

#: colour of class 0, 1, 2, ...: they stand out on fundus, EM and fluorescence images
CLASS_COLOURS = ("dodgerblue", "lime", "cyan", "yellow", "orange", "hotpink", "red", "white",
                 "purple", "chocolate", "olive", "teal", "gold")  # fmt: skip
SCRIBBLES_OFFSET = 1


def class_colormap(offset: int = 0):
    """Value v shows class ``v - offset`` in its colour; 0 (and class 0 of a labels layer)
    transparent; the ignore value magenta."""
    from napari.utils.colormaps import DirectLabelColormap

    from unet_core.base.labels import IGNORE_LABEL

    colours = {None: "transparent", 0: "transparent"}
    for k, colour in enumerate(CLASS_COLOURS):
        if k + offset:
            colours[k + offset] = colour
    colours[IGNORE_LABEL] = "magenta"
    return DirectLabelColormap(color_dict=colours)


def colormap_for(mode: str):
    """The colours of a layer of ``mode`` ("scribbles", else class indices)."""
    return class_colormap(SCRIBBLES_OFFSET if mode == "scribbles" else 0)


def legend(classes: list[str], offset: int = 0) -> str:
    """``0 = background, 1 = nucleus (lime), 2 = border (cyan)``: each class's value and colour
    (``offset`` 1 for scribbles, where class k is painted as k + 1 and 0 means not annotated)."""
    entries = []
    for k, name in enumerate(classes):
        shown = k < len(CLASS_COLOURS) and (k or offset)
        entries.append(f"{k + offset} = {name}" + (f" ({CLASS_COLOURS[k]})" if shown else ""))
    return ", ".join(entries)


def parse_names(text: str, count: int | None = None) -> list[str] | None:
    """Class names from "a, b, c" (None when empty); ValueError in one line when they repeat,
    are fewer than two, or fewer than ``count`` (the model's classes; a name beyond them is a
    new class, which the next round adds to the model)."""
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        return None
    if len(names) < 2 or len(set(names)) != len(names):
        raise ValueError("class names: two or more distinct names, class 0 first")
    if count is not None and len(names) < count:
        raise ValueError(f"class names: the model has {count} classes, got {len(names)} names "
                         "(more add classes; none can be removed)")  # fmt: skip
    return names
