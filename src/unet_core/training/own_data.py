"""Train a model for a user's own images, from scratch or from a model: checked data in, a
model file with its card out (``napari-unet train --images DIR --labels DIR``, the napari
"Train a new model" widget).

Without validation images a part of the training data is held out and scored: whole images
when there are four or more, else the bottom fifth of the annotated rows of each image (their
labels are then hidden from training). The best validated weights are saved; a stop (Cancel,
Ctrl+C) saves the best weights so far. ``<out>.ckpt`` is written at every validation and resumes
a run.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
from collections.abc import Callable, Generator
from pathlib import Path

import numpy as np
import torch

from ..base.events import Event, Status
from ..base.jobs import drain
from ..base.labels import IGNORE_LABEL
from ..data.datasets import Sample, make_sample
from ..data.folders import FolderData
from ..formats.store import load_model
from ..model.build import build_model
from ..model.card import ModelCard, card_of
from ..model.unet import UNet
from ..model.widen import with_named_classes
from ..scoring import sample_scorer
from ..tasks import task_of
from . import volumes
from .finish import TrainResult, finish
from .recipe import architecture, generic_config
from .threads import tuned
from .trainer import Trainer

HOLDOUT = 0.2  # share of the training data held out when no validation data is given


def hold_out(data: FolderData) -> tuple[list[Sample], list[Sample], str]:
    """(training samples, validation samples, what was held out)."""
    samples = data.samples()
    n = len(samples)
    if n >= 4:
        k = max(1, round(n * HOLDOUT))
        picks = set(np.linspace(n - 1, 0, k).round().astype(int).tolist())
        val = [s for i, s in enumerate(samples) if i in picks]
        return ([s for i, s in enumerate(samples) if i not in picks], val,
                f"{k} of {n} images: {', '.join(s.name for s in val)}")  # fmt: skip
    train, val = [], []
    for s, raw in zip(samples, data.images):
        rows = np.flatnonzero((s.labels != IGNORE_LABEL).any(axis=1))  # the annotated rows
        end = rows[-1] + 1
        cut = end - max(1, round((end - rows[0]) * HOLDOUT))
        labels = s.labels.copy()
        labels[cut:end] = IGNORE_LABEL
        train.append(Sample(s.image, labels, s.name, s.roi, s.raw))
        if (labels != IGNORE_LABEL).any() and (s.labels[cut:end] != IGNORE_LABEL).any():
            val.append(make_sample(raw[cut:end], s.labels[cut:end], data.preprocessing, s.name))
        else:  # too little annotated to spare a part: train on all of it
            train[-1] = s
    return train, val, f"the bottom {round(100 * HOLDOUT)} % of each image's annotated rows"


def new_model(data: FolderData, size: str, base: str | UNet | None, device: str,
              voxel_size: tuple | None = None, arch: dict | None = None) -> UNet:  # fmt: skip
    """A fresh network sized for the data (a 3-D one for volumes, planned from
    ``voxel_size``; ``arch`` entries replacing the size's), or a copy of ``base`` (a model,
    its name or file)."""
    k = len(data.classes)
    if base is not None and arch:
        raise ValueError("--arch builds a new network; --from goes on from a trained one: "
                         "give one of them")  # fmt: skip
    if base is None:
        if data.spatial_dims == 3:
            planned, _ = volumes.architecture(size, data.in_channels, k, voxel_size)
        else:
            planned = architecture(size, data.in_channels, k)
        model = build_model({**planned, **(arch or {})})
        model.card = ModelCard(model.config, data.preprocessing, list(data.classes), task="generic")
        return model
    model = copy.deepcopy(base) if isinstance(base, UNet) else load_model(base, device=device)
    base = card_of(model).name if isinstance(base, UNet) else base
    if model.spatial_dims != data.spatial_dims:
        raise ValueError(f"{base} is a {model.spatial_dims}-D model and the data are "
                         f"{data.spatial_dims}-D")  # fmt: skip
    card = card_of(model)
    if model.num_classes > k:
        raise ValueError(f"{base} has {model.num_classes} classes but the labels have {k}")
    if model.num_classes < k:  # a class added: the trained layers kept, its output started
        model.card = dataclasses.replace(card, provenance={})
        return with_named_classes(model, list(data.classes))
    if card.preprocessing.channels == "as_is" and model.in_channels != data.in_channels:
        raise ValueError(f"{base} takes {model.in_channels} channel(s), the images have "
                         f"{data.in_channels}")  # fmt: skip
    model.card = dataclasses.replace(card, classes=list(data.classes), provenance={})
    return model


def fits(data: FolderData, model: UNet) -> FolderData:
    """``data`` read with ``model``'s preprocessing; ValueError if its images cannot feed it."""
    from ..data.preprocess import check_channels

    pre = card_of(model).preprocessing
    for name, image in zip(data.names, data.images):
        try:
            check_channels(image, pre.channels, model.in_channels, model.spatial_dims)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return dataclasses.replace(data, preprocessing=pre)


def iter_train(
    data: FolderData,
    out: str | os.PathLike,
    *,
    val: FolderData | None = None,
    minutes: float | None = None,
    steps: int | None = None,
    size: str = "medium",
    base: str | UNet | None = None,
    resume: bool = False,
    device: str = "auto",
    seed: int = 0,
    source: str = "",
    stop: Callable[[], bool] | None = None,
    precision: str = "auto",
    dims: int | None = None,
    voxel_size: tuple[float, float, float] | None = None,
    imagenet: str | os.PathLike | None = None,
    recipe: dict | None = None,
    arch: dict | None = None,
    threads: int | None = None,
) -> Generator[Event, None, TrainResult]:
    """Train on ``data``: yields the trainer's events (see :meth:`Trainer.fit`) and
    :class:`Status` lines, returns a :class:`~.finish.TrainResult`. ``minutes`` and ``steps``
    bound the run (default: 4 minutes); ``precision``: the trainer's (:class:`TrainConfig`);
    ``stop()`` returning True ends it early, as does Ctrl+C: the best weights so far are saved
    either way. Volumes train a 3-D U-Net (``voxel_size`` (z, y, x) plans its pooling) or a 2-D
    one on their annotated slices (:func:`~.volumes.choose_dims`; ``dims`` forces it).
    ``imagenet``: a file of ImageNet weights for a ResNet encoder's start; ``recipe`` and
    ``arch``: entries replacing the recipe's and the network's (:func:`.options.own_options`);
    ``threads``: torch's thread count as given (None: the steps are timed at 1 and at the
    current count, and the faster is kept, as a busy machine needs)."""
    out = Path(out) if Path(out).suffix == ".safetensors" else Path(f"{out}.safetensors")
    ckpt = out.with_name(out.stem + ".ckpt")
    minutes = 4.0 if minutes is None and steps is None else minutes
    torch.manual_seed(seed)
    data, val, why = yield from volumes.chosen(data, val, dims)
    model = new_model(data, size, base, device, voxel_size, arch)
    start = encoder_start(model, imagenet, base)
    if base is not None:  # the images are read the way the base model reads them
        data = fits(data, model)
        val = None if val is None else fits(val, model)
    train, held, holdout, config, reasons = plan(data, val, size, steps, seed, voxel_size)
    reasons.update(choices(why, start, recipe, arch))
    config = dataclasses.replace(config, precision=precision, **(recipe or {}))
    evaluate = sample_scorer(task_of("generic"), data.classes)  # as trained: class scores
    trainer = Trainer(model, train, config, val=held, evaluate=evaluate,
                      device=device, checkpoint=ckpt)  # fmt: skip
    if resume:
        yield resumed(trainer, ckpt)
    budget = None if minutes is None else max(0.0, minutes * 60 - trainer.seconds)
    stopped = yield from until_stopped(trainer, budget, stop, tune=threads is None)
    provenance = provenance_of(data, source, holdout, base, reasons, model)
    kind = "volumes" if data.spatial_dims == 3 else "images"
    description = f"{', '.join(data.classes[1:])} in the user's {kind} ({len(data.names)} {kind})"
    return finish(trainer, out, provenance, stopped=stopped, name=out.stem,
                  description=description, classes=list(data.classes),
                  preprocessing=data.preprocessing)  # fmt: skip


def plan(data: FolderData, val: FolderData | None, size: str, steps: int | None, seed: int,
         voxel_size: tuple | None) -> tuple:  # fmt: skip
    """(training samples, validation samples, what was held out, config, reasons)."""
    if data.spatial_dims == 3:
        train, held, holdout = ((data.samples(), val.samples(), "") if val is not None
                                else volumes.hold_out(data))  # fmt: skip
        config, reasons = volumes.config(data, size, steps, seed)
        reasons["architecture"] = volumes.architecture(size, 1, 2, voxel_size)[1]
        return train, held, holdout, config, reasons
    train, held, holdout = ((data.samples(), val.samples(), "") if val is not None
                            else hold_out(data))  # fmt: skip
    config, reasons = generic_config([s.labels for s in train], classes=data.classes, size=size,
                                     steps=steps, seed=seed)  # fmt: skip
    return train, held, holdout, config, reasons


def until_stopped(trainer: Trainer, budget: float | None, stop: Callable[[], bool] | None,
                  tune: bool = False) -> Generator[Event, None, bool]:  # fmt: skip
    """Run ``trainer`` within ``budget`` seconds, yielding its events, until it ends or
    ``stop()`` returns True or Ctrl+C lands; a stopped run is validated at once, so that it
    keeps whichever weights validated best; ``tune``: the thread count timed as it runs
    (:func:`~.threads.tuned`, at most the current count). Returns whether it was stopped."""
    stopped = False
    events = trainer.fit(seconds=budget)
    try:
        for event in tuned(events, torch.get_num_threads()) if tune else events:
            yield event
            if stop is not None and stop():
                stopped = True
                break
    except KeyboardInterrupt:
        stopped = True
    if stopped:
        record = trainer.validate_now()
        if record is not None:
            yield record
    return stopped


def _name(base) -> str:
    if base is None:
        return "scratch"
    return (card_of(base).name or "a model") if isinstance(base, UNet) else str(base)


def train(data: FolderData, out: str | os.PathLike, **options) -> TrainResult:
    """:func:`iter_train` run to the end."""
    return drain(iter_train(data, out, **options))


def encoder_start(model: UNet, imagenet: str | os.PathLike | None, base) -> str:
    """Load ``imagenet``'s weights into a new ResNet U-Net's encoder and say so (where the
    card records its choices); "" for a U-Net. One-line ValueError for a misfit."""
    from ..model.resnet import ResNetUNet

    if imagenet is None:
        return "" if not isinstance(model, ResNetUNet) or base is not None else (
            f"{model.encoder_name} from random weights (no ImageNet file given)")  # fmt: skip
    if base is not None:
        raise ValueError("ImageNet weights start a new network; --from goes on from a trained "
                         "one: give one of them")  # fmt: skip
    if not isinstance(model, ResNetUNet):
        raise ValueError("ImageNet weights are for a ResNet encoder: choose resnet18, resnet34 "
                         "or resnet50 as the network")  # fmt: skip
    from ..model.resnet_weights import load_imagenet

    load_imagenet(model, imagenet)
    digest = hashlib.sha256(Path(imagenet).read_bytes()).hexdigest()[:12]
    return f"{model.encoder_name} from ImageNet weights {Path(imagenet).name} (sha256 {digest})"


def lineage(model: UNet) -> dict:
    """What a new network's card says of the classes it was given beyond its base's."""
    before = card_of(model).provenance
    return {k: before[k] for k in ("classes_added", "classes_before") if k in before}


def choices(dims: str, encoder: str, recipe: dict | None, arch: dict | None) -> dict:
    """The card's reasons for what the user chose (beside the recipe's own)."""
    out = {"dims": dims}
    if encoder:
        out["encoder"] = encoder
    given = {**(recipe or {}), **(arch or {})}
    if given:
        out["given"] = ", ".join(f"{k}={v}" for k, v in given.items()) + " (as given)"
    return out


def resumed(trainer: Trainer, ckpt: Path) -> Status:
    """Resume ``trainer`` from ``ckpt`` if it exists; the line that says which."""
    if not ckpt.exists():
        return Status(f"no {ckpt.name} to resume from: a new run")
    trainer.resume(ckpt)
    return Status(f"resumed from {ckpt.name} at step {trainer.step}")


def provenance_of(data: FolderData, source: str, holdout: str, base, reasons: dict,
                  model: UNet) -> dict:  # fmt: skip
    """Where a trained model came from, for its card."""
    provenance = {
        "data": source or f"{len(data.names)} images", "images": list(data.names),
        "held_out": holdout or "validation images given", "from": _name(base),
        "input": data.describe_input(), "choices": reasons,
    }  # fmt: skip
    if data.notes:
        provenance["notes"] = list(data.notes)
    return {**provenance, **lineage(model)}
