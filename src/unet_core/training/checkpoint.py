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
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """(state, info) of a checkpoint; never unpickles arbitrary objects."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        return payload["state"], json.loads(payload["info"])
    except Exception as exc:
        raise ValueError(
            f"{Path(path).name} is not a readable training checkpoint ({exc})"
        ) from exc
