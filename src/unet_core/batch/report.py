"""The per-file CSV a batch writes into its output folder, with a summary line at the end.

Rows are written (and flushed) as files finish, to ``.segmentation.csv.part``; the finished
report replaces ``segmentation.csv`` when the run ends, cancelled or not. A file skipped
because it was segmented before keeps the measurements of that earlier run, and the rows of
earlier runs about files this run did not touch are kept (after this run's rows).
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
from pathlib import Path

from .files import REPORT_NAME, FileResult

MEASUREMENTS = (
    "vessel_area_fraction", "skeleton_length", "branch_points", "end_points", "mean_width",
    "skeleton_length_per_fov", "mean_width_per_fov",
)  # fmt: skip
OBJECTS = ("objects", "mean_object_area")
COLUMNS = ("file", "status", "reason", "height", "width", "channels", "slices", "seconds",
           "scale", "foreground_fraction", *MEASUREMENTS, "mask")  # fmt: skip
_CARRIED = ("height", "width", "channels", "slices", "scale", "foreground_fraction",
            *MEASUREMENTS, *OBJECTS)  # fmt: skip


def columns_for(classes: list[str], instances: bool = False) -> tuple[str, ...]:
    """The report's columns for a model with these classes: the area of each class but the
    background (``area_<name>``, pixels) and, with ``instances``, the objects' count and mean
    area, before the mask's path."""
    extra = tuple(f"area_{c}" for c in classes[1:]) + (OBJECTS if instances else ())
    return COLUMNS[:-1] + extra + COLUMNS[-1:]


def read_report(path: str | os.PathLike) -> list[dict]:
    """The rows of a report (the summary line left out)."""
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def result_row(r: FileResult) -> dict:
    shape = tuple(r.shape)
    stack = len(shape) == 4 or (len(shape) == 3 and shape[-1] > 4)
    dims = shape[1:] if stack else shape
    m = dict(r.measurements)
    if "area_fraction" in m:
        m["vessel_area_fraction"] = m.pop("area_fraction")
    row = {
        "file": str(r.path), "status": r.status, "reason": r.reason,
        "height": dims[0] if dims else "", "width": dims[1] if len(dims) > 1 else "",
        "channels": (dims[2] if len(dims) > 2 else 1) if dims else "",
        "slices": shape[0] if stack else (1 if dims else ""),
        "seconds": f"{r.seconds:.2f}", "scale": f"{r.scale:.3f}" if r.status == "ok" else "",
        "foreground_fraction": "" if math.isnan(r.foreground) else f"{r.foreground:.5f}",
        "mask": str(r.outputs[0]) if r.outputs else "",
    }  # fmt: skip
    for k in (*MEASUREMENTS, *OBJECTS, *(k for k in m if k.startswith("area_"))):
        v = m.get(k, "")
        row[k] = f"{v:.5g}" if isinstance(v, float) else v
    return row


class Report:
    """Writes the rows of one run; use as a context manager or call :meth:`close`."""

    def __init__(self, out_dir: str | os.PathLike, columns: tuple[str, ...] = COLUMNS):
        self.path = Path(out_dir) / REPORT_NAME
        self.columns = columns
        self.previous = {row["file"]: row for row in read_report(self.path)}
        self.seen: set[str] = set()
        self.tmp = self.path.with_name(f".{REPORT_NAME}.part")
        self._file = self.tmp.open("w", newline="")
        self._writer = csv.DictWriter(self._file, columns, extrasaction="ignore")
        self._writer.writeheader()

    def add(self, result: FileResult) -> dict:
        row = result_row(result)
        self.seen.add(row["file"])
        before = self.previous.get(row["file"])
        if result.status == "skipped" and before and before.get("status") in ("ok", "skipped"):
            carried = (*_CARRIED, *(k for k in self.columns if k.startswith("area_")))
            row.update({k: before.get(k, "") for k in carried})
        self._writer.writerow(row)
        self._file.flush()
        return row

    def close(self, summary: str) -> Path:
        if self._file.closed:
            return self.path
        for name, row in self.previous.items():
            if name not in self.seen:
                self._writer.writerow({k: row.get(k, "") for k in self.columns})
        self._file.write(f"# {summary}\n")
        self._file.close()
        os.replace(self.tmp, self.path)
        return self.path

    def __enter__(self) -> Report:
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(OSError):
            self.close("run interrupted")
