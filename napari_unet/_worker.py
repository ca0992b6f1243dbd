"""A job (a generator) run in napari's background thread, so that every way it can end reaches
the widget: finished, cancelled or failed with its one-line reason."""

from __future__ import annotations

from collections.abc import Generator


class JobFailed(Exception):
    """A job's RuntimeError (torch's errors, CUDA out of memory) passed on as another type:
    superqt takes a RuntimeError from a worker for a deleted Qt object and neither reports it
    nor finishes, which would leave the widget's Run button disabled with nothing said."""


def guarded(job: Generator):
    try:
        return (yield from job)
    except RuntimeError as exc:
        raise JobFailed(str(exc) or type(exc).__name__) from exc


def start_worker(job: Generator, **connections):
    """Wrap a job in an unstarted napari GeneratorWorker, connecting ``signal=callback``."""
    from napari.qt.threading import GeneratorWorker

    worker = GeneratorWorker(lambda: (yield from guarded(job)))
    # a cancelled job is left suspended by the worker: close it once the thread is done, before
    # the widget hears of it, so that its clean-up (a batch's report) has run by then
    worker.finished.connect(job.close)
    for signal, callback in connections.items():
        getattr(worker, signal).connect(callback)
    return worker
