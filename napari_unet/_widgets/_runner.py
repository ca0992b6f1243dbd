"""What every widget that runs background jobs shares, as an object it is given rather than a
base class: Run/Cancel buttons that swap while a worker runs, a progress bar, a status line,
an entry in napari's activity panel, Cancel, and errors as one-line notifications."""

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
              total: float = 1, status: str | None = None,
              errored: Callable | None = None) -> None:  # fmt: skip
        """Run ``job`` in a worker: ``yielded`` sees its events (default: :meth:`show`),
        ``returned`` its result and ``errored`` its failure (default: :meth:`error`), all on
        the UI thread; Cancel stops it between two yields, and ``aborted`` says so (default:
        the status says "cancelled")."""
        from .._worker import start_worker

        connections = {"returned": returned, "errored": errored or self.error,
                       "finished": self._finished,
                       "yielded": yielded or self.show,
                       "aborted": aborted or (lambda: self.say("cancelled"))}  # fmt: skip
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
        from unet_core.base.events import Progress, Status  # torch-free

        if isinstance(event, Progress):
            self.advance(event.done, event.total)
        elif isinstance(event, Status):
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
