"""Resumable training checkpoints: tensors and JSON only, loaded with ``weights_only=True``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ..base.files import atomic_write


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any], info: dict[str, Any]) -> Path:
    """Write ``state`` (state dicts of tensors) and ``info`` (JSON-able) atomically."""
    payload = {"state": state, "info": json.dumps(info)}
    try:
        return atomic_write(path, lambda tmp: torch.save(payload, tmp))
    except RuntimeError as exc:  # torch's writer: "[enforce fail at ...] unexpected pos"
        import errno
        import shutil

        if shutil.disk_usage(Path(path).parent).free < 64 << 20:
            raise OSError(errno.ENOSPC, f"No space left on device writing {Path(path).name}") \
                from exc  # fmt: skip
        raise OSError(errno.EIO, f"{Path(path).name} could not be written ({exc})") from exc


class CheckpointError(ValueError):
    """A checkpoint that cannot resume a training: the message names the file and what is
    wrong with it."""


#: what a checkpoint's info holds, and of which JSON types
INFO = {"step": int, "history": list, "seconds": (int, float), "bad_rounds": int,
        "rng": dict, "config": dict, "architecture": dict}  # fmt: skip
STATE = ("model", "optimizer", "torch_rng", "best_model", "ema_model")
MAX_BYTES = 4_000_000_000  # weights, optimizer moments and averages of the largest model


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state, info) of a checkpoint, checked whole (:class:`CheckpointError` naming the file
    and the field otherwise); never unpickles arbitrary objects, never opens what is not a
    regular file (a FIFO would hang)."""
    import stat

    path = Path(path)
    try:
        info = path.stat()
    except OSError as exc:
        raise CheckpointError(f"{path.name}: no checkpoint to resume ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{path.name} is not a regular file: not a checkpoint")
    if info.st_size > MAX_BYTES:
        raise CheckpointError(f"{path.name} is {info.st_size / 1e9:.1f} GB: not a checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        state, meta = payload["state"], json.loads(payload["info"])
    except Exception as exc:  # a pickle of code, a damaged file, not this tool's
        raise CheckpointError(f"{path.name} is not a readable training checkpoint "
                              f"({type(exc).__name__})") from exc  # fmt: skip
    check_checkpoint(path, state, meta)
    return state, meta


def check_checkpoint(path: Path, state: Any, info: Any) -> None:
    """A :class:`CheckpointError` for a checkpoint entry of the wrong kind or value."""
    name = Path(path).name
    if not isinstance(state, dict) or not isinstance(info, dict):
        raise CheckpointError(f"{name}: not a checkpoint of this tool")
    for key in STATE:
        if key not in state:
            raise CheckpointError(f"{name}: its state has no {key!r}")
    for key in ("model", "optimizer", "best_model", "ema_model"):
        if not isinstance(state[key], dict):
            raise CheckpointError(f"{name}: its {key!r} is not a state dict")
    if not isinstance(state["torch_rng"], torch.Tensor) or state["torch_rng"].dtype != torch.uint8:
        raise CheckpointError(f"{name}: its random state is not a random state")
    for key, kind in INFO.items():
        value = info.get(key)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise CheckpointError(f"{name}: its {key!r} is missing or not of its kind "
                                  f"(got {value!r:.40})")  # fmt: skip
    if info["step"] < 0 or info["bad_rounds"] < 0 or not 0 <= info["seconds"] < 1e9:
        raise CheckpointError(f"{name}: its step, time or patience count is negative")
    best = info.get("best")
    if best is not None and (isinstance(best, bool) or not isinstance(best, (int, float))
                             or best != best or abs(best) == float("inf")):  # fmt: skip
        raise CheckpointError(f"{name}: its best score is not a number (got {best!r:.40})")
    scale = info.get("lr_scale", 1.0)  # a plateau schedule's factor (absent before it)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 1:
        raise CheckpointError(f"{name}: its learning-rate scale is not in (0, 1] "
                              f"(got {scale!r:.40})")  # fmt: skip
    for record in info["history"]:
        if not (isinstance(record, dict) and record.get("kind") in ("step", "epoch")
                and isinstance(record.get("step"), int)
                and all(isinstance(v, (int, float, str, type(None)))
                        for v in record.values())):  # fmt: skip
            raise CheckpointError(f"{name}: its history is not a list of records")


def check_optimizer(optimizer) -> None:
    """A ValueError for an optimizer state whose hyperparameters no step can use (a resumed
    checkpoint's)."""
    import math

    for group in optimizer.param_groups:
        for key in ("lr", "eps", "weight_decay", "momentum"):
            value = group.get(key, 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value) or value < 0:  # fmt: skip
                raise ValueError(f"its optimizer's {key} is {value!r}")
        betas = group.get("betas", (0.9, 0.999))
        if (not isinstance(betas, (list, tuple)) or len(betas) != 2
                or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
            raise ValueError(f"its optimizer's betas are {betas!r}")


def check_architecture(path: str | os.PathLike, saved: dict, current: dict) -> None:
    """A :class:`CheckpointError` naming what differs when a checkpoint's network is not the
    one it is to resume."""
    if saved != current:
        diff = ", ".join(f"{k} {saved.get(k)} (now {current.get(k)})"
                         for k in sorted({*saved, *current}) if saved.get(k) != current.get(k))
        raise CheckpointError(f"{Path(path).name} was trained with another architecture: "
                              f"{diff}")  # fmt: skip
