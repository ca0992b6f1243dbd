"""ISBI 2012 EM segmentation challenge (Cardona et al. 2010; Arganda-Carreras et al. 2015).

``train/images/NN.png`` and ``train/labels/NN.png`` (NN = 00..24), 512 x 512 uint8, labels with
0 = membrane and 255 = cell interior (the challenge's convention). Here labels become class
0 = cell interior, 1 = membrane, so a binary mask marks membranes. Validation split: 20-24.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import read_image

TRAIN_IDS = tuple(range(0, 20))
VAL_IDS = (20, 21, 22, 23, 24)
CLASSES = ["cell interior", "membrane"]


@dataclass
class EMSlice:
    id: int
    image: np.ndarray  # (512, 512) uint8
    labels: np.ndarray | None  # (512, 512) {0 = interior, 1 = membrane}


def membrane_labels(raw: np.ndarray) -> np.ndarray:
    """Challenge labels (0 = membrane, 255 or 1 = interior) -> 1 = membrane, 0 = interior."""
    raw = np.asarray(raw)
    if raw.ndim == 3:
        raw = raw[..., 0]
    return (
        (raw <= raw.min()).astype(np.uint8)
        if raw.max() > raw.min()
        else np.zeros(raw.shape, np.uint8)
    )


def load_isbi(
    root: str | Path, ids: tuple[int, ...] | None = None, split: str = "train"
) -> list[EMSlice]:
    """Read ISBI 2012 slices ``ids`` (default: all of ``split``) from ``root`` (``isbi2012``)."""
    folder = Path(root) / split
    if not (folder / "images").is_dir():
        raise ValueError(f"{root} does not look like ISBI 2012: {folder / 'images'} is missing")
    if ids is None:
        ids = tuple(sorted(int(p.stem) for p in (folder / "images").glob("*.png")))
    out = []
    for i in ids:
        image = read_image(folder / "images" / f"{i:02d}.png")
        lab_path = folder / "labels" / f"{i:02d}.png"
        labels = membrane_labels(read_image(lab_path)) if lab_path.exists() else None
        out.append(EMSlice(i, image, labels))
    return out
