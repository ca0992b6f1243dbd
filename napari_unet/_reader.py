"""Open our outputs (``*_mask.tif``, ``*_prob.tif``, ``*_instances.tif``: masks as labels),
DRIVE's GIF masks, and folders in DRIVE or ISBI 2012 layout. Masks become class indices by
``unet_core.base.labels.mask_classes``: the tool's own as they stand, 0/255 masks (older
versions', DRIVE's) as 0/1. ``napari_get_reader`` returns None
for anything else (an ordinary TIFF is napari's to open) and never raises."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

LayerData = tuple
#: the names this reader claims (the manifest's filename_patterns say the same)
CLAIMED = ("_mask.tif", "_prob.tif", "_instances.tif", "_manual1.gif", "_manual2.gif",
           "_mask.gif")  # fmt: skip
Reader = Callable[[str], list[LayerData]]


def _folder_kind(path: Path) -> str | None:
    """'drive' or 'isbi' for a data folder (or one of its splits), else None."""
    if (path / "images").is_dir() and ((path / "1st_manual").is_dir() or (path / "mask").is_dir()):
        return "drive-split"
    if (path / "train" / "images").is_dir():
        return "isbi"
    if (path / "training" / "images").is_dir() or (path / "test" / "mask").is_dir():
        return "drive"
    if (path / "images").is_dir() and (path / "labels").is_dir():
        return "isbi-split"
    return None


def napari_get_reader(path: str | list[str]) -> Reader | None:
    """A reader function for ``path``, or None if this plugin does not handle it."""
    try:
        if isinstance(path, (list, tuple)):
            return None if len(path) != 1 else napari_get_reader(path[0])
        p = Path(os.fspath(path))
        if p.is_dir():
            return read_folder if _folder_kind(p) else None
        if p.name.lower().endswith(CLAIMED) and p.is_file():
            return read_file
    except Exception:  # a reader must never raise while deciding
        return None
    return None


def _layer_for(path: Path) -> LayerData:
    import numpy as np

    from unet_core.base.labels import is_marked, mask_classes
    from unet_core.data.io import read_image, read_metadata

    data = read_image(path)
    name = path.stem
    lower = path.name.lower()
    if lower.endswith("_prob.tif") and data.ndim == 3:
        fg = data[1] if data.shape[0] == 2 else data
        return (fg, {"name": name, "colormap": "magma", "contrast_limits": (0, 1)}, "image")
    few_values = (
        data.ndim == 2 and data.dtype.kind in "iub" and len(np.unique(data[::4, ::4])) <= 16
    )
    if lower.endswith("_instances.tif") and data.ndim in (2, 3):  # separate objects
        return (np.asarray(data, np.int32), {"name": name}, "labels")
    if lower.endswith("_mask.tif") or (lower.endswith(".gif") and few_values):
        labels = mask_classes(data, is_marked(read_metadata(path)))
        return (np.asarray(labels, np.uint8), {"name": name}, "labels")
    rgb = data.ndim == 3 and data.shape[-1] in (3, 4)
    return (data, {"name": name, "rgb": rgb}, "image")


def read_file(path: str | list[str]) -> list[LayerData]:
    """One layer: labels for masks, a probability map, or an image."""
    paths = path if isinstance(path, (list, tuple)) else [path]
    return [_layer_for(Path(p)) for p in paths]


def read_folder(path: str | list[str]) -> list[LayerData]:
    """DRIVE or ISBI 2012 layout: the images as a stack, with their labels (and FOV masks)."""
    import numpy as np

    from unet_core.data.io import IMAGE_SUFFIXES

    root = Path(path[0] if isinstance(path, (list, tuple)) else path)
    kind = _folder_kind(root)
    if kind == "drive":
        root = root / ("training" if (root / "training").is_dir() else "test")
    elif kind == "isbi":
        root = root / "train"
    layers = []
    for sub, layer_type in (("images", "image"), ("1st_manual", "labels"), ("labels", "labels"),
                            ("mask", "labels")):  # fmt: skip
        folder = root / sub
        if not folder.is_dir():
            continue
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            continue
        stack = np.stack([_layer_for(p)[0] for p in files])
        meta = {"name": f"{root.name} {sub}"}
        if layer_type == "image":
            meta["rgb"] = stack.ndim == 4 and stack.shape[-1] in (3, 4)
        else:
            stack = _labels_stack(stack, membrane=sub == "labels")
        layers.append((stack, meta, layer_type))
    return layers


def _labels_stack(stack, membrane: bool):
    """A data set's labels as class indices: DRIVE's (read as masks already, or any two values)
    to 0/1; ISBI's (0 = membrane, anything else interior) to 1 = membrane."""
    import numpy as np

    stack = np.asarray(stack)
    if membrane:
        return (stack <= stack.min()).astype(np.uint8)
    return (stack > stack.min()).astype(np.uint8) if stack.max() > 1 else stack.astype(np.uint8)
