"""What every widget that runs a background job shares: Run/Cancel buttons that swap while a
worker runs, a progress bar reset at the start, an entry in napari's activity panel, Cancel,
and errors as one-line notifications."""

from __future__ import annotations

from napari.utils.notifications import show_error


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class JobControls:
    """Mixin for widgets with ``_run`` and ``_cancel`` buttons, an optional ``_progress`` bar
    and a ``_worker`` attribute holding the running worker (None when idle)."""

    _worker = None
    _activity = None
    _cancelling = "cancelling…"  # the status while a cancelled job winds down

    def _on_cancel(self) -> None:
        if self._worker is not None:
            self._status.value = self._cancelling
            self._worker.quit()

    def _on_error(self, exc: BaseException) -> None:
        self._status.value = f"failed: {one_line(exc)}"
        show_error(f"napari-unet: {one_line(exc)}")

    def _start_activity(self, total: int, description: str) -> None:
        """Show the job in napari's activity panel too (``napari.utils.progress``)."""
        from napari.utils import progress

        self._close_activity()
        self._activity = progress(total=max(1, int(total)), desc=description)

    def _advance_activity(self, done: float, total: float | None = None) -> None:
        if self._activity is not None:
            if total is not None:
                self._activity.total = max(1, int(total))
            self._activity.n = int(min(done, self._activity.total))
            self._activity.refresh()

    def _close_activity(self) -> None:
        if self._activity is not None:
            self._activity.close()
            self._activity = None

    def _set_running(self, running: bool) -> None:
        self._run.enabled = not running
        self._cancel.enabled = running
        progress = getattr(self, "_progress", None)
        if running and progress is not None:
            progress.value = 0

    def _on_finished(self) -> None:
        self._worker = None
        self._close_activity()
        self._set_running(False)


def make_scrollable(container, min_height: int = 150) -> None:
    """Move ``container``'s rows into a vertical scroll area, so that docked widgets fit a small
    screen (napari docks ``container.native``, which ignores magicgui's ``scrollable``).

    Call once, after every row was added; rows shown or hidden later keep working."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

    outer = container.native.layout()
    inner = QWidget()
    rows = QVBoxLayout(inner)
    rows.setContentsMargins(outer.contentsMargins())
    rows.setSpacing(outer.spacing())
    while outer.count():
        item = outer.takeAt(0)
        if item.widget() is not None:
            rows.addWidget(item.widget())
        elif item.layout() is None:
            rows.addItem(item)
    rows.addStretch(1)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(inner)
    scroll.setMinimumHeight(min_height)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(scroll)
