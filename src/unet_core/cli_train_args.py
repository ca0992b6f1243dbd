"""The values of ``napari-unet train``'s options, checked before anything is trained: each
wrong one is a one-line ValueError that names the option."""

from __future__ import annotations

import math
from pathlib import Path


def parse_classes(text: str | None) -> list[str] | None:
    """``--classes a,b,...`` as two or more distinct names (ValueError in one line if not)."""
    if not text:
        return None
    classes = [c.strip() for c in text.split(",") if c.strip()]
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"--classes needs two or more distinct names, got {text!r}")
    return classes


def parse_voxel_size(text: str | None) -> tuple[float, float, float] | None:
    """``--voxel-size Z,Y,X`` as three positive numbers (ValueError in one line if not)."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(v > 0 for v in values):
        raise ValueError(f"--voxel-size needs three positive numbers Z,Y,X, got {text!r}")
    return values


#: a week: longer than any training here runs
MAX_MINUTES = 7 * 24 * 60


def check_minutes(minutes: float | None) -> None:
    """A one-line ValueError for a time budget that is not a positive, finite number."""
    if minutes is not None and not (math.isfinite(minutes) and 0 < minutes <= MAX_MINUTES):
        raise ValueError(f"--minutes must be a number of minutes in (0, {MAX_MINUTES}], "
                         f"got {minutes}")  # fmt: skip


def check_out(out: Path, replace: bool) -> Path:
    """The model file ``--out`` names (``.safetensors`` added), checked before any training:
    a file name (not empty, not a folder), a folder that exists or can be made and can be
    written, and no file of that name unless ``replace``."""
    import tempfile

    if not str(out).strip() or out.name in ("", ".", ".."):
        raise ValueError(f"--out must name a model file, got {str(out)!r}")
    out = out if out.suffix == ".safetensors" else Path(f"{out}.safetensors")
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder: name a file in it")
    if out.exists() and not replace:
        raise ValueError(f"{out} exists: choose another --out, or pass --overwrite or --resume")
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ValueError(f"--out {out}: {blocking} is a file, not a folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as exc:
        raise ValueError(f"--out {out}: its folder cannot be written ({exc.strerror})") from None
    return out
