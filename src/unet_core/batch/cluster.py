"""Spreading a batch over a dask.distributed cluster: one task per file, each worker process
loading the model once. A LocalCluster is started when no scheduler address is given."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

from .files import FileResult
from .options import SegmentOptions


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
    single-threaded worker processes. Raises a one-line RuntimeError without dask."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise RuntimeError(
            "spreading a batch needs dask.distributed: pip install 'napari-paint-unet[cluster]'"
        ) from exc
    _quiet_dask()
    if scheduler:
        return Client(scheduler)
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
    """Submit one task per ``(path, out_dir)`` and yield results as they finish; closing the
    iterator cancels the tasks not yet finished."""
    from dask.distributed import as_completed

    futures = [
        client.submit(
            segment_remote, path, out_dir, model, options, threads, protected, pure=False
        )  # fmt: skip
        for path, out_dir in jobs
    ]
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.cancel([f for f in futures if not f.done()])
