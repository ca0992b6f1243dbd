"""What every widget that runs a background job shares: Run/Cancel buttons that swap while a
worker runs, and a progress bar reset at the start."""

from __future__ import annotations


class JobControls:
    """Mixin for widgets with ``_run`` and ``_cancel`` buttons, an optional ``_progress`` bar
    and a ``_worker`` attribute holding the running worker (None when idle)."""

    _worker = None

    def _set_running(self, running: bool) -> None:
        self._run.enabled = not running
        self._cancel.enabled = running
        progress = getattr(self, "_progress", None)
        if running and progress is not None:
            progress.value = 0

    def _on_finished(self) -> None:
        self._worker = None
        self._set_running(False)
