"""One image's row of the batch report's table (``segmentation.csv``'s columns), for an image
measured outside a batch run: the Segment widget's *Save measurements…*."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from ..base.files import atomic_write
from ..postprocess import class_areas, object_stats
from .files import FileResult
from .report import columns_for, result_row


def measurement_row(name: str, labels, classes: list[str], *, shape: tuple[int, ...] = (),
                    task_columns: tuple[str, ...] = (), measured: dict | None = None,
                    objects=None, model: str = "", scale: float = 1.0, precision: str = "",
                    seconds: float = 0.0) -> tuple[tuple[str, ...], dict]:  # fmt: skip
    """(columns, row) of the batch report for the labels of one image named ``name`` (its
    file, or a layer's name): the image's ``shape``, the foreground fraction and each class's
    area of ``labels`` (pixels of value 255, "not annotated", count as no class), with
    ``objects`` their count and mean area, and the task's ``measured`` values (its
    ``task_columns``), as a batch run writes them."""
    labels = np.asarray(labels)
    values = class_areas(labels, classes)
    if objects is not None:
        values.update(object_stats(np.asarray(objects)))
    values.update(measured or {})
    known = (labels > 0) & (labels < len(classes))
    result = FileResult(Path(name), "ok", "", (), tuple(shape or labels.shape), seconds,
                        float(known.mean()) if labels.size else float("nan"), scale, values,
                        precision)  # fmt: skip
    row = result_row(result)
    row["model"] = model
    return columns_for(tuple(task_columns), list(classes), objects is not None), row


def write_table(path: str | os.PathLike, columns: tuple[str, ...], rows: list[dict]) -> Path:
    """``rows`` as a CSV file with a header of ``columns`` (written under a temporary name and
    renamed: a failed write leaves what was there)."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, columns, extrasaction="ignore", restval="")
            writer.writeheader()
            writer.writerows(rows)

    return atomic_write(Path(path), write)
