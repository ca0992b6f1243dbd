"""Which files a batch segments, where their outputs go, and what happened to each."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..data.io import is_image_path

OUTPUT_SUFFIXES = ("_mask", "_prob", "_instances")
#: the per-file report a batch writes into its output folder
REPORT_NAME = "segmentation.csv"
RUN_RECORD = "segmentation_run.json"  # the run's model and options, beside the report


class BatchError(ValueError):
    """A batch that cannot start (no inputs, an unusable output folder, a bad model)."""


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
    scale: float = 1.0
    measurements: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Input:
    """A file to segment and the sub-folder of the output folder its outputs go to."""

    path: Path
    subdir: Path = Path()


def is_output_name(path: Path) -> bool:
    """Whether ``path`` is named like one of our outputs (``<stem>_mask.tif``, ``_prob.tif``)."""
    return path.suffix.lower() == ".tif" and path.stem.endswith(OUTPUT_SUFFIXES)


def _listed(path: Path, images_only: bool, skip_outputs: bool) -> bool:
    if not path.is_file() or path.name.startswith(".") or path.name in (REPORT_NAME, RUN_RECORD):
        return False
    if path.name.endswith("_overlay.png") or (skip_outputs and is_output_name(path)):
        return False
    return is_image_path(path) or not images_only


def collect_inputs(
    inputs: Iterable[str | os.PathLike],
    pattern: str = "*",
    recursive: bool = False,
    *,
    images_only: bool = True,
    skip_outputs: bool = True,
) -> list[Input]:
    """Files named directly, plus the files matching ``pattern`` in named folders, sorted.

    In folders, hidden files, our own outputs and report are left out, and so are files that
    are not images unless ``images_only=False`` (a batch reports them as skipped). Files found
    in sub-folders keep that sub-folder below the output folder. A named path that does not
    exist is kept, so that it is reported as failed.
    """
    found: list[Input] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = path.rglob(pattern) if recursive else path.glob(pattern)
            found.extend(
                Input(p, p.parent.relative_to(path))
                for p in sorted(files)
                if _listed(p, images_only, skip_outputs)
            )
        else:
            found.append(Input(path))
    unique: dict[Path, Input] = {}
    for i in found:
        unique.setdefault(i.path.resolve(), i)
    return list(unique.values())


def find_inputs(
    inputs: Iterable[str | os.PathLike],
    pattern: str = "*",
    recursive: bool = False,
    skip_outputs: bool = True,
) -> list[Path]:
    """The image files of :func:`collect_inputs`, as paths."""
    return [i.path for i in collect_inputs(inputs, pattern, recursive, skip_outputs=skip_outputs)]


def output_paths(path: Path, out_dir: Path) -> tuple[Path, Path, Path]:
    """(mask, probability, overlay) output paths of an input file."""
    stem = out_dir / path.stem
    return Path(f"{stem}_mask.tif"), Path(f"{stem}_prob.tif"), Path(f"{stem}_overlay.png")


def instances_path(path: Path, out_dir: Path) -> Path:
    """Where the separate objects (instance labels) of an input file go."""
    return out_dir / f"{path.stem}_instances.tif"


def check_output_folder(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` if needed and prove it is writable; BatchError with the reason if not."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BatchError(f"cannot use {out} as the output folder: it is a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"cannot create the output folder {out}: {exc.strerror or exc}") from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BatchError(f"cannot write to the output folder {out}: {exc.strerror or exc}") from exc
    return out
