"""A batch run: the one code path behind ``napari-unet segment`` and the Batch widget."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..data.io import is_image_path
from .files import (
    REPORT_NAME,
    BatchError,
    FileResult,
    Input,
    check_output_folder,
    collect_inputs,
    output_paths,
)
from .report import Report, columns_for
from .segment import STREAM_PIXELS, segment_file_steps


@dataclass
class Progress:
    """Where a run stands: ``files_done`` of ``files_total``, tiles of the current file."""

    files_done: int
    files_total: int
    path: Path
    tiles_done: int = 0
    tiles_total: int = 0


class BatchRun:
    """Segment files and folders into ``out_dir``, with a per-file report.

    ``model`` is a bundled model name, a model file, or a ``UNet``. Existing outputs are
    skipped (resume) unless ``overwrite``; inputs are never written; every bad file gets a
    one-line reason and the others go on. With ``scheduler`` (an address) or ``workers`` (a
    LocalCluster of that many processes) the files are spread over a dask.distributed cluster.

    Iterate for :class:`FileResult` s, or over :meth:`events` for :class:`Progress` too;
    closing the iteration cancels after the current tile batch. Raises :class:`BatchError` at
    once when the run cannot start.
    """

    def __init__(
        self,
        inputs,
        out_dir: str | os.PathLike,
        *,
        model="drive",
        pattern: str = "*",
        recursive: bool = False,
        device: str = "auto",
        tile: int | None = None,
        batch_size: int | None = None,
        tta: bool = False,
        scale: float | str = "auto",
        threshold: float = 0.5,
        save_prob: bool = False,
        save_overlay: bool = False,
        overwrite: bool = False,
        measure: bool = True,
        instances: bool = False,
        stream_pixels: int = STREAM_PIXELS,
        scheduler: str | None = None,
        workers: int | None = None,
        threads: int | None = None,
    ):
        if isinstance(inputs, (str, os.PathLike)):
            inputs = [inputs]
        for p in map(Path, inputs):
            if not p.exists() and not is_image_path(p):
                raise BatchError(f"no such file or folder: {p}")
        self.inputs: list[Input] = collect_inputs(inputs, pattern, recursive, images_only=False)
        named = {Path(p).resolve() for p in inputs if not Path(p).is_dir()}
        if not any(is_image_path(i.path) or i.path.resolve() in named for i in self.inputs):
            where = ", ".join(map(str, inputs))
            raise BatchError(f"no image files found in {where} (pattern {pattern!r})")
        self.out_dir = check_output_folder(out_dir)
        self.file_options = dict(threshold=threshold, save_prob=save_prob,
                                 save_overlay=save_overlay, overwrite=overwrite, measure=measure,
                                 instances=instances, stream_pixels=stream_pixels)  # fmt: skip
        self.predictor_options = dict(device=device, tile=tile, batch_size=batch_size, tta=tta,
                                      scale=scale)  # fmt: skip
        self.distributed = bool(scheduler or workers)
        self.scheduler, self.workers, self.threads = scheduler, workers, threads
        self.model_spec = model
        self.predictor = None if self.distributed else self._predictor(model)
        if self.distributed and not isinstance(model, (str, os.PathLike)):
            raise BatchError("a cluster run needs the model as a bundled name or a file")
        self.classes = self._classes(model)
        self.counts = {"ok": 0, "skipped": 0, "failed": 0}
        self.report_path = self.out_dir / REPORT_NAME
        self.cancelled = False
        self.seconds = 0.0

    def _predictor(self, model):
        from ..inference.predictor import Predictor
        from ..model.store import ModelFileError, load_model
        from ..model.unet import UNet

        if not isinstance(model, UNet):
            try:
                model = load_model(model, device=self.predictor_options["device"])
            except (ModelFileError, ValueError, OSError) as exc:
                raise BatchError(str(exc)) from exc
        return Predictor(model, **self.predictor_options)

    def _classes(self, model) -> list[str]:
        if self.predictor is not None:
            return list(self.predictor.card.classes)
        from ..model.store import read_card

        try:
            return list(read_card(model).classes)
        except (ValueError, OSError) as exc:
            raise BatchError(str(exc)) from exc

    @property
    def files(self) -> list[Path]:
        return [i.path for i in self.inputs]

    def _jobs(self) -> Iterator[tuple[Input, Path] | FileResult]:
        """(input, its output folder), or a failed result for an output-name collision."""
        claimed: dict[Path, Path] = {}
        for i in self.inputs:
            out = self.out_dir / i.subdir
            mask = output_paths(i.path, out)[0].resolve()
            if mask in claimed:
                yield FileResult(i.path, "failed", f"same output name as {claimed[mask]} "
                                 "(rename one of them)")  # fmt: skip
                continue
            claimed[mask] = i.path
            yield i, out

    def events(self) -> Iterator[Progress | FileResult]:
        """:class:`Progress` after each tile batch and a :class:`FileResult` per file."""
        start = time.perf_counter()
        total = len(self.inputs)
        protected = frozenset(p.resolve() for p in self.files)
        report = Report(self.out_dir, columns_for(self.classes, self.file_options["instances"]))
        done = 0
        stream = self._distributed(protected) if self.distributed else self._local(protected)
        try:
            for item in stream:
                if isinstance(item, FileResult):
                    done += 1
                    self.counts[item.status] += 1
                    report.add(item)
                    yield item
                    yield Progress(done, total, item.path)
                else:
                    path, tiles_done, tiles_total = item
                    yield Progress(done, total, path, tiles_done, tiles_total)
        except GeneratorExit:
            self.cancelled = True
            raise
        finally:
            stream.close()  # a cancel: the current file stops after its tile batch, unwritten
            self.seconds = time.perf_counter() - start
            report.close(self.summary())

    def _local(self, protected):
        for job in self._jobs():
            if isinstance(job, FileResult):
                yield job
                continue
            i, out = job
            steps = segment_file_steps(self.predictor, i.path, out, protected=protected,
                                       **self.file_options)  # fmt: skip
            try:
                while True:
                    d, t = next(steps)
                    yield i.path, d, t
            except StopIteration as finished:
                yield finished.value

    def _distributed(self, protected):
        from .cluster import open_client, run_on_cluster

        jobs, early = [], []
        for job in self._jobs():
            if isinstance(job, FileResult):
                early.append(job)
            else:
                jobs.append((job[0].path, job[1], dict(self.file_options, protected=protected)))
        yield from early
        client = open_client(self.scheduler, self.workers)
        try:
            yield from run_on_cluster(client, jobs, str(self.model_spec), self.predictor_options,
                                      self.threads)  # fmt: skip
        finally:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None and not self.scheduler:
                cluster.close()

    def __iter__(self) -> Iterator[FileResult]:
        for item in self.events():
            if isinstance(item, FileResult):
                yield item

    def summary(self) -> str:
        c, n = self.counts, len(self.inputs)
        processed = sum(c.values())
        text = (f"{n} file(s): {c['ok']} segmented, {c['skipped']} skipped, {c['failed']} failed"
                f" in {self.seconds:.1f} s")  # fmt: skip
        if processed < n:
            text += f"; cancelled with {n - processed} not processed"
        return text


def segment_batch(inputs, out_dir, **options) -> list[FileResult]:
    """Run a :class:`BatchRun` to the end and return its results."""
    return list(BatchRun(inputs, out_dir, **options))


__all__ = ["BatchError", "BatchRun", "Progress", "segment_batch"]
