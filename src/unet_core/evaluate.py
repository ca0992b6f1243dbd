"""Scoring a model against ground truth: one row of metrics per image, and their mean. The
metrics are the model's task's (``unet_core.tasks``):

Fundus models (DRIVE convention): Dice/F1, IoU, sensitivity, specificity, accuracy and AUC
inside the field of view (the masks given, else the one the model's task finds on each
photograph); an artery/vein model against vessel labels (0 and 255) is scored as a vessel
model. EM models (ISBI 2012 protocol): pixel error, adapted Rand error and variation of
information; their labels follow the challenge's convention (the darker value, 0, marks
membranes). Other models (your own, any number of classes): IoU and Dice of each class against
masks of class indices.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np

from .base.jobs import drain
from .base.labels import is_marked
from .batch import find_inputs
from .data.drive import binarize
from .data.folders import label_key
from .data.io import read_image, read_metadata
from .inference.predictor import Predictor
from .model.unet import UNet

log = logging.getLogger(__name__)

def _key(path: Path) -> str:
    m = re.match(r"\D*(\d+)", path.name)
    return m.group(1).lstrip("0") or "0" if m else path.stem


def pair_files(*groups: list[Path]) -> list[tuple[Path, ...]]:
    """Match files across groups by the first number in their names (``21_training.tif`` with
    ``21_manual1.gif``; extra files in the later groups are ignored), else by stem as training
    pairs them (``a.tif`` with ``a.png`` or ``a_mask.png``); ValueError naming the files that
    cannot be matched."""
    first_keys = None
    for key in (_key, None):
        if key is None:
            stems = {p.stem for p in groups[0]}
            keys = [[p.stem for p in groups[0]]]
            keys += [[label_key(p, stems) for p in g] for g in groups[1:]]
        else:
            keys = [[key(p) for p in g] for g in groups]
        if all(len(set(k)) == len(k) for k in keys) and all(set(keys[0]) <= set(k) for k in keys):
            index = [dict(zip(k, g)) for k, g in zip(keys, groups)]
            return [tuple(ix[k] for ix in index) for k in sorted(keys[0], key=_natural)]
        first_keys = first_keys or keys
    if all(re.match(r"\D*\d", p.name) for p in groups[0]):
        keys = first_keys  # numbered names: say what is missing by number
    for what, ks in zip(("label file", "field-of-view mask"), keys[1:]):
        unpaired = [p.name for p, k in zip(groups[0], keys[0]) if k not in ks]
        if unpaired:
            raise ValueError(f"cannot pair the files: no {what} for {', '.join(unpaired[:4])}")
    raise ValueError("cannot pair the files: some names repeat")


def _natural(key: str) -> tuple:
    return (0, int(key)) if key.isdigit() else (1, key)


def evaluate_model(
    model: UNet,
    images: list[str | os.PathLike] | str | os.PathLike,
    labels: list[str | os.PathLike] | str | os.PathLike,
    fov: list[str | os.PathLike] | str | os.PathLike | None = None,
    *,
    threshold: float = 0.5,
    tta: bool = False,
    device: str = "auto",
    ids: list[int] | None = None,
    precision: str = "auto",
) -> list[dict]:
    """Rows ``{"image", <metrics>}`` per image, then a row ``{"image": "mean", ...}``.

    ``ids`` keeps only the images whose names start with those numbers (e.g. a validation split).
    ``precision``: the predictor's (see :class:`Predictor`).
    """
    sources = (images, labels) + ((fov,) if fov else ())
    for what, source in zip(("images", "labels", "field-of-view masks"), sources):
        for p in _as_list(source):
            if not Path(p).exists():
                raise ValueError(f"no such file or folder for the {what}: {p}")
    groups = [find_inputs(_as_list(x), skip_outputs=False) for x in sources]
    if ids is not None:
        wanted = {str(i) for i in ids}
        groups[0] = [p for p in groups[0] if _key(p) in wanted]
    for what, source, group in zip(("images", "label files", "field-of-view masks"), sources,
                                   groups):  # fmt: skip
        if not group:
            raise ValueError(f"no {what} found in {source}")
    predictor = Predictor(model, device=device, tta=tta, precision=precision)
    task, classes = predictor.task, predictor.card.classes
    pairs = pair_files(*groups)
    seen = trained_on(predictor.card, [paths[0] for paths in pairs])
    if seen:
        log.warning("the model trained on %s (its card's train_ids): these scores flatter it; "
                    "score images it never saw", ", ".join(seen))  # fmt: skip
    rows = []
    for paths in pairs:
        image, truth = read_image(paths[0]), read_image(paths[1])
        roi = binarize(read_image(paths[2])) if len(paths) > 2 else None
        _check_pair(image, truth, roi, paths)
        done = drain(predictor.run(image))
        prob, roi = done.prob, roi if roi is not None else done.context.fov  # the task's own
        try:
            row = task.evaluate(prob, truth, threshold, roi=roi, classes=classes,
                                marked=is_marked(read_metadata(paths[1])))  # fmt: skip
        except ValueError as exc:
            raise ValueError(f"{paths[1].name}: {exc}") from None
        values = np.unique(truth if roi is None else truth[roi])
        if len(values) == 1:  # a score against one value says little: said, not hidden
            log.warning("%s: the labels hold only the value %s: the scores of the other "
                        "classes are 0 or undefined", paths[1].name, values[0])
        rows.append({"image": paths[0].name, **row})
    keys = [k for k in rows[0] if k != "image"]
    rows.append({"image": "mean", **{k: float(np.nanmean([r[k] for r in rows])) for k in keys}})
    return rows


def trained_on(card, paths: list[Path]) -> list[str]:
    """The names among ``paths`` of DRIVE training photographs (``37_training.tif``) whose ids
    the model's card lists as trained on."""
    ids = set((card.provenance or {}).get("train_ids") or [])
    found = [(re.match(r"(\d+)_training\b", p.name), p.name) for p in paths]
    return [name for m, name in found if m and int(m.group(1)) in ids]


#: the most colours a label image saved in colour has (a palette's classes): a photograph
#: given as labels has thousands
LABEL_COLOURS = 256


def _check_pair(image, truth, roi, paths) -> None:
    """A one-line ValueError naming the file whose size does not match its image, a label
    image in colour (a photograph given as labels), or whose field of view is empty (the
    metrics would be NaN)."""
    size = image.shape[:2]
    for what, array, path in (("label image", truth, paths[1]),
                              ("field-of-view mask", roi, paths[-1])):  # fmt: skip
        if array is not None and array.shape[:2] != size:
            raise ValueError(f"{path.name}: the {what} is {_dims(array)} pixels but "
                             f"{paths[0].name} is {_dims(image)}")  # fmt: skip
    if truth.ndim == 3 and truth.shape[-1] in (3, 4) and \
            len(np.unique(truth[..., :3].astype(np.uint32) @ [1, 1 << 8, 1 << 16])) > \
            LABEL_COLOURS:  # fmt: skip
        raise ValueError(f"{paths[1].name}: the label image is a picture in colour; labels "
                         "hold one class per pixel (were the images and the labels "
                         "swapped?)")  # fmt: skip
    if roi is not None and not roi.any():
        raise ValueError(f"{paths[2].name}: the field-of-view mask is empty (no pixel inside)")
    if truth.dtype.kind == "f" and not np.isfinite(truth).all():
        raise ValueError(f"{paths[1].name}: the label image holds NaN or infinite values; "
                         "labels are class indices")  # fmt: skip


def _dims(array) -> str:
    return " x ".join(map(str, array.shape[:2]))


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def format_table(rows: list[dict]) -> str:
    """A Markdown table of evaluation rows."""
    keys = [k for k in rows[0] if k != "image"]
    lines = ["| image | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for r in rows:
        lines.append(f"| {r['image']} | " + " | ".join(f"{r[k]:.4f}" for k in keys) + " |")
    return "\n".join(lines)
