"""Which files a batch segments, where their outputs go, and what happened to each."""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..base.files import PART_NAME as _PART
from ..base.names import one_line, path_text
from ..data.io import is_image_path, read_metadata

OUTPUT_SUFFIXES = ("_mask", "_prob", "_instances")
#: the per-file report a batch writes into its output folder
REPORT_NAME = "segmentation.csv"
RUN_RECORD = "segmentation_run.json"  # the last run's model and options, beside the report
RUNS_LOG = "segmentation_runs.jsonl"  # every run's record, one line each


class BatchError(ValueError):
    """A batch that cannot start (no inputs, an unusable output folder, a bad model)."""


@dataclass
class FileResult:
    """What happened to one input file."""

    #: the reason of a file whose outputs exist (a resumed run)
    EXISTS = "outputs exist (--overwrite, or Batch's 'overwrite existing results', redoes it)"
    #: ... as reports written before 2026-12-07 say it
    EXISTS_BEFORE = "outputs exist (use overwrite to redo)"

    path: Path
    status: str  # "ok", "skipped" or "failed"
    reason: str = ""
    outputs: tuple[Path, ...] = ()
    shape: tuple[int, ...] = ()
    seconds: float = 0.0
    foreground: float = float("nan")
    scale: float = 1.0
    measurements: dict = field(default_factory=dict)
    precision: str = ""  # the network's arithmetic: "fp32" or "bf16"
    finer: tuple[float, ...] = ()  # further scales it was segmented at, fused (a large photograph)
    notes: tuple[str, ...] = ()  # what the model's task says of the image (Task.notes)


@dataclass(frozen=True)
class Input:
    """A file to segment and the sub-folder of the output folder its outputs go to."""

    path: Path
    subdir: Path = Path()
    skip: str = ""  # why a batch skips this folder entry without opening it
    fail: str = ""  # why it fails without being opened (a folder that cannot be listed)


def is_output_name(path: Path) -> bool:
    """Whether ``path`` is named like one of our outputs (``<stem>_mask.tif``, ``_prob.tif``)."""
    return path.suffix.lower() == ".tif" and path.stem.endswith(OUTPUT_SUFFIXES)


def real_path(path: str | os.PathLike) -> Path:
    """The absolute path with links resolved as far as they go (a link loop or a dangling
    link does not raise), to tell when two names are one file."""
    return Path(os.path.realpath(path))


def entry_problem(path: Path) -> tuple[str, str] | None:
    """("failed" or "skipped", reason) for a named entry that is not a regular file: a
    dangling link, a link loop, a folder, a FIFO or device (never opened: it could block).
    None for a regular file (or a link to one)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "failed", "a symbolic link loop"
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return "failed", f"a broken symbolic link (to {one_line(os.readlink(path))})"
        if exc.errno == errno.ENOENT:
            return "failed", "no such file"
        return "failed", f"cannot be opened ({exc.strerror or exc})"
    if stat.S_ISREG(info.st_mode):
        return None
    if stat.S_ISDIR(info.st_mode):
        return "skipped", "a folder, not an image file (use recursive to segment inside it)"
    return "failed", "not a regular file (a pipe, socket or device)"


def not_segmented(path: Path) -> tuple[str, str] | None:
    """(status, reason) for an input that is never opened: :func:`entry_problem`, or a file
    that is not an image (skipped). None for an image file."""
    problem = entry_problem(path)
    if problem is None and not is_image_path(path):
        problem = "skipped", f"not an image file ({path.suffix or 'no suffix'})"
    return problem


def _bookkeeping(path: Path) -> bool:
    """The report, the run records and temporary files of this tool."""
    return path.name in (REPORT_NAME, RUN_RECORD, RUNS_LOG) or bool(_PART.match(path.name))


def _listed(path: Path, images_only: bool, skip_outputs: bool) -> bool:
    if _bookkeeping(path) or path.name.endswith("_overlay.png"):
        return False
    if not images_only:  # a batch lists every entry, and says why it skips or fails one
        return True
    if not path.is_file() or path.name.startswith("."):
        return False
    return is_image_path(path) and not (skip_outputs and is_output_name(path))


def _skip_reason(path: Path, skip_outputs: bool) -> str:
    if path.name.startswith("."):
        return "a hidden file"
    if skip_outputs and is_output_name(path):
        return "named like an output of napari-unet (<stem>_mask.tif)"
    return ""


def _entries(folder: Path, pattern: str, recursive: bool, exclude: frozenset[Path]):
    """(path, failure) for the entries of ``folder`` whose name matches ``pattern``, sorted;
    failure is "" or why a folder could not be listed. With ``recursive`` it descends into
    sub-folders but not into links to folders (a link to ``/`` would walk the whole disk);
    without it, sub-folders are entries too, so that a batch can list them."""
    if "/" in pattern or os.sep in pattern:  # a pattern with folders: glob's own rules
        found = folder.rglob(pattern) if recursive else folder.glob(pattern)
        yield from ((p, "") for p in sorted(found))
        return
    errors: list[OSError] = []
    for root, dirs, files in os.walk(folder, onerror=errors.append):
        for exc in errors:  # a sub-folder that cannot be listed is an entry that failed
            yield Path(exc.filename), f"cannot be listed ({exc.strerror or exc})"
        errors.clear()
        dirs[:] = sorted(d for d in dirs if real_path(Path(root) / d) not in exclude)
        links = {d for d in dirs if os.path.islink(os.path.join(root, d))}
        listed = [d for d in dirs if not recursive or d in links or is_image_path(d)]
        dirs[:] = [d for d in dirs if d not in links]
        for name in sorted(files + listed):
            if fnmatch.fnmatch(name, pattern):
                yield Path(root) / name, ""
        if not recursive:
            break
    for exc in errors:  # the folder itself
        yield Path(exc.filename), f"cannot be listed ({exc.strerror or exc})"


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. inside a folder this user may not read: reported as it is
        return False


def collect_inputs(
    inputs: Iterable[str | os.PathLike],
    pattern: str = "*",
    recursive: bool = False,
    *,
    images_only: bool = True,
    skip_outputs: bool = True,
    exclude: Iterable[str | os.PathLike] = (),
) -> list[Input]:
    """Files named directly, plus the entries matching ``pattern`` in named folders, sorted.

    With ``images_only`` (the default) only image files are kept from folders: hidden files,
    our own outputs and report, sub-folders, links that lead nowhere are left out. A batch
    passes ``images_only=False`` and gets every entry, to report each one it cannot segment
    with its reason. Files found in sub-folders keep that sub-folder below the output folder;
    folders in ``exclude`` (the output folder) are not searched. A named path that does not
    exist is kept, so that it is reported as failed. A file reached twice (a link beside its
    target) is segmented once; with ``images_only=False`` the other name is listed as
    skipped, saying which file it is.
    """
    skip = frozenset(real_path(p) for p in exclude)
    found: list[Input] = []
    for item in inputs:
        path = Path(item)
        if _is_dir(path):
            for p, failure in _entries(path, pattern, recursive, skip):
                if failure and not images_only:
                    found.append(Input(p, Path(), fail=failure))
                elif not failure and _listed(p, images_only, skip_outputs):
                    sub = p.parent.relative_to(path)
                    reason = _skip_reason(p, skip_outputs)
                    if recursive and os.path.islink(p) and os.path.isdir(p):
                        reason = "a link to a folder (links are not followed)"
                    found.append(Input(p, sub, reason))
        else:
            found.append(Input(path))
    return _once(found, keep_aliases=not images_only)


def _once(found: list[Input], keep_aliases: bool) -> list[Input]:
    """One input per file: a path given twice once; a link to a file already listed (or the
    file a listed link points to) skipped with its reason, or left out."""
    keys = [real_path(i.path) if os.path.exists(i.path) else Path(os.path.abspath(i.path))
            for i in found]  # broken entries are each their own  # fmt: skip
    groups: dict[Path, list[Input]] = {}
    for i, key in zip(found, keys):
        groups.setdefault(key, []).append(i)
    primary = {k: next((i for i in g if not os.path.islink(i.path)), g[0])
               for k, g in groups.items()}  # fmt: skip
    out, seen = [], set()
    for i, key in zip(found, keys):
        first = primary[key]
        if i is first:
            out.append(i)
        elif keep_aliases and i.path != first.path and (i.path, key) not in seen:
            seen.add((i.path, key))
            out.append(Input(i.path, i.subdir, f"the same file as {one_line(first.path)}"))
    return out


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


def source_text(path: Path) -> str:
    """The input a mask was made from, as recorded in the mask's TIFF: its real path as text."""
    return path_text(real_path(path))


def mask_source(mask: Path) -> str | None:
    """The input recorded in a mask written by this tool: "" for masks that record none (older
    ones), None for a file that is not a TIFF at all (empty, junk)."""
    try:
        return str(read_metadata(mask).get("source", ""))
    except ValueError:  # not a TIFF we can read
        return None


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
