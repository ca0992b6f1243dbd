"""The per-file CSV a batch writes into its output folder, with a summary line at the end.

Each row is appended to ``segmentation.csv`` (and flushed) as its file finishes, so a run that
is killed leaves a report of what it finished. When the run ends, cancelled or not, the report
is rewritten in order (this run's rows, then the rows of earlier runs about files it did not
touch) with the summary line. A file skipped because it was segmented before keeps the
measurements of that earlier run. Every read and write holds a lock on the output folder, so
two runs into one folder lose no row of either.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import math
import os
from pathlib import Path

from ..base.files import atomic_write, folder_lock
from ..base.names import one_line, path_text
from .files import REPORT_NAME, FileResult

OBJECTS = ("objects", "mean_object_area")
OBJECTS_3D = ("objects", "mean_object_volume")
COLUMNS = ("file", "status", "reason", "model", "run", "height", "width", "channels", "slices",
           "seconds", "scale", "finer_scale", "precision", "foreground_fraction",
           "mask")  # fmt: skip
#: columns of this run's own doing, never carried over from an earlier run's row (a skipped
#: file keeps the ``model`` that made its mask, and its measurements)
_OWN = ("file", "status", "reason", "run", "seconds", "precision", "mask")


def columns_for(measurements: tuple[str, ...], classes: list[str],
                instances: bool = False, volumes: bool = False) -> tuple[str, ...]:  # fmt: skip
    """The report's columns: the task's ``measurements`` (e.g. vessel length), the area of each
    class but the background (``area_<name>``, pixels) and, with ``instances``, the objects'
    count and mean area, before the mask's path; for a 3-D model's ``volumes``, each class's
    volume (``volume_<name>``, voxels) and the objects' mean volume instead."""
    size, objects = ("volume", OBJECTS_3D) if volumes else ("area", OBJECTS)
    extra = (*measurements, *(f"{size}_{c}" for c in classes[1:]),
             *(objects if instances else ()))  # fmt: skip
    return COLUMNS[:-1] + extra + COLUMNS[-1:]


def read_report(path: str | os.PathLike) -> list[dict]:
    """The rows of a report (summary lines left out; a ``#`` inside a quoted file name is
    not one)."""
    return _read(Path(path))[1]


class ReportError(ValueError):
    """An existing report that cannot be parsed as one (damaged, or not ours)."""


def _read(path: Path) -> tuple[list[str] | None, list[dict]]:
    """(columns, rows) of a report; (None, []) when there is none."""
    try:
        f = path.open(newline="", encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None, []
    with f:
        try:
            reader = csv.DictReader(_records(f))
            rows = [row for row in reader if row.get("file")]
        except csv.Error as exc:
            raise ReportError(f"{path.name} cannot be read as a report ({exc})") from None
        return (list(reader.fieldnames) if reader.fieldnames else None), rows


def _set_aside(path: Path) -> Path:
    """Move a damaged report out of the way (kept, never deleted): ``<name>.unreadable[.N]``."""
    for n in range(1000):
        aside = path.with_name(f"{path.stem}.unreadable{f'.{n}' if n else ''}{path.suffix}")
        if not aside.exists():
            os.replace(path, aside)
            return aside
    raise ReportError(f"{path} cannot be read as a report, and cannot be moved aside")


def _records(lines):
    """CSV records, each possibly several lines long (a quoted newline), leaving out the
    comment lines that start a record."""
    record = ""
    for line in lines:
        if not record and line.startswith("#"):
            continue
        record += line
        if record.count('"') % 2 == 0:  # outside quotes: the record is complete
            yield record
            record = ""
    if record:
        yield record


def result_row(r: FileResult) -> dict:
    shape = tuple(r.shape)
    stack = len(shape) == 4 or (len(shape) == 3 and shape[-1] > 4)
    dims = shape[1:] if stack else shape
    row = {
        "file": path_text(r.path), "status": r.status,
        "reason": one_line("; ".join(t for t in (r.reason, *r.notes) if t)),
        "height": dims[0] if dims else "", "width": dims[1] if len(dims) > 1 else "",
        "channels": (dims[2] if len(dims) > 2 else 1) if dims else "",
        "slices": shape[0] if stack else (1 if dims else ""),
        "seconds": f"{r.seconds:.2f}", "scale": f"{r.scale:.3f}" if r.status == "ok" else "",
        "finer_scale": ";".join(f"{f:.3f}" for f in r.finer),
        "precision": r.precision if r.status == "ok" else "",
        "foreground_fraction": "" if math.isnan(r.foreground) else f"{r.foreground:.5f}",
        "mask": path_text(r.outputs[0]) if r.outputs else "",
    }  # fmt: skip
    for k, v in r.measurements.items():
        row[k] = f"{v:.5g}" if isinstance(v, float) else v
    return row


class Report:
    """Writes the rows of one run; use as a context manager or call :meth:`close`.

    ``run`` and ``model`` fill those columns (:mod:`.runs`): the run's id in every row it
    writes, the model in the rows of the files it segmented or failed on."""

    def __init__(self, out_dir: str | os.PathLike, columns: tuple[str, ...] = COLUMNS,
                 run: str = "", model: str = ""):  # fmt: skip
        self.run, self.model = run, model
        self.folder = Path(out_dir)
        self.path = self.folder / REPORT_NAME
        self.set_aside: Path | None = None
        with folder_lock(self.folder):
            try:
                header, rows = _read(self.path)
            except ReportError:  # a damaged report is kept beside, and a new one started
                self.set_aside = _set_aside(self.path)
                header, rows = None, []
        self.previous = {row["file"]: row for row in rows}
        self.columns = _merge(columns, header or ())
        self.rows: dict[str, dict] = {}  # this run's, in order
        self.closed = False

    def add(self, result: FileResult) -> dict:
        row = result_row(result)
        row["run"], row["model"] = self.run, self.model if result.status != "skipped" else ""
        before = self.previous.get(row["file"])
        if result.status == "skipped" and before and before.get("status") in ("ok", "skipped"):
            row.update({k: before.get(k, "") for k in self.columns if k not in _OWN})
            earlier = before.get("reason", "")
            for said in (FileResult.EXISTS, FileResult.EXISTS_BEFORE):
                earlier = earlier.removeprefix(said).lstrip("; ")
            if earlier and row["reason"] == FileResult.EXISTS:  # what was said of it then
                row["reason"] = f"{FileResult.EXISTS}; {earlier}"
        self.rows.pop(row["file"], None)
        self.rows[row["file"]] = row
        try:
            with folder_lock(self.folder):
                header = _read_header(self.path)
                columns = _merge(self.columns, header or ())
                if header is None or tuple(header) != columns:  # new, or another run's columns
                    _, rows = _read(self.path)
                    self.columns = columns
                    self._write(rows + [row])
                else:
                    self._append(row)
        except (OSError, ReportError):  # a full disk: the row stays here; close() writes all
            pass
        return row

    def close(self, summary: str) -> Path:
        if self.closed:
            return self.path
        self.closed = True
        with folder_lock(self.folder):
            try:
                header, rows = _read(self.path)
            except ReportError:  # damaged while this run went on: keep it, write ours
                self.set_aside = _set_aside(self.path)
                header, rows = None, list(self.previous.values())
            self.columns = _merge(self.columns, header or ())
            others: dict[str, dict] = {}
            written = {row["mask"] for row in self.rows.values() if row["status"] == "ok"}
            for row in rows:  # the latest row of each file that earlier or other runs wrote,
                if row["file"] not in self.rows:  # unless this run overwrote its outputs
                    others.pop(row["file"], None)
                    if not row.get("mask") or row["mask"] not in written:
                        others[row["file"]] = row
            if others and summary:
                summary = f"{summary} (this run); {len(others)} row(s) of earlier runs"
            try:
                self._write([*self.rows.values(), *others.values()], summary)
            except OSError as exc:  # name the report, not its temporary file
                raise OSError(exc.errno, f"cannot write the report ({exc.strerror or exc})",
                              str(self.path)) from None  # fmt: skip
        return self.path

    def _write(self, rows: list[dict], summary: str = "") -> None:
        def write(tmp: Path) -> None:
            with tmp.open("w", newline="", encoding="utf-8") as f:
                csv.DictWriter(f, self.columns).writeheader()
                for row in rows:
                    _writer(f, self.columns, row).writerow(row)
                if summary:
                    f.write(f"# {one_line(summary)}\n")

        atomic_write(self.path, write)

    def _append(self, row: dict) -> None:
        buffer = io.StringIO()
        _writer(buffer, self.columns, row).writerow(row)
        data = buffer.getvalue().encode("utf-8")
        with self.path.open("rb+", buffering=0) as f:
            end = f.seek(0, os.SEEK_END)
            if end and (f.seek(-1, os.SEEK_END), f.read(1))[1] != b"\n":
                data = b"\n" + data  # a row cut short by a killed writer stays apart
            try:
                written = f.write(data)  # one write: a killed run leaves whole rows
                if written != len(data):  # a full disk may take part of it without an error
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
            except OSError:
                f.truncate(end)  # a full disk leaves no half row
                raise

    def __enter__(self) -> Report:
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(OSError):
            self.close("run interrupted")


def _writer(f, columns, row: dict) -> csv.DictWriter:
    """A CSV writer for ``row``: fields quoted where needed, and all of them when the file's
    name starts with ``#``, so that the row is never read back as a comment line."""
    quoting = csv.QUOTE_ALL if str(row.get("file", "")).startswith("#") else csv.QUOTE_MINIMAL
    return csv.DictWriter(f, columns, extrasaction="ignore", restval="", quoting=quoting)


def _read_header(path: Path) -> list[str] | None:
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            return next(csv.reader(_records(f)), None) or None
    except FileNotFoundError:
        return None


def _merge(columns, header) -> tuple[str, ...]:
    """``columns`` with the extra columns of an existing report kept, before the mask's."""
    earlier = [c for c in header if c and c not in columns]
    return (*columns[:-1], *earlier, columns[-1])
