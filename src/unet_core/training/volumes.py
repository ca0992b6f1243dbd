"""The own-data recipe for volumes: whether to train a 3-D U-Net or a 2-D one slice by slice,
from the data (how many slices, the voxel size, how the annotation is spread) and the user's
``dims``, each choice with its reason for the card; the 3-D network and its training recipe;
annotated slices held out for validation.

A 3-D U-Net learns a dense segmentation from a few painted slices (Cicek et al., MICCAI
2016): every unpainted voxel carries ``IGNORE_LABEL`` and patches are centred where labels are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator

import numpy as np

from ..base.events import Status
from ..base.labels import IGNORE_LABEL
from ..data.augment import Augmentation
from ..data.datasets import Sample, make_sample
from ..data.folders import FolderData
from ..model.geometry import plan_anisotropy
from .config import TrainConfig
from .recipe import UNBOUNDED, VALIDATIONS

#: volumes thinner than this are segmented slice by slice: too little context along z
MIN_SLICES = 8
#: the 3-D networks by size: CPU-sized, as the 2-D ones
SIZES = {
    "small": dict(base_channels=8, depth=3),
    "medium": dict(base_channels=16, depth=3),
    "large": dict(base_channels=24, depth=4),
}
#: in-plane patch edge of a 3-D training patch (along z: the pooling grid's share)
PATCH = 64


def annotated_slices(labels: np.ndarray) -> np.ndarray:
    """Indices of the slices of a (D, H, W) label volume with any annotated voxel."""
    return np.flatnonzero((labels != IGNORE_LABEL).reshape(len(labels), -1).any(axis=1))


def choose_dims(data: FolderData, dims: int | None) -> tuple[int, str]:
    """2 or 3, and why (one line for the card): ``dims`` when given, else 3-D for volumes of
    at least :data:`MIN_SLICES` slices, 2-D for images and thinner stacks."""
    if data.spatial_dims == 2:
        if dims == 3:
            raise ValueError("--dims 3 needs volumes (TIFF stacks of slices); these are 2-D "
                             "images")  # fmt: skip
        return 2, "2-D images"
    depth = min(len(v) for v in data.labels)
    spread = sum(len(annotated_slices(lab)) for lab in data.labels)
    if dims is not None:
        return dims, f"asked for ({dims}-D) on volumes of {depth}+ slices"
    if depth < MIN_SLICES:
        return 2, (f"volumes of {depth} slices: too thin for 3-D context, segmented slice by "
                   "slice")  # fmt: skip
    return 3, (f"volumes of {depth}+ slices annotated on {spread} slice(s): a 3-D U-Net "
               "learns the unpainted slices from their neighbours")  # fmt: skip


def chosen(data: FolderData, val: FolderData | None, dims: int | None) -> Generator:
    """(data, validation data, why) as the chosen network trains on them: volumes become
    their annotated slices for a 2-D one. Yields the choice for volumes as a :class:`Status`
    line."""
    dims, why = choose_dims(data, dims)
    if data.spatial_dims == 3:  # images: nothing to say
        yield Status(f"{dims}-D U-Net: {why}")
    if dims == 2 and data.spatial_dims == 3:
        data, val = as_slices(data), None if val is None else as_slices(val)
    return data, val, why


def as_slices(data: FolderData) -> FolderData:
    """The annotated slices of every volume as 2-D images (``name[z]``), for a 2-D network."""
    names, images, labels = [], [], []
    for name, vol, lab in zip(data.names, data.images, data.labels):
        for z in annotated_slices(lab):
            names.append(f"{name}[{z}]")
            images.append(vol[z])
            labels.append(lab[z])
    return dataclasses.replace(data, names=names, images=images, labels=labels)


def architecture(size: str, in_channels: int, num_classes: int,
                 voxel_size: tuple[float, float, float] | None) -> tuple[dict, str]:  # fmt: skip
    """The 3-D network by ``size`` with pools and kernels planned from the voxel size
    (isotropic when not given), and a line saying how."""
    if size.startswith("resnet"):
        raise ValueError(f"a {size} encoder is for images (2-D): a volume trains a 3-D U-Net "
                         "(small, medium or large), or --dims 2 on its painted slices")  # fmt: skip
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    spacing = tuple(voxel_size) if voxel_size else (1.0, 1.0, 1.0)
    depth = SIZES[size]["depth"]
    pools, kernels = plan_anisotropy(spacing, depth)
    arch = dict(in_channels=in_channels, num_classes=num_classes, padding="same",
                batch_norm=True, dropout=0.0, **SIZES[size], spatial_dims=3,
                pools=[list(p) for p in pools], kernels=[list(k) for k in kernels])  # fmt: skip
    how = (f"voxel {' x '.join(f'{s:g}' for s in spacing)} (z, y, x): pooled along z from level "
           f"{next((i for i, p in enumerate(pools) if p[0] == 2), depth)} of {depth}"
           if voxel_size else "voxel size not given: taken as isotropic")  # fmt: skip
    return arch, how


def config(data: FolderData, size: str, steps: int | None, seed: int) -> tuple[TrainConfig, dict]:
    """The 3-D training recipe and its reasons: patches centred on annotated voxels, elastic
    deformation in 3-D, in-plane flips and rotations, flips along z, intensity."""
    side = min(min(np.shape(lab)[1:]) for lab in data.labels)
    patch = max(16, min(PATCH, side // 16 * 16))
    cfg = TrainConfig(
        steps=steps or UNBOUNDED, batch_size=2, patch=patch, lr=3e-3, schedule="cosine",
        warmup=20, loss="bce_dice", ignore_label=IGNORE_LABEL, foreground_p=0.5,
        augmentation=Augmentation(elastic_p=0.3, elastic_sigma=6.0, intensity=1.0),
        val_every=50, budget_validations=VALIDATIONS, monitor="iou", monitor_mode="max",
        ema=0.99, seed=seed,
    )  # fmt: skip
    reasons = {
        "patch": f"{patch} px in-plane (smallest side {side} px), along z by the pooling grid",
        "loss": "cross-entropy plus soft Dice over the annotated voxels",
    }
    return cfg, reasons


def hold_out(data: FolderData) -> tuple[list[Sample], list[Sample], str]:
    """(training, validation, what was held out): a fifth of each volume's annotated slices
    (the last ones, at least one, when it has three or more), whose labels training never
    sees; validation predicts the whole volume and scores those slices."""
    train, val = [], []
    for s in data.samples():
        z = annotated_slices(s.labels)
        if len(z) < 3:
            train.append(s)
            continue
        held = z[-max(1, round(len(z) * 0.2)) :]
        seen, scored = s.labels.copy(), np.full_like(s.labels, IGNORE_LABEL)
        seen[held], scored[held] = IGNORE_LABEL, s.labels[held]
        train.append(dataclasses.replace(s, labels=seen))
        val.append(make_sample(s.raw, scored, data.preprocessing, s.name))
    return train, val, "the last fifth of each volume's annotated slices"
