"""Train a bundled model from its preset (``napari-unet train --preset``): data, trainer,
checkpoint and resume; :func:`~.finish.finish` writes the model, its card and its curve."""

from __future__ import annotations

import logging
import os
from collections.abc import Generator
from pathlib import Path

import torch

from ..base.events import Event, Status
from ..data.datasets import rescale_sample
from ..model.build import build_model
from ..model.card import ModelCard
from ..scoring import sample_scorer
from ..tasks import task_of
from .config import TrainConfig
from .finish import TrainResult, finish
from .presets import Preset
from .trainer import Trainer

log = logging.getLogger(__name__)


def find_data(preset: Preset, data: str | os.PathLike) -> Path:
    """The preset's data folder: ``data`` itself or ``data/<subdir>`` (e.g. ../shared/data)."""
    data = Path(data)
    for candidate in (data / preset.data_subdir, data):
        if candidate.is_dir() and candidate.name == preset.data_subdir:
            return candidate
    if data.is_dir():
        return data
    raise ValueError(f"data folder {data} does not exist")


def build_trainer(
    preset: Preset,
    data: str | os.PathLike,
    *,
    config: TrainConfig,
    split: str = "val",
    device: str = "auto",
    checkpoint: Path | None = None,
) -> Trainer:
    """A trainer for ``preset``: ``split="val"`` trains on the training ids and validates on the
    validation ids; ``split="all"`` trains on both, without validation. The model's card
    records the scale of the training images (a fundus model: their field of view's size)."""
    if split not in ("val", "all"):
        raise ValueError(f"split must be 'val' or 'all', got {split!r}")
    root = find_data(preset, data)
    train = preset.load(root, trainer_ids(preset, split), preset.preprocessing)
    if config.input_scale != 1.0:
        train = [rescale_sample(s, config.input_scale, preset.preprocessing) for s in train]
    val = preset.load(root, preset.val_ids, preset.preprocessing) if split == "val" else []
    task = task_of(preset.task)
    scale = task.card_scale([s.roi for s in train]) or dict(preset.scale)
    torch.manual_seed(config.seed)
    model = build_model(preset.architecture)
    model.card = ModelCard(model.config, preset.preprocessing, list(preset.classes), preset.name,
                           preset.description, scale, task=preset.task)  # fmt: skip
    return Trainer(model, train, config, val=val, device=device, checkpoint=checkpoint,
                   evaluate=sample_scorer(task, list(preset.classes)))  # fmt: skip


def iter_train_preset(
    preset: Preset,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    config: TrainConfig | None = None,
    split: str = "val",
    device: str = "auto",
    resume: bool = False,
) -> Generator[Event, None, TrainResult]:
    """Train, yielding the trainer's events, then save the model (the best validated weights,
    or the last ones) to ``out``; returns the :class:`~.finish.TrainResult`.

    A checkpoint ``<out>.ckpt`` is written every epoch; ``resume=True`` continues from it. A
    curve ``<out stem>_curve.png`` is written beside the model.
    """
    out = Path(out)
    config = config or preset.config
    ckpt = out.with_name(out.stem + ".ckpt")
    trainer = build_trainer(
        preset, data, config=config, split=split, device=device, checkpoint=ckpt
    )
    if resume and ckpt.exists():
        trainer.resume(ckpt)
        yield Status(f"resumed from {ckpt.name} at step {trainer.step}")
    yield from trainer.fit()
    provenance = {
        "data": preset.citation,
        "train_ids": list(trainer_ids(preset, split)),
        "validation_ids": list(preset.val_ids) if split == "val" else [],
    }
    return finish(trainer, out, provenance)


def trainer_ids(preset: Preset, split: str) -> tuple[int, ...]:
    return preset.train_ids if split == "val" else preset.train_ids + preset.val_ids
