"""The Batch widget's "run on" rows: this process (the default), a local dask cluster of some
worker processes, or the dask scheduler at an address; the same choice as ``napari-unet
segment --workers N | --scheduler ADDRESS``, run by the same code
(``unet_core.batch.cluster``)."""

from __future__ import annotations

import importlib.util
import os

from magicgui.widgets import ComboBox, LineEdit, SpinBox

HERE, LOCAL, SCHEDULER = "this process", "local workers", "dask scheduler"
MISSING = "spreading a batch needs dask.distributed: pip install 'napari-paint-unet[cluster]'"


def has_distributed() -> bool:
    """Whether dask.distributed can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("distributed") is not None
    except (ImportError, ValueError):
        return False


class ScaleOutRows:
    """Where a batch runs: ``rows`` for the widget, :meth:`choice` for the run."""

    def __init__(self):
        self.where = ComboBox(label="run on", choices=[HERE, LOCAL, SCHEDULER], value=HERE)
        self.where.tooltip = ("this process, as always; or spread the files over a dask cluster "
                              "(pip install 'napari-paint-unet[cluster]')")  # fmt: skip
        cores = os.cpu_count() or 2
        self.workers = SpinBox(label="workers", min=1, max=max(64, cores), value=min(2, cores),
                               visible=False)  # fmt: skip
        self.workers.tooltip = "worker processes of a local cluster, each with its own model"
        self.address = LineEdit(label="scheduler", value="", visible=False)
        self.address.tooltip = "the dask scheduler's address, e.g. tcp://10.0.0.5:8786"
        self.where.changed.connect(self._follow)
        self.rows = [self.where, self.workers, self.address]

    def _follow(self, where: str) -> None:
        self.workers.visible = where == LOCAL
        self.address.visible = where == SCHEDULER

    def choice(self) -> dict:
        """BatchRun's cluster arguments (``{}``: this process); a one-line ValueError for a
        missing address or a missing dask.distributed."""
        where = self.where.value
        if where == HERE:
            return {}
        if not has_distributed():
            raise ValueError(MISSING)
        if where == LOCAL:
            workers = int(self.workers.value)
            cores = os.cpu_count() or 1
            return {"workers": workers, "threads": max(1, cores // workers)}
        address = (self.address.value or "").strip()
        if not address or any(c.isspace() for c in address):
            raise ValueError("type the dask scheduler's address (e.g. tcp://10.0.0.5:8786)")
        return {"scheduler": address}

    def describe(self, cluster: dict) -> str:
        """Where a run with ``cluster`` goes, for the status line."""
        if "scheduler" in cluster:
            return f" on the dask scheduler {cluster['scheduler']}"
        if "workers" in cluster:
            return f" on {cluster['workers']} local worker processes"
        return ""
