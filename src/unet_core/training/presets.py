"""Recipes of the bundled models: architecture, input, classes, loss, augmentation, schedule,
and how to read their data (the preset's task scores it). ``napari-unet train --preset
drive|drive-av|em`` runs one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..base.labels import IGNORE_LABEL
from ..data import drive, isbi2012
from ..data.augment import Augmentation
from ..data.datasets import Sample, make_sample
from ..model.card import Preprocessing
from .config import TrainConfig


@dataclass
class Preset:
    """Everything that defines a bundled model, apart from its weights; its ``task``
    (``unet_core.tasks``) also scores its validation."""

    name: str
    description: str
    architecture: dict
    preprocessing: Preprocessing
    classes: list[str]
    config: TrainConfig
    load: Callable[[Path, tuple[int, ...] | None, Preprocessing], list[Sample]]
    train_ids: tuple[int, ...]
    val_ids: tuple[int, ...]
    data_subdir: str
    citation: str
    task: str = "generic"
    scale: dict = field(default_factory=dict)


def load_drive_samples(root: Path, ids, pre: Preprocessing) -> list[Sample]:
    """DRIVE images with vessel labels; pixels outside the field of view are ignored."""
    out = []
    for d in drive.load_drive(root, ids):
        labels = d.labels.astype(np.int64)
        labels[~d.fov] = IGNORE_LABEL
        out.append(make_sample(d.image, labels, pre, f"{d.id:02d}_training", roi=d.fov))
    return out


def load_av_samples(root: Path, ids, pre: Preprocessing) -> list[Sample]:
    """DRIVE photographs with RITE's artery/vein labels (1 artery, 2 vein); uncertain pixels,
    crossings and the outside of the field of view are ignored."""
    out = []
    for d in drive.load_drive(root, ids):
        labels = drive.av_labels(root, d.id).astype(np.int64)
        labels[(labels == drive.AV_UNCERTAIN) | ~d.fov] = IGNORE_LABEL
        out.append(make_sample(d.image, labels, pre, f"{d.id:02d}_training", roi=d.fov))
    return out


def load_em_samples(root: Path, ids, pre: Preprocessing) -> list[Sample]:
    return [
        make_sample(s.image, s.labels, pre, f"{s.id:02d}") for s in isbi2012.load_isbi(root, ids)
    ]


DRIVE = Preset(
    name="drive",
    description="Retinal vessels in fundus photographs (DRIVE): colour, gray or red-free.",
    # one channel, a colour photograph's luminance (a gray or red-free one as it is): the
    # colours of one camera's white balance are not learned; luminance over the green channel:
    # +0.006 F1 on DRIVE 37-40 and on the simulated cameras' mean, most under sensor noise and
    # JPEG, which keep a photograph's luminance best (docs/fundus-cameras.md); a small second
    # U-Net refines the first one's output; base 24 channels: +0.002 F1 over 16 on DRIVE 37-40
    # and on the simulated cameras' mean, two seeds, no camera lower by more than 0.002
    architecture=dict(in_channels=1, num_classes=2, base_channels=24, depth=4, padding="same",
                      batch_norm=True, dropout=0.0, refine=8, drop_block=0.0),
    preprocessing=Preprocessing(channels="gray", normalize="zscore"),
    classes=["background", "vessel"],
    config=TrainConfig(
        # 6000 steps: the slow decay of a long cosine schedule gained over 3000; plain
        # cross-entropy over BCE + Dice: F1 0.820 against 0.818 with TTA at the last step (README)
        steps=6000, batch_size=8, patch=128, lr=2e-3, loss="ce", foreground_p=0.5,
        # the paper's elastic deformation, plus other cameras: zoom, blur, uneven illumination,
        # stronger contrast and gamma, sensor noise, JPEG
        augmentation=Augmentation(elastic_p=0.5, intensity=1.5, scale_jitter=0.25, blur_p=0.3,
                                  blur_sigma=1.5, illumination=0.8, noise=0.15, jpeg_p=0.3),
        val_every=200, monitor="f1", ema=0.99,
    ),
    load=load_drive_samples,
    train_ids=drive.TRAIN_IDS,
    val_ids=drive.VAL_IDS,
    data_subdir="drive",
    task="fundus",
    citation="Staal et al., Ridge-based vessel segmentation in color images of the retina, "
    "IEEE TMI 23(4):501-509, 2004",
)  # fmt: skip

#: the previous recipe (RGB input), kept to compare against: ``--preset drive-rgb``
DRIVE_RGB = dataclasses.replace(
    DRIVE, name="drive-rgb", description="Retinal vessels in colour fundus photographs (DRIVE).",
    architecture={**DRIVE.architecture, "in_channels": 3, "base_channels": 16},
    preprocessing=Preprocessing(channels="rgb", normalize="zscore"),
    config=dataclasses.replace(DRIVE.config, augmentation=Augmentation(
        elastic_p=0.5, intensity=1.0, scale_jitter=0.2, blur_p=0.3, blur_sigma=1.5,
        illumination=0.5, gray_p=0.1)),
)  # fmt: skip

#: the same with CLAHE before normalising, at base 16 as measured (docs/fundus-cameras.md):
#: ``--preset drive-clahe``
DRIVE_CLAHE = dataclasses.replace(
    DRIVE, name="drive-clahe", architecture={**DRIVE.architecture, "base_channels": 16},
    preprocessing=Preprocessing(channels="green", normalize="zscore", local_contrast="clahe"),
)  # fmt: skip

#: arteries and veins: colour input (an artery is the lighter red), the camera augmentations of
#: ``drive`` and other sensors' colours, but no gray photographs (their colour is the cue;
#: gray_p 0.15 won gray and red-free photographs and lost the colour ones: docs/retina.md);
#: ``--preset drive-av``
DRIVE_AV = dataclasses.replace(
    DRIVE, name="drive-av", load=load_av_samples, classes=["background", "artery", "vein"],
    description="Arteries and veins in colour fundus photographs (DRIVE with RITE's labels).",
    architecture={**DRIVE.architecture, "in_channels": 3, "num_classes": 3, "base_channels": 16,
                  "refine": 0},
    preprocessing=Preprocessing(channels="rgb", normalize="zscore"),
    # another sensor's colours (per-channel gammas, crosstalk): -0.013 artery F1 on DRIVE,
    # +0.18 on the simulated "another camera", +0.12 under JPEG 30 (docs/retina.md);
    # 10000 steps: artery F1 0.693 -> 0.721 and A/V accuracy 0.909 -> 0.929 on DRIVE 37-40
    # over 6000, the simulated cameras' worst row 0.812 -> 0.857 (docs/retina.md)
    config=dataclasses.replace(
        DRIVE.config, steps=10000, monitor="av_f1", val_every=250,
        augmentation=dataclasses.replace(DRIVE.config.augmentation, colour=1.0)),
    citation=DRIVE.citation + "; Hu, Abramoff, Garvin, Automated separation of binary "
    "overlapping trees in low-contrast color retinal images, MICCAI 2013 (RITE)",
)  # fmt: skip

EM = Preset(
    name="em",
    description="Cell membranes in serial-section TEM of the Drosophila VNC (ISBI 2012).",
    architecture=dict(in_channels=1, num_classes=2, base_channels=16, depth=4, padding="same",
                      batch_norm=True, dropout=0.0),
    preprocessing=Preprocessing(channels="gray", normalize="zscore"),
    classes=list(isbi2012.CLASSES),
    config=TrainConfig(
        # 4000 steps: adapted Rand error 0.034-0.035 at the last step against 0.050 at 2000 (README)
        steps=4000, batch_size=8, patch=128, lr=2e-3, loss="weighted_ce", object_class=0, ema=0.99,
        w0=10.0, sigma=5.0, ignore_label=None, foreground_p=0.3,
        augmentation=Augmentation(elastic_p=0.5, intensity=1.0), val_every=100,
        monitor="rand_error", monitor_mode="min",
    ),
    load=load_em_samples,
    train_ids=isbi2012.TRAIN_IDS,
    val_ids=isbi2012.VAL_IDS,
    data_subdir="isbi2012",
    task="em",
    citation="Cardona et al., PLoS Biol 8(10), 2010; Arganda-Carreras et al., Front. Neuroanat. "
    "2015 (ISBI 2012 EM segmentation challenge)",
)  # fmt: skip

PRESETS = {p.name: p for p in (DRIVE, DRIVE_RGB, DRIVE_CLAHE, DRIVE_AV, EM)}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
    return PRESETS[name]
