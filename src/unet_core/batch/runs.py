"""The record of every batch run into a folder, beside its report: ``segmentation_run.json``
describes the last run (as nnU-Net writes its prediction arguments beside its outputs) and
``segmentation_runs.jsonl`` keeps one line per run, appended, so that a folder segmented by
several runs, with several models, says which run and model made each row of the report (its
``run`` and ``model`` columns)."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path

from ..base.files import atomic_write, folder_lock
from .files import RUN_RECORD, RUNS_LOG


def new_run_id(now: dt.datetime | None = None) -> str:
    """A run's id: its start time to the second and 4 random hex digits, e.g.
    ``2026-12-05T12:20:31-3fa2`` (two runs started in one second differ)."""
    when = (now or dt.datetime.now()).isoformat("T", "seconds")
    return f"{when}-{secrets.token_hex(2)}"


def model_label(identity: dict) -> str:
    """A model as the report's ``model`` column names it: its name and the first 12 digits
    of its file's SHA-256 (``drive@1a2b3c4d5e6f``), or its name alone for a model in memory."""
    name = str(identity.get("name", "")) or "(unnamed)"
    digest = identity.get("sha256")
    return f"{name}@{digest[:12]}" if digest else name


def write_run_record(out_dir: str | os.PathLike, model: dict, options: dict, summary: str,
                     run: str = "", started: str = "") -> Path:  # fmt: skip
    """Record a run: ``segmentation_run.json`` rewritten with it (the last run), and a line
    appended to ``segmentation_runs.jsonl`` (every run); returns the former's path."""
    from .. import __version__

    record = {"napari_unet": __version__, "run": run, "started": started,
              "finished": dt.datetime.now().isoformat("T", "seconds"), "model": model,
              "model_label": model_label(model), "options": options,
              "summary": summary}  # fmt: skip
    folder = Path(out_dir)
    line = (json.dumps(record, default=str) + "\n").encode("utf-8")
    with folder_lock(folder), (folder / RUNS_LOG).open("ab") as f:
        f.write(line)  # one write: runs appending at once never interleave their lines
    text = json.dumps(record, indent=1, default=str)
    return atomic_write(folder / RUN_RECORD, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_runs(out_dir: str | os.PathLike) -> list[dict]:
    """Every run recorded in ``out_dir``, oldest first (a line cut short is left out)."""
    try:
        lines = (Path(out_dir) / RUNS_LOG).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    runs = []
    for line in lines:
        try:
            runs.append(json.loads(line))
        except ValueError:
            continue
    return runs
