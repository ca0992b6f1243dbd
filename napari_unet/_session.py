"""Where the loop model (``unet_core.loop``) meets napari's layers: one workspace per window,
each labels layer bound to its pair (the pair paints into the layer's own array, and follows it
when the layer's data is replaced), and a project opened into a window as layers.

A layer knows its pair by ``layer.metadata["napari-unet"] = {"pair": id, "role": ...}``; a copy
of the layer (napari's duplicate) is not the pair's, because its array is not the pair's.
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

KEY = "napari-unet"
#: a pair's layers: what the user paints, and where a scribbles pair's prediction goes
LABELS, SHOWN = "labels", "shown"
#: the role of a layer the tool draws to show something (what a round changed, the live
#: answer): never offered as labels to train on or to measure
DISPLAY = "display"

_WORKSPACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def workspace(viewer) -> Any:
    """The loop model of ``viewer``'s window (``unet_core.loop.Workspace``), made on first use."""
    from unet_core.loop import Workspace

    found = _WORKSPACES.get(viewer)
    if found is None:
        found = _WORKSPACES[viewer] = Workspace()
    return found


def image_file(layer) -> str | None:
    """The file an image layer was opened from, if any."""
    path = getattr(getattr(layer, "source", None), "path", None)
    return str(path) if path and Path(path).is_file() else None


def image_pixels(layer) -> Any:
    """The full-resolution pixels of an image layer (level 0 of a multiscale one)."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def image_id(layer, pixels: Any = None) -> Any:
    """The identity (``unet_core.loop.ImageId``) of an image layer's pixels."""
    from unet_core.loop import ImageId

    data = image_pixels(layer) if pixels is None else pixels
    return ImageId.of(data, layer.name, image_file(layer))


def pair_of(viewer, layer) -> Any:
    """The pair a labels layer shows (its labels, or for scribbles its prediction), or None."""
    info = layer.metadata.get(KEY) if layer is not None else None
    if not isinstance(info, dict):
        return None
    pair = workspace(viewer).pair(info.get("pair"))
    if pair is None:
        return None
    array = pair.labels if info.get("role", LABELS) == LABELS else pair.shown
    return pair if array is layer.data else None


def display_metadata(name: str) -> dict:
    """The metadata of the layer ``name`` the tool draws to show something (given when it is
    added, so that no drop-down offers it even for a moment). A copy of it (napari's
    duplicate, under another name) or the layer renamed by the user is the user's."""
    return {KEY: {"role": DISPLAY, "name": name}}


def is_display(layer) -> bool:
    """Whether ``layer`` is one the tool draws to show something (:func:`display_metadata`)."""
    info = layer.metadata.get(KEY)
    return isinstance(info, dict) and info.get("role") == DISPLAY and \
        info.get("name") == layer.name  # fmt: skip


def image_layers(viewer) -> list:
    """The image layers of ``viewer`` a user may choose: not those the tool draws to show
    something (a probability map, an uncertainty; ``DISPLAY``)."""
    from napari.layers import Image

    return [layer for layer in viewer.layers if isinstance(layer, Image)
            and not is_display(layer)]  # fmt: skip


def labels_layers(viewer) -> list:
    """The labels layers of ``viewer`` a user may choose: not those the tool draws to show
    something (``DISPLAY``)."""
    from napari.layers import Labels

    return [layer for layer in viewer.layers if isinstance(layer, Labels)
            and not is_display(layer)]  # fmt: skip


def bind(pair, layer, role: str = LABELS) -> None:
    """Make ``layer`` show ``pair`` (its labels, or with ``SHOWN`` its prediction): the pair
    reads and writes the layer's array, and follows it when the layer's data is replaced."""
    layer.metadata[KEY] = {"pair": pair.id, "role": role}
    if role == LABELS:
        pair.labels = layer.data
    else:
        pair.shown = layer.data

    def follow(event=None) -> None:
        if layer.metadata.get(KEY, {}).get("pair") != pair.id:
            return
        if role == LABELS:
            pair.labels = layer.data
        else:
            pair.shown = layer.data

    layer.events.data.connect(follow)


def layer_of(viewer, pair, role: str = LABELS):
    """The layer showing ``pair`` in ``viewer`` (None when it is not open)."""
    array = pair.labels if role == LABELS else pair.shown
    for layer in viewer.layers:
        info = layer.metadata.get(KEY)
        if isinstance(info, dict) and info.get("pair") == pair.id and layer.data is array:
            return layer
    return None


def new_pair(viewer, image_layer, labels_layer, mode: str, classes: list[str], *,
             pixels: Any = None, shown_layer=None) -> Any:  # fmt: skip
    """A pair for labels painted on ``image_layer``, bound to its layers, in the window's
    workspace (loose until a round saves it into a project)."""
    from unet_core.loop import Pair

    data = image_pixels(image_layer) if pixels is None else pixels
    pair = Pair(image_id(image_layer, data), labels_layer.name, mode, list(classes),
                labels_layer.data, pixels=data)  # fmt: skip
    bind(pair, labels_layer, LABELS)
    if shown_layer is not None:
        bind(pair, shown_layer, SHOWN)
    return workspace(viewer).add_pair(pair)


def take_classes(pair, classes: list[str]) -> None:
    """A model of another number of classes segmented ``pair``'s image again (a vessel map,
    then arteries and veins): its class names are the pair's now; names the user gave a model
    of as many classes are kept."""
    if len(pair.classes) != len(classes):
        pair.classes = list(classes)


def default_folder(image_layer) -> Path:
    """Where a new project of ``image_layer`` goes: beside its file, else in the home folder."""
    from unet_core.loop.storage import slug

    path = image_file(image_layer)
    stem = slug(Path(path).stem if path else image_layer.name)
    parent = Path(path).parent if path else Path.home() / "napari-unet-projects"
    return parent / f"{stem}.unet-project"


def show_project(viewer, project, colormap) -> list:
    """Add the layers of ``project``'s pairs that are not open yet (their images, labels and
    scribbles' predictions), bound to the pairs; an image already open with the same pixels
    is used as it is. ``colormap(mode)`` colours a labels layer. Returns the pairs' labels
    layers."""
    from napari.layers import Image

    shown = []
    for pair in project.pairs:
        image = next((layer for layer in viewer.layers if isinstance(layer, Image)
                      and layer.name == pair.image.name
                      and pair.image.mismatch(image_id(layer), "") is None), None)  # fmt: skip
        if image is None and pair.pixels is not None:
            rgb = pair.pixels.ndim == 3 and pair.pixels.shape[-1] in (3, 4)
            image = viewer.add_image(pair.pixels, name=pair.image.name, rgb=rgb)
        if image is not None:
            pair.pixels = image_pixels(image)
        layer = layer_of(viewer, pair)
        if layer is None:
            layer = viewer.add_labels(pair.labels, name=pair.labels_name,
                                      colormap=colormap(pair.mode))  # fmt: skip
            bind(pair, layer, LABELS)
            pair.labels_name = layer.name  # napari renames a clash ("cells labels [1]")
        if pair.shown is not None and layer_of(viewer, pair, SHOWN) is None:
            bind(pair, viewer.add_labels(pair.shown, name=f"{pair.labels_name} prediction",
                                         colormap=colormap("labels")), SHOWN)  # fmt: skip
        shown.append(layer)
    return shown
