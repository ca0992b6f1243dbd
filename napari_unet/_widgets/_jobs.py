"""What every widget that runs background jobs shares, as an object it is given rather than a
base class: Run/Cancel buttons that swap while a worker runs, a progress bar, a status line,
an entry in napari's activity panel, Cancel, and errors as one-line notifications. Also the
scroll area that makes a widget fit a small screen in height and in width."""

from __future__ import annotations

from collections.abc import Callable, Generator

from napari.utils.notifications import show_error


def error_line(exc: BaseException) -> str:
    """The first line of an error's message (its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class JobRunner:
    """Runs one job at a time for a widget (``worker`` is None when idle).

    run, cancel : the buttons to swap; progress : a ProgressBar or None; status : a Label.
    """

    def __init__(self, run, cancel, progress, status, cancelling: str = "cancelling…"):
        self.run_button, self.cancel_button = run, cancel
        self.progress, self.status = progress, status
        self.cancelling = cancelling
        self.worker = None
        self.activity = None
        self.on_cancel: Callable[[], object] | None = None  # asked before the worker quits
        cancel.changed.connect(self.cancel)

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def say(self, text: str) -> None:
        self.status.value = text

    def error(self, exc: BaseException) -> None:
        self.say(f"failed: {error_line(exc)}")
        show_error(f"napari-unet: {error_line(exc)}")

    def start(self, job: Generator, description: str, *, returned: Callable,
              yielded: Callable | None = None, aborted: Callable | None = None,
              total: float = 1, status: str | None = None) -> None:  # fmt: skip
        """Run ``job`` in a worker: ``yielded`` sees its events (default: :meth:`show`),
        ``returned`` its result (both on the UI thread); Cancel stops it between two yields."""
        from .._workers import start_worker

        connections = {"returned": returned, "errored": self.error, "finished": self._finished,
                       "yielded": yielded or self.show}  # fmt: skip
        if aborted is not None:
            connections["aborted"] = aborted
        self.worker = start_worker(job, **connections)
        self.run_button.enabled, self.cancel_button.enabled = False, True
        if self.progress is not None:
            self.progress.max, self.progress.value = max(1, int(total)), 0
        self.say(status or f"{description}…")
        self._close_activity()
        from napari.utils import progress

        self.activity = progress(total=max(1, int(total)), desc=description)
        self.worker.start()

    def show(self, event) -> None:
        """Show a job's event (``unet_core.base.events``): progress in the bar and the
        activity entry, a status line in the status row; other events are the widget's."""
        kind = type(event).__name__
        if kind == "Progress":
            self.advance(event.done, event.total)
        elif kind == "Status":
            self.say(event.text)

    def advance(self, done: float, total: float | None = None) -> None:
        """Move the progress bar and the activity entry to ``done`` (of ``total``)."""
        if self.progress is not None:
            if total is not None:
                self.progress.max = max(1, int(total))
            self.progress.value = int(min(done, self.progress.max))
        if self.activity is not None:
            if total is not None:
                self.activity.total = max(1, int(total))
            self.activity.n = int(min(done, self.activity.total))
            self.activity.refresh()

    def cancel(self, _=None) -> None:
        if self.worker is None:
            return
        self.say(self.cancelling)
        if self.on_cancel is not None and self.on_cancel() is False:
            return  # the job stops itself (a training keeps its best weights)
        self.worker.quit()

    def _close_activity(self) -> None:
        if self.activity is not None:
            self.activity.close()
            self.activity = None

    def _finished(self) -> None:
        self.worker = None
        self._close_activity()
        self.run_button.enabled, self.cancel_button.enabled = True, False


#: the widest a widget's rows may ask for: napari's default dock at 1366 x 768 is ~300 px
ROW_WIDTH = 270


def make_scrollable(container, min_height: int = 150) -> None:
    """Move ``container``'s rows into a vertical scroll area, and let every row shrink to the
    dock's width (long texts wrap, drop-down lists and file rows narrow), so that a docked
    widget fits a small screen in height and in width.

    Call once, after every row was added; rows shown or hidden later keep working."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

    outer = container.native.layout()
    inner = QWidget()
    rows = QVBoxLayout(inner)
    rows.setContentsMargins(outer.contentsMargins())
    rows.setSpacing(outer.spacing())
    while outer.count():
        row = outer.itemAt(0).widget()
        if row is not None:  # removeWidget deletes the old layout item: the row then answers
            outer.removeWidget(row)  # to its new one (a taken item left alive would keep the
            rows.addWidget(row)  # row's height-for-width stale when its text grows)
            continue
        item = outer.takeAt(0)
        if item.layout() is None:
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
    fit_width(inner)
    # the dock is never narrower than its rows: nothing is cut off on the right
    bar = scroll.verticalScrollBar().sizeHint().width()
    scroll.setMinimumWidth(inner.minimumSizeHint().width() + bar)


def fit_width(widget) -> None:
    """Let the rows of ``widget`` shrink: labels wrap, drop-down lists show ~4 characters
    when narrow, file rows' buttons say "…", line edits and spin boxes have no minimum."""
    from qtpy.QtWidgets import (
        QAbstractSpinBox,
        QComboBox,
        QLabel,
        QLineEdit,
        QPushButton,
        QSizePolicy,
    )

    for combo in widget.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(4)
    for label in widget.findChildren(QLabel):  # magicgui fixes a label at its one-line width
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)  # a wrapped text grows its row, never cut off below
        label.setSizePolicy(policy)
        label.setWordWrap(True)
    for edit in widget.findChildren(QLineEdit) + widget.findChildren(QAbstractSpinBox):
        edit.setMinimumWidth(40)
    for button in widget.findChildren(QPushButton):
        if button.text() in ("Choose directory", "Select file", "Select files", "Choose file"):
            button.setToolTip(button.text())
            button.setText("…")
            button.setMaximumWidth(32)
