"""A user's own training data: an image folder and a label folder paired by file stem, every
file checked before any training, with all problems reported in one message.

Labels are integer masks: class indices 0..K-1, and ``IGNORE_LABEL`` (255) for pixels that
are not annotated (:mod:`unet_core.base.labels`); how labels the tool did not write (0/255
masks, instance masks) are read is told in :mod:`.label_rules`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..base.labels import BINARY_FOREGROUND, IGNORE_LABEL, is_marked
from ..model.card import Preprocessing
from .datasets import Sample, make_sample
from .io import ImageReadError, is_image_path, read_image, read_metadata
from .label_rules import instances_to_foreground, integer_labels, read_by_rules

#: label files may carry one of these after the image's stem (``cell01_mask.png``)
LABEL_SUFFIXES = ("", "_labels", "_label", "_mask", "_masks", "_seg", "_gt", "_annotation")
_SHOWN = 4  # names listed per kind of problem


class DataError(ValueError):
    """Training data that cannot be used; the message lists every problem found."""


@dataclass
class FolderData:
    """Checked training images with their labels (class indices, ``IGNORE_LABEL`` = not
    annotated)."""

    names: list[str]
    images: list[np.ndarray]
    labels: list[np.ndarray]
    classes: list[str]
    preprocessing: Preprocessing
    notes: list[str] = field(default_factory=list)

    @property
    def spatial_dims(self) -> int:
        """3 for volumes (labels of three axes), else 2."""
        return 3 if self.labels and np.ndim(self.labels[0]) == 3 else 2

    @property
    def in_channels(self) -> int:
        modes = {"gray": 1, "green": 1, "rgb": 3}
        return modes.get(self.preprocessing.channels, _channels(self.images[0]))

    def samples(self) -> list[Sample]:
        return [make_sample(i, lab, self.preprocessing, n)
                for n, i, lab in zip(self.names, self.images, self.labels)]  # fmt: skip

    def describe_input(self) -> dict:
        """What the card records about the input: dtype, channels, normalisation."""
        dtypes = sorted({str(i.dtype) for i in self.images})
        pre = self.preprocessing
        return {
            "dtype": ", ".join(dtypes),
            "channels": _channels(self.images[0]),
            "preprocessing": f"channels={pre.channels}, normalize={pre.normalize} per image",
        }


def _listing(names: list[str]) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def _image_files(folder: Path, what: str) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"the {what} folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_path(p)
                   and not p.name.startswith("."))  # fmt: skip
    if not files:
        raise DataError(f"no image files in the {what} folder {folder}")
    return files


def label_key(path: Path, image_stems: set[str]) -> str:
    """The image stem a label file belongs to (its own stem, less a suffix like ``_mask``)."""
    stem = path.stem
    for suffix in LABEL_SUFFIXES[1:]:
        if stem.endswith(suffix) and stem[: -len(suffix)] in image_stems:
            return stem[: -len(suffix)]
    return stem


def pair_folders(images: str | os.PathLike, labels: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(image, label) files matched by stem (``a.tif`` with ``a.png`` or ``a_mask.png``);
    DataError listing every unpaired or ambiguous file."""
    image_files = _image_files(Path(images), "image")
    label_files = _image_files(Path(labels), "label")
    by_stem: dict[str, list[Path]] = {}
    for p in image_files:
        by_stem.setdefault(p.stem, []).append(p)
    stems = set(by_stem)
    by_key: dict[str, list[Path]] = {}
    for p in label_files:
        by_key.setdefault(label_key(p, stems), []).append(p)
    problems = []
    twice = [p.name for s in sorted(by_stem) if len(by_stem[s]) > 1 for p in by_stem[s]]
    twice += [p.name for k in sorted(by_key) if len(by_key[k]) > 1 for p in by_key[k]]
    if twice:
        problems.append(f"more than one file with the same stem: {_listing(twice)}")
    no_label = [by_stem[s][0].name for s in sorted(stems - set(by_key))]
    if no_label:
        problems.append(f"no label file for {len(no_label)} image(s): {_listing(no_label)}")
    no_image = [by_key[k][0].name for k in sorted(set(by_key) - stems)]
    if no_image:
        problems.append(f"no image for {len(no_image)} label file(s): {_listing(no_image)}")
    if problems:
        raise DataError("cannot pair images and labels: " + "; ".join(problems))
    return [(by_stem[s][0], by_key[s][0]) for s in sorted(stems)]


def _channels(image: np.ndarray) -> int:
    """Channels of an (H, W[, C]) image or a (D, H, W[, C]) volume (a 3-axis array whose last
    axis is longer than 4 is a stack of gray slices)."""
    if image.ndim == 2 or (image.ndim == 3 and image.shape[-1] > 4):
        return 1
    return image.shape[-1]


def is_volume(image: np.ndarray) -> bool:
    """A stack of slices: (D, H, W) with W > 4, or (D, H, W, C) with C <= 4."""
    return (image.ndim == 3 and image.shape[-1] > 4) or (image.ndim == 4 and image.shape[-1] <= 4)


def as_class_labels(raw: np.ndarray, num_classes: int) -> np.ndarray:
    """A label image as int64 class indices for scoring: for a two-class model a 0/255 mask
    (``BINARY_FOREGROUND``) is read as background/foreground and an instance mask as its
    objects; else ``IGNORE_LABEL`` stays "not annotated"."""
    labels, problem = integer_labels(np.asarray(raw), "the label image")
    if labels is None:
        raise DataError(problem)
    if num_classes == 2 and not ((labels > 0) & (labels < BINARY_FOREGROUND)).any():
        labels = np.where(labels == BINARY_FOREGROUND, 1, labels)
    elif num_classes == 2 and ((labels > 1) & (labels != IGNORE_LABEL)).any():
        labels = instances_to_foreground(np.where(labels == IGNORE_LABEL, 0, labels))
    if (labels == IGNORE_LABEL).all():
        raise DataError(f"nothing annotated (every pixel {IGNORE_LABEL})")
    return labels


def load_pairs(pairs: list[tuple[Path, Path]], classes: list[str] | None = None) -> FolderData:
    """Read and check every pair; DataError listing every problem (unreadable files, shape
    mismatches, label values beyond the classes, files with nothing annotated)."""
    names, images, raws, marked, problems = [], [], [], [], []
    for image_path, label_path in pairs:
        try:
            image, raw = read_image(image_path), read_image(label_path)
            mark = is_marked(read_metadata(label_path))
        except (ImageReadError, OSError, ValueError) as exc:
            problems.append(str(exc))
            continue
        if image.ndim not in (2, 3, 4) or (image.ndim == 4 and image.shape[-1] > 4):
            problems.append(f"{image_path.name} is neither a 2-D image nor a volume (shape "
                            f"{image.shape})")  # fmt: skip
            continue
        if label_path.suffix.lower() in (".jpg", ".jpeg"):
            problems.append(f"{label_path.name} is a JPEG, whose compression changes label "
                            "values: save masks as PNG or TIFF")  # fmt: skip
            continue
        labels, problem = integer_labels(raw, label_path.name)
        if labels is None:
            problems.append(problem)
            continue
        names.append(image_path.stem)
        images.append(image)
        raws.append(labels)
        marked.append(mark)
    return check_arrays(images, raws, names, classes, problems, marked)


def check_arrays(images: list[np.ndarray], labels: list[np.ndarray], names: list[str],
                 classes: list[str] | None = None, problems: list[str] | None = None,
                 marked: list[bool] | None = None) -> FolderData:  # fmt: skip
    """Check (image, labels) arrays (files read, or napari layers) and infer the classes.
    ``marked``: which labels came from files the tool wrote (read as they stand); the others
    are read by the rules of this module's docstring."""
    problems = list(problems or [])
    marked = marked or [False] * len(names)
    kept = []
    for name, image, raw, mark in zip(names, images, labels, marked):
        lab, problem = integer_labels(np.asarray(raw), name)
        if lab is None:
            problems.append(problem)
        elif lab.shape != np.shape(image)[: 3 if is_volume(np.asarray(image)) else 2]:
            nd = 3 if is_volume(np.asarray(image)) else 2
            problems.append(f"the labels of {name} are {' x '.join(map(str, lab.shape))} but "
                            f"the image is {' x '.join(map(str, np.shape(image)[:nd]))}")
        else:
            kept.append((name, np.asarray(image), lab, mark))
    kept, notes = read_by_rules(kept, classes, problems)
    kept = [k[:3] for k in kept]
    problems += _check_values([k[0] for k in kept], [k[2] for k in kept], classes)
    if len({np.ndim(k[2]) for k in kept}) > 1:
        problems.append("the data mix 2-D images and volumes: train on one kind")
    if len({_channels(k[1]) for k in kept}) > 1:
        problems.append("the images mix " + " and ".join(
            f"{c}-channel" for c in sorted({_channels(k[1]) for k in kept})))  # fmt: skip
    if problems or not kept:
        raise DataError("; ".join(problems) or "no training images")
    named = classes is not None
    if not named:
        k = max(int(lab[lab != IGNORE_LABEL].max(initial=0)) for _, _, lab in kept) + 1
        classes = default_class_names(max(2, k))
    seen = set().union(*(np.unique(lab).tolist() for _, _, lab in kept))
    missing = [c for c in range(1, len(classes)) if c not in seen]
    if missing:  # a class without a pixel is not learned, and scores 0 on held-out images
        notes.append(f"class value(s) {', '.join(map(str, missing))} appear in no mask, yet the "
                     f"model gets {len(classes)} classes: check the labels, or name the "
                     "classes with --classes" if not named else
                     f"{', '.join(repr(classes[c]) for c in missing)} (value(s) "
                     f"{', '.join(map(str, missing))}) appear in no mask: nothing here "
                     "teaches them; paint them, or name only the classes the labels hold")
    names, images, labels = (list(x) for x in zip(*kept))
    return FolderData(names, images, labels, list(classes), preprocessing_for(images[0]), notes)


def _check_values(names, labels, classes) -> list[str]:
    problems = []
    empty = [n for n, lab in zip(names, labels) if (lab == IGNORE_LABEL).all()]
    if empty:
        problems.append(f"nothing annotated (every pixel {IGNORE_LABEL}) in: {_listing(empty)}")
    if classes is not None:
        k = len(classes)
        beyond = {n: np.unique(lab[(lab >= k) & (lab != IGNORE_LABEL)])
                  for n, lab in zip(names, labels)}  # fmt: skip
        beyond = {n: v for n, v in beyond.items() if v.size}
        if beyond:
            shown = [f"{n} ({', '.join(map(str, v[:3]))})" for n, v in beyond.items()]
            problems.append(f"label values beyond the {k} classes 0..{k - 1} "
                            f"({', '.join(classes)}) in: {_listing(shown)}")  # fmt: skip
    return problems


def default_class_names(k: int) -> list[str]:
    if k < 2:
        raise DataError("the labels hold one class only: at least two are needed")
    return ["background", "foreground"] if k == 2 else ["background"] + [
        f"class {i}" for i in range(1, k)]  # fmt: skip


def preprocessing_for(image: np.ndarray) -> Preprocessing:
    """Gray images as one channel, RGB(A) as three; any bit depth, normalised per image."""
    c = _channels(image)
    channels = "gray" if c == 1 else "rgb" if c in (3, 4) else "as_is"
    return Preprocessing(channels=channels, normalize="zscore")


def load_folders(images: str | os.PathLike, labels: str | os.PathLike,
                 classes: list[str] | None = None) -> FolderData:  # fmt: skip
    """:func:`pair_folders` then :func:`load_pairs`."""
    return load_pairs(pair_folders(images, labels), classes)
