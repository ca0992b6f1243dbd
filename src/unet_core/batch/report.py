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

from .files import REPORT_NAME, RUN_RECORD, FileResult

OBJECTS = ("objects", "mean_object_area")
COLUMNS = ("file", "status", "reason", "height", "width", "channels", "slices", "seconds",
           "scale", "foreground_fraction", "mask")  # fmt: skip
#: columns of this run's own doing, never carried over from an earlier run's row
_OWN = ("file", "status", "reason", "seconds", "mask")


def columns_for(measurements: tuple[str, ...], classes: list[str],
                instances: bool = False) -> tuple[str, ...]:  # fmt: skip
    """The report's columns: the task's ``measurements`` (e.g. vessel length), the area of each
    class but the background (``area_<name>``, pixels) and, with ``instances``, the objects'
    count and mean area, before the mask's path."""
    extra = (*measurements, *(f"area_{c}" for c in classes[1:]), *(OBJECTS if instances else ()))
    return COLUMNS[:-1] + extra + COLUMNS[-1:]


def write_run_record(out_dir: str | os.PathLike, model: dict, options: dict,
                     summary: str) -> Path:  # fmt: skip
    """``segmentation_run.json`` beside the report: the model's identity, the options and the
    outcome of the last run, as nnU-Net writes its prediction arguments beside its outputs."""
    import datetime as dt
    import json

    from .. import __version__
    from ..base.files import atomic_write

    record = {"napari_unet": __version__, "finished": dt.datetime.now().isoformat("T", "seconds"),
              "model": model, "options": options, "summary": summary}  # fmt: skip
    text = json.dumps(record, indent=1, default=str)
    path = Path(out_dir) / RUN_RECORD
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


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
    row = {
        "file": str(r.path), "status": r.status, "reason": r.reason,
        "height": dims[0] if dims else "", "width": dims[1] if len(dims) > 1 else "",
        "channels": (dims[2] if len(dims) > 2 else 1) if dims else "",
        "slices": shape[0] if stack else (1 if dims else ""),
        "seconds": f"{r.seconds:.2f}", "scale": f"{r.scale:.3f}" if r.status == "ok" else "",
        "foreground_fraction": "" if math.isnan(r.foreground) else f"{r.foreground:.5f}",
        "mask": str(r.outputs[0]) if r.outputs else "",
    }  # fmt: skip
    for k, v in r.measurements.items():
        row[k] = f"{v:.5g}" if isinstance(v, float) else v
    return row


class Report:
    """Writes the rows of one run; use as a context manager or call :meth:`close`."""

    def __init__(self, out_dir: str | os.PathLike, columns: tuple[str, ...] = COLUMNS):
        self.path = Path(out_dir) / REPORT_NAME
        rows = read_report(self.path)
        self.previous = {row["file"]: row for row in rows}
        # columns of earlier runs (another model's measurements) are kept, before the mask's
        earlier = [c for row in rows[:1] for c in row if c and c not in columns]
        self.columns = columns = (*columns[:-1], *earlier, columns[-1])
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
            row.update({k: before.get(k, "") for k in self.columns if k not in _OWN})
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
