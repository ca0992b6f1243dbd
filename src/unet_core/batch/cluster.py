"""Spreading a batch over a dask.distributed cluster: one task per file, each worker process
loading the model once. A LocalCluster is started when no scheduler address is given."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path

from ..base.events import Progress
from ..base.names import one_line
from .files import BatchError, FileResult
from .options import SegmentOptions

#: seconds to wait for a scheduler before saying it cannot be reached
CONNECT_SECONDS = 10.0
#: seconds between two looks at the cluster while no file finishes (how soon a cancel is heard)
POLL_SECONDS = 0.2


@functools.lru_cache(maxsize=2)
def _worker_predictor(model: str, options: SegmentOptions, threads: int | None):
    """The predictor of this worker process, built on its first task and kept."""
    import torch

    from ..formats.store import load_model
    from ..inference.predictor import Predictor

    if threads:
        torch.set_num_threads(threads)
    return Predictor(load_model(model, device=options.device), **options.predictor_args())


def segment_remote(path: Path, out_dir: Path, model: str, options: SegmentOptions,
                   threads: int | None, protected: frozenset) -> FileResult:  # fmt: skip
    """One file, on a worker."""
    from .segment import segment_file

    predictor = _worker_predictor(model, options, threads)
    return segment_file(predictor, path, out_dir, options, protected=protected)


def _quiet_dask() -> None:
    """dask.distributed sets its loggers to INFO; follow this process's level instead."""
    import logging

    level = logging.getLogger().getEffectiveLevel()
    for name in list(logging.root.manager.loggerDict):
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(level)


def open_client(scheduler: str | None = None, workers: int | None = None):
    """A client of the cluster at ``scheduler``, or of a new LocalCluster of ``workers``
    single-threaded worker processes. Raises a one-line :class:`BatchError` without dask or
    when the scheduler cannot be reached (not a RuntimeError, which a Qt worker takes for a
    deleted thread)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise BatchError(
            "spreading a batch needs dask.distributed: pip install 'napari-paint-unet[cluster]'"
        ) from exc
    _quiet_dask()
    if scheduler:
        try:
            return Client(scheduler, timeout=CONNECT_SECONDS)
        except (OSError, ValueError, TypeError) as exc:  # unreachable, or not an address
            reason = one_line(str(exc).strip().splitlines()[0] if str(exc).strip()
                              else type(exc).__name__)  # fmt: skip
            raise BatchError(f"cannot reach the dask scheduler at {one_line(scheduler)}: "
                             f"{reason}") from exc  # fmt: skip
    import logging

    # worker processes log shutdown chatter (closed comms); their errors reach us as results
    quiet = logging.getLogger().getEffectiveLevel() >= logging.WARNING
    cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                           dashboard_address=None,
                           silence_logs=logging.CRITICAL if quiet else logging.INFO)  # fmt: skip
    return Client(cluster)


def run_on_cluster(client, jobs: list[tuple[Path, Path]], model: str, options: SegmentOptions,
                   threads: int | None, protected: frozenset = frozenset(),
                   ) -> Iterator[FileResult]:  # fmt: skip
    """Submit one task per ``(path, out_dir)`` and yield results as they finish, and a
    ``Progress(finished, total, "cluster")`` every :data:`POLL_SECONDS` while none does (so
    that whoever runs it can stop it between two files); closing the iterator cancels the
    tasks not yet finished: those not started never run."""
    from dask.distributed import as_completed

    futures = [
        client.submit(
            segment_remote, path, out_dir, model, options, threads, protected, pure=False
        )  # fmt: skip
        for path, out_dir in jobs
    ]
    finished, pending = 0, as_completed(futures)
    try:
        while not pending.is_empty():
            ready = pending.next_batch(block=False)
            if not ready:
                time.sleep(POLL_SECONDS)
                yield Progress(finished, len(futures), "cluster")
            for future in ready:
                finished += 1
                yield future.result()
    finally:
        client.cancel([f for f in futures if not f.done()])
