"""DRIVE (Staal et al., IEEE TMI 2004): fundus photographs, vessel labels, field-of-view masks.

Layout (as distributed): ``training/images/NN_training.tif``,
``training/1st_manual/NN_manual1.gif``, ``training/mask/NN_training_mask.gif``;
``test/images/NN_test.tif``, ``test/mask/NN_test_mask.gif``.
Labels become 0 = background, 1 = vessel. Validation split used here: training ids 37-40.
RITE's artery/vein labels of the training photographs (Hu et al., MICCAI 2013), where the data
has them: ``training/av/NN_training.png``, 0 background, 1 artery, 2 vein, 3 uncertain or a
crossing (:func:`av_labels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import read_image

TRAIN_IDS = tuple(range(21, 37))
VAL_IDS = (37, 38, 39, 40)


@dataclass
class DriveImage:
    id: int
    image: np.ndarray  # (584, 565, 3) uint8
    labels: np.ndarray | None  # (584, 565) {0, 1} or None (test set)
    fov: np.ndarray  # (584, 565) bool


def binarize(mask: np.ndarray) -> np.ndarray:
    """{0, 255}, {0, 1} or palette masks -> bool: values above the minimum are True; a uniform
    mask is all True unless it is all 0."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., :3].max(-1)
    if mask.max() == mask.min():
        return np.full(mask.shape, bool(mask.max() > 0))
    return mask > mask.min()


def load_drive(
    root: str | Path, ids: tuple[int, ...] | None = None, split: str = "training"
) -> list[DriveImage]:
    """Read DRIVE images ``ids`` (default: all of ``split``) from ``root`` (``drive``)."""
    root = Path(root)
    folder = root / split
    if not (folder / "images").is_dir():
        raise ValueError(f"{root} does not look like DRIVE: {folder / 'images'} is missing")
    if ids is None:
        ids = tuple(sorted(int(p.name.split("_")[0]) for p in (folder / "images").glob("*.tif")))
    out = []
    for i in ids:
        image = read_image(folder / "images" / f"{i:02d}_{split}.tif")
        manual = folder / "1st_manual" / f"{i:02d}_manual1.gif"
        labels = binarize(read_image(manual)).astype(np.uint8) if manual.exists() else None
        fov = binarize(read_image(folder / "mask" / f"{i:02d}_{split}_mask.gif"))
        out.append(DriveImage(i, image, labels, fov))
    return out


#: RITE's value of a pixel whose vessel type is uncertain, or where an artery crosses a vein
AV_UNCERTAIN = 3


def av_labels(root: str | Path, i: int, split: str = "training") -> np.ndarray:
    """RITE's artery/vein labels of photograph ``i``: (H, W) uint8, 0 background, 1 artery,
    2 vein, 3 uncertain or crossing; ValueError naming the file when it is missing."""
    path = Path(root) / split / "av" / f"{i:02d}_{split}.png"
    if not path.is_file():
        raise ValueError(f"no artery/vein labels at {path} (RITE's, in training/av/)")
    return np.asarray(read_image(path), np.uint8)
