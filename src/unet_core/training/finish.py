"""The end of a training run, whatever started it (a preset, a user's own images): the weights
to keep, the model file with its card and provenance, the learning curve beside it."""

from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..base.arrays import axes_of
from ..formats.safetensors_file import save_model
from ..formats.store import read_card
from ..model.unet import UNet
from .config import TrainConfig
from .trainer import Trainer

#: entries of a validation record that are not scores
NOT_SCORES = ("loss", "lr", "seconds", "best")


@dataclass
class TrainResult:
    """What a training run made."""

    path: Path
    model: UNet
    steps: int
    seconds: float
    validation: dict  # the best validation's scores ({} without validation)
    stopped: bool  # stopped early (Cancel, Ctrl+C): the best weights so far were saved
    curve: Path | None = None


def finish(trainer: Trainer, out: Path, provenance: dict[str, Any], *, stopped: bool = False,
           **card: Any) -> TrainResult:  # fmt: skip
    """Save the best validated weights (else the averaged ones, else the last) to ``out``, and
    their learning curve as ``<out stem>_curve.png``.

    ``card``: the model card's entries (``save_model``'s); ``provenance``: what this kind of
    run records, followed by what every run records: steps, passes over the data, validations,
    the best validation's scores, the recipe, seconds, whether it was stopped early, the date,
    torch, the machine and the precision."""
    trainer.keep_best()
    config, epochs = trainer.config, trainer.epochs()
    best = best_entry(epochs, config)
    scores = {k: round(v, 4) for k, v in best.items() if k not in NOT_SCORES
              and isinstance(v, float) and np.isfinite(v)}  # fmt: skip
    provenance = {
        **provenance, "steps": trainer.step, "epochs": data_passes(trainer),
        "validations": len(epochs), "validation": scores, "recipe": config.to_dict(),
        "train_seconds": round(trainer.seconds, 1), "stopped_early": stopped,
        "trained": _dt.date.today().isoformat(), "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, {trainer.device}",
        "precision": trainer.precision,
    }  # fmt: skip
    trainer.model.to(memory_format=torch.contiguous_format)
    path = save_model(trainer.model, out, provenance=provenance, **card)
    trainer.model.card = read_card(path)  # the card written (save_model leaves the model as is)
    curve = write_curves(epochs, out.with_name(out.stem + "_curve.png"), config.monitor)
    return TrainResult(path, trainer.model.eval(), trainer.step, trainer.seconds, scores, stopped,
                       curve)  # fmt: skip


def data_passes(trainer: Trainer) -> float:
    """Epochs in the usual sense: labelled pixels of all patches drawn, over the training
    pixels (4 significant digits)."""
    pixels = sum(s.labels.size for s in trainer.sampler.samples)
    patch = np.prod(axes_of(trainer.out_size, trainer.model.spatial_dims))
    drawn = trainer.step * trainer.config.batch_size * int(patch)
    return float(f"{drawn / max(pixels, 1):.4g}")


def best_entry(epochs: list[dict], config: TrainConfig) -> dict:
    """The validation record with the best ``config.monitor`` (the last one without)."""
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
