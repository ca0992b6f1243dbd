"""Segmenting many files: the one code path behind ``napari-unet segment`` (and the widgets).

Each file is read, predicted and written on its own: a bad file is reported with a one-line
reason and the others go on. Outputs are written under a temporary name and renamed; an input
is never opened for writing, and an existing output is skipped unless ``overwrite``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.io import ImageReadError, is_image_path, read_image, write_png, write_tiff
from .inference.predictor import Predictor
from .overlay import overlay
from .postprocess import probabilities_to_mask

log = logging.getLogger(__name__)

OUTPUT_SUFFIXES = ("_mask", "_prob")


@dataclass
class FileResult:
    """What happened to one input file."""

    path: Path
    status: str  # "ok", "skipped" or "failed"
    reason: str = ""
    outputs: tuple[Path, ...] = ()
    shape: tuple[int, ...] = ()
    seconds: float = 0.0
    foreground: float = float("nan")


def is_output_name(path: Path) -> bool:
    """Whether ``path`` is named like one of our outputs (``<stem>_mask.tif``, ``_prob.tif``)."""
    return path.suffix.lower() == ".tif" and path.stem.endswith(OUTPUT_SUFFIXES)


def find_inputs(
    inputs: Iterable[str | os.PathLike],
    pattern: str = "*",
    recursive: bool = False,
    skip_outputs: bool = True,
) -> list[Path]:
    """Files named directly, plus the image files in named folders, sorted; in folders, files
    named like our outputs are skipped when ``skip_outputs``.

    A named path that does not exist is kept, so that it is reported as failed.
    """
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = path.rglob(pattern) if recursive else path.glob(pattern)
            found.extend(
                p
                for p in sorted(files)
                if p.is_file() and is_image_path(p) and not (skip_outputs and is_output_name(p))
            )
        else:
            found.append(path)
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def output_paths(path: Path, out_dir: Path) -> tuple[Path, Path, Path]:
    """(mask, probability, overlay) output paths of an input file."""
    stem = out_dir / path.stem
    return Path(f"{stem}_mask.tif"), Path(f"{stem}_prob.tif"), Path(f"{stem}_overlay.png")


def segment_file(
    predictor: Predictor,
    path: Path,
    out_dir: Path,
    *,
    threshold: float = 0.5,
    save_prob: bool = False,
    save_overlay: bool = False,
    overwrite: bool = False,
    protected: frozenset[Path] = frozenset(),
    progress: Callable[[int, int], object] | None = None,
) -> FileResult:
    """Segment one file into ``out_dir``; never raises for a bad file (see ``FileResult``)."""
    start = time.perf_counter()
    mask_path, prob_path, overlay_path = output_paths(path, out_dir)
    targets = (mask_path,) + (prob_path,) * save_prob + (overlay_path,) * save_overlay
    if any(t.resolve() in protected for t in targets):
        return FileResult(path, "failed", "its output name would overwrite an input file")
    if not overwrite and all(t.exists() for t in targets):
        return FileResult(path, "skipped", "outputs exist (use --overwrite)", targets)
    try:
        image = read_image(path)
        if image.ndim != 2 and not (image.ndim == 3 and image.shape[-1] <= 4):
            raise ValueError(f"expected a 2-D image, got shape {image.shape}")
        prob = predictor(image, progress=progress)
        mask = probabilities_to_mask(prob, threshold)
        write_tiff(mask_path, mask)
        if save_prob:
            write_tiff(prob_path, prob)
        if save_overlay:
            write_png(overlay_path, overlay(image, mask))
    except (ImageReadError, ValueError, RuntimeError) as exc:
        reason = str(exc).removeprefix(f"{path.name}: ")
        return FileResult(path, "failed", reason, seconds=time.perf_counter() - start)
    except OSError as exc:
        return FileResult(
            path, "failed", f"{exc.strerror or exc}", seconds=time.perf_counter() - start
        )
    fg = float(np.mean(mask > 0)) if prob.shape[0] == 2 else float(np.mean(mask != 0))
    return FileResult(path, "ok", "", targets, image.shape, time.perf_counter() - start, fg)


def segment_files(
    predictor: Predictor,
    files: list[Path],
    out_dir: str | os.PathLike,
    **options,
) -> Iterator[FileResult]:
    """Segment each file in turn, yielding one :class:`FileResult` per file."""
    out_dir = Path(out_dir)
    protected = frozenset(p.resolve() for p in files)
    claimed: dict[Path, Path] = {}  # output -> the input that produces it in this run
    for path in files:
        mask_path = output_paths(path, out_dir)[0].resolve()
        if mask_path in claimed:
            other = claimed[mask_path]
            yield FileResult(path, "failed", f"same output name as {other} (rename one of them)")
            continue
        claimed[mask_path] = path
        result = segment_file(predictor, path, out_dir, protected=protected, **options)
        if result.status == "failed":
            log.warning("%s: %s", path.name, result.reason)
        yield result
