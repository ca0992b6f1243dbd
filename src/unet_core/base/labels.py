"""Label values: what each value of a label image means, and the masks the tool writes.

One meaning per value. Labels are class indices 0..K-1, and :data:`IGNORE_LABEL` marks pixels
nobody annotated (they count for nothing in training and scoring). A mask the tool writes holds
class indices only (never the ignore value), and says so in its TIFF metadata
(:func:`mask_metadata`); its palette shows class 0 black and class 1 white, so an image viewer
or Fiji shows a two-class mask as the black and white mask people expect, while the pixels
hold 0 and 1.

Files without that mark (masks of earlier versions, which wrote foreground as 255, and masks
users bring: ImageJ/Fiji binary masks, DRIVE's manual annotations) are read by one documented
rule, :func:`mask_classes`: a mask holding nothing but 0 and :data:`BINARY_FOREGROUND` is a
binary mask (background / foreground); any other values are class indices already.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: Label value of pixels nobody annotated: they count for nothing in training and scoring.
IGNORE_LABEL = 255

#: The foreground value of a binary mask saved as 0/255 (ImageJ and Fiji, DRIVE's manual
#: annotations, the masks napari-unet wrote before masks held class indices): read as class 1.
BINARY_FOREGROUND = 255

#: The metadata entry (TIFF ImageDescription, JSON) that marks a label file written by the
#: tool: its values are class indices as they stand, :data:`IGNORE_LABEL` = not annotated.
MASK_KEY = "napari-unet labels"
MASK_KIND = "class indices"

#: Palette of the masks written (RGB, 0-255 per channel): class 0 black, 1 white, then colours
#: that stand apart; the ignore value magenta (a painted labels layer may hold it).
_PALETTE = ((0, 0, 0), (255, 255, 255), (0, 255, 255), (255, 255, 0), (255, 165, 0),
            (255, 105, 180), (255, 0, 0), (30, 144, 255), (128, 0, 128), (210, 105, 30),
            (128, 128, 0), (0, 128, 128), (255, 215, 0))  # fmt: skip
_IGNORE_COLOUR = (255, 0, 255)


def mask_metadata(classes: Sequence[str] | None = None) -> dict:
    """The metadata of a label file the tool writes (with the class names when known)."""
    meta = {MASK_KEY: MASK_KIND}
    if classes:
        meta["classes"] = [str(c) for c in classes]
    return meta


def is_marked(metadata: Mapping | None) -> bool:
    """Whether a file's metadata says its values are class indices (written by the tool)."""
    return bool(metadata) and metadata.get(MASK_KEY) == MASK_KIND


def mask_palette() -> np.ndarray:
    """The (3, 256) uint16 TIFF colormap of the masks written (see :data:`_PALETTE`)."""
    rgb = np.full((256, 3), 128, np.uint16)  # values beyond the table: gray
    rgb[: len(_PALETTE)] = _PALETTE
    rgb[IGNORE_LABEL] = _IGNORE_COLOUR
    return (rgb * 257).T.copy()  # 8-bit to 16-bit colour, channel-first as TIFF wants


def file_mask(labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Class indices as the uint8 array a mask file holds; a ValueError for a value that is no
    class (the ignore value among them when ``num_classes`` is given: a prediction's mask)."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "biu":
        raise ValueError(f"a mask holds integer class indices, got {labels.dtype}")
    top = IGNORE_LABEL if num_classes is None else min(num_classes - 1, IGNORE_LABEL - 1)
    if labels.size and (labels.min() < 0 or labels.max() > top):
        raise ValueError(f"a mask holds class indices 0..{top}, got values "
                         f"{labels.min()}..{labels.max()}")  # fmt: skip
    return labels.astype(np.uint8)


def is_binary_mask(values: np.ndarray) -> bool:
    """Whether ``values`` (a mask, or the values it holds) are 0 and :data:`BINARY_FOREGROUND`
    only, with some foreground: a 0/255 binary mask, not class indices."""
    values = np.asarray(values)
    return bool((values == BINARY_FOREGROUND).any()
                and np.isin(values, (0, BINARY_FOREGROUND)).all())  # fmt: skip


def binary_to_classes(mask: np.ndarray) -> np.ndarray:
    """A 0/255 binary mask as class indices (0 background, 1 foreground), in its dtype."""
    mask = np.asarray(mask)
    return (mask == BINARY_FOREGROUND).astype(mask.dtype)


def mask_classes(raw: np.ndarray, marked: bool) -> np.ndarray:
    """The class indices of one mask file: a marked file's values as they stand; else a 0/255
    binary mask (:func:`is_binary_mask`) as 0/1, and any other values as class indices."""
    raw = np.asarray(raw)
    if not marked and raw.dtype.kind in "biu" and is_binary_mask(raw):
        return binary_to_classes(raw)
    return raw


__all__ = [
    "BINARY_FOREGROUND", "IGNORE_LABEL", "MASK_KEY", "MASK_KIND", "binary_to_classes",
    "file_mask", "is_binary_mask", "is_marked", "mask_classes", "mask_metadata", "mask_palette",
]  # fmt: skip
