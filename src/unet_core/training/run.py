"""Train a bundled model from its preset: data, loop, checkpoint/resume, model card, curves."""

from __future__ import annotations

import datetime as _dt
import logging
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..data.datasets import rescale_sample
from ..model.card import ModelCard
from ..model.store import save_model
from ..model.unet import UNet
from ..scoring import sample_scorer
from ..tasks import task_of
from .config import TrainConfig
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
    validation ids; ``split="all"`` trains on both, without validation."""
    if split not in ("val", "all"):
        raise ValueError(f"split must be 'val' or 'all', got {split!r}")
    root = find_data(preset, data)
    train = preset.load(root, trainer_ids(preset, split), preset.preprocessing)
    if config.input_scale != 1.0:
        train = [rescale_sample(s, config.input_scale, preset.preprocessing) for s in train]
    val = preset.load(root, preset.val_ids, preset.preprocessing) if split == "val" else []
    torch.manual_seed(config.seed)
    model = UNet(**preset.architecture)
    model.card = ModelCard(
        model.config, preset.preprocessing, list(preset.classes), preset.name, preset.description,
        dict(preset.scale), task=preset.task,
    )  # fmt: skip
    evaluate = sample_scorer(task_of(preset.task), list(preset.classes))
    return Trainer(model, train, config, val=val, evaluate=evaluate, device=device,
                   checkpoint=checkpoint)  # fmt: skip


def train_preset(
    preset: Preset,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    config: TrainConfig | None = None,
    split: str = "val",
    device: str = "auto",
    resume: bool = False,
    on_log: Callable[[dict], None] | None = None,
) -> Path:
    """Train, then save the model (the best validated weights, or the last ones) to ``out``.

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
        log.info("resumed from %s at step %d", ckpt, trainer.step)
    scale = task_of(preset.task).card_scale([s.roi for s in trainer.sampler.samples])
    if scale:
        trainer.model.card.scale = scale
    start = time.perf_counter()
    for entry in trainer.fit():
        if on_log is not None:
            on_log(entry)
    trainer.keep_best()
    epochs = trainer.epochs()
    best = best_entry(epochs, config)
    provenance = {
        "data": preset.citation,
        "train_ids": list(trainer_ids(preset, split)),
        "validation_ids": list(preset.val_ids) if split == "val" else [],
        "steps": trainer.step,
        "epochs": data_passes(trainer),
        "validations": len(epochs),
        "validation": {
            k: round(v, 4)
            for k, v in best.items()
            if isinstance(v, float) and k not in ("loss", "lr", "seconds", "best")
        },  # fmt: skip
        "recipe": config.to_dict(),
        "train_seconds": round(time.perf_counter() - start, 1),
        "trained": _dt.date.today().isoformat(),
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, {trainer.device}",
        "precision": trainer.precision,
    }
    trainer.model.to(memory_format=torch.contiguous_format)
    path = save_model(trainer.model, out, provenance=provenance)
    write_curves(epochs, out.with_name(out.stem + "_curve.png"), config.monitor)
    return path


def data_passes(trainer: Trainer) -> float:
    """Epochs in the usual sense: labelled pixels of all patches drawn, over the training
    pixels (4 significant digits)."""
    pixels = sum(s.labels.size for s in trainer.sampler.samples)
    drawn = trainer.step * trainer.config.batch_size * trainer.out_size**2
    return float(f"{drawn / max(pixels, 1):.4g}")


def trainer_ids(preset: Preset, split: str) -> tuple[int, ...]:
    return preset.train_ids if split == "val" else preset.train_ids + preset.val_ids


def best_entry(epochs: list[dict], config: TrainConfig) -> dict:
    scored = [e for e in epochs if config.monitor in e]
    if not scored:
        return epochs[-1] if epochs else {}
    pick = max if config.monitor_mode == "max" else min
    return pick(scored, key=lambda e: e[config.monitor])


def write_curves(epochs: list[dict], path: Path, monitor: str) -> Path | None:
    """Loss (and the monitored metric) against step, as a PNG."""
    if not epochs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [e["step"] for e in epochs]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, [e["loss"] for e in epochs], "o-", label="training loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if any(monitor in e for e in epochs):
        ax2 = ax.twinx()
        pts = [(e["step"], e[monitor]) for e in epochs if monitor in e]
        ax2.plot(*zip(*pts), "s-", color="tab:orange", label=f"validation {monitor}")
        ax2.set_ylabel(monitor)
        fig.legend(loc="upper center", ncol=2, fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
