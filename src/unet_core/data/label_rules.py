"""How labels the tool did not write become class indices: a user's masks, in files or layers.

A label file the tool wrote (a mask or a saved labels layer, marked in its TIFF metadata; see
:mod:`unet_core.base.labels`) is read as it stands. The others are read by these rules, in this
order, over the whole set of labels given together (a label folder, or the layers of a
training):

- instance masks (one value per object: values above 255, more than 16 values, or three or
  more values each one connected region) become background / foreground, objects parted by a
  1-px background line (only when no classes are named);
- a set whose labels hold only 0 and ``BINARY_FOREGROUND`` (255) is a plain binary mask
  (ImageJ, Fiji, DRIVE's manual annotations and masks of earlier versions of this tool are saved
  so) and is read as background / foreground;
- anything else is class indices, ``IGNORE_LABEL`` (255) not annotated.
"""

from __future__ import annotations

import numpy as np

from ..base.labels import BINARY_FOREGROUND, IGNORE_LABEL, binary_to_classes, is_binary_mask


def integer_labels(raw: np.ndarray, name: str) -> tuple[np.ndarray | None, str]:
    """A label image (or a (D, H, W) volume's labels) as int64 labels (a gray mask saved as RGB
    as its one channel), or None
    and what is wrong with it (``name`` says which file)."""
    if raw.ndim == 3 and raw.shape[-1] in (3, 4) and (raw[..., :3] == raw[..., :1]).all():
        raw = raw[..., 0]  # a gray mask saved as RGB
    if raw.ndim not in (2, 3) or (raw.ndim == 3 and raw.shape[-1] <= 4):  # 3: a volume's
        return None, f"{name} is not a one-channel mask (shape {raw.shape})"
    if raw.dtype.kind == "f":
        if not np.isfinite(raw).all() or (raw != np.round(raw)).any():
            return None, f"{name} holds non-integer values"
    elif raw.dtype.kind not in "biu":
        return None, f"{name} is not an integer mask ({raw.dtype})"
    labels = raw.astype(np.int64)
    if labels.min() < 0:
        return None, f"{name} holds negative values"
    return labels, ""


def read_by_rules(kept: list[tuple], classes: list[str] | None,
                   problems: list[str]) -> tuple[list[tuple], list[str]]:  # fmt: skip
    """``kept``: (name, image, int64 labels, marked) entries. The labels of files the tool did
    not write (not marked) read by the module's rules: (the entries, notes for the user);
    ``problems`` gets what cannot be read."""
    guessed = [k for k in kept if not k[3]]
    if not guessed:
        return kept, []
    if classes is None and any(looks_like_instances(k[2]) for k in guessed):
        return [k if k[3] else (k[0], k[1], instances_to_foreground(k[2]), k[3]) for k in kept], [
            "the labels look like instance masks (one value per object): read as background "
            "and foreground, with a 1-px background line where objects touch; segment with "
            "--instances to get objects back"]  # fmt: skip
    if all((k[2] == IGNORE_LABEL).all() for k in guessed):
        problems.append(f"every label pixel is {BINARY_FOREGROUND}: as a 0/{BINARY_FOREGROUND}"
                        " mask that is foreground only, as class indices nothing is annotated;"
                        " give masks with background (0) too")  # fmt: skip
    elif all(is_binary_mask(np.unique(k[2])) or not k[2].any() for k in guessed):
        return [k if k[3] else (k[0], k[1], binary_to_classes(k[2]), k[3]) for k in kept], [
            f"the labels hold only 0 and {BINARY_FOREGROUND}: read as background (0) and "
            f"foreground ({BINARY_FOREGROUND})"]  # fmt: skip
    return kept, []


def looks_like_instances(labels: np.ndarray) -> bool:
    """A mask with one value per object, as cell-segmentation data sets ship them: values above
    255, more than 16 values, or three or more values each forming one connected region."""
    values = np.unique(labels)
    classes = values[(values > 0) & (values != IGNORE_LABEL)]
    if values.max(initial=0) > IGNORE_LABEL or len(classes) > 16:
        return True
    if len(classes) < 3:
        return False
    from scipy import ndimage  # a few objects: every value is one connected region

    return all(ndimage.label(labels == v)[1] == 1 for v in classes)


def instances_to_foreground(labels: np.ndarray) -> np.ndarray:
    """An instance mask as 0/1 labels, objects parted by background where they touch (the
    paper's separating lines); the paper's border weights then learn to keep them apart."""
    from scipy import ndimage

    objects = np.asarray(labels, np.int64)
    high = ndimage.maximum_filter(objects, size=3)
    low = ndimage.minimum_filter(np.where(objects > 0, objects, objects.max() + 1), size=3)
    contact = (objects > 0) & (high != low) & (low <= objects.max())
    out = (objects > 0).astype(np.int64)
    out[contact & (objects == high)] = 0  # one side of each contact: a 1-px line
    return out
