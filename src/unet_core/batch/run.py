"""A batch run: the one code path behind ``napari-unet segment`` and the Batch widget."""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..base.events import Event, Partial, Progress, Status
from ..base.files import remove_stale_parts
from ..base.jobs import relay
from ..base.names import one_line
from ..data.io import is_image_path
from ..tasks import task_of
from .files import (
    REPORT_NAME,
    RUN_RECORD,
    BatchError,
    FileResult,
    Input,
    check_output_folder,
    collect_inputs,
    not_segmented,
    output_paths,
    real_path,
)
from .options import SegmentOptions
from .report import Report, columns_for
from .runs import model_label, new_run_id, write_run_record
from .segment import segment_file_steps

log = logging.getLogger(__name__)


class BatchRun:
    """Segment files and folders into ``out_dir``, with a per-file report.

    ``model`` is a bundled model name, a model file, or a ``UNet``. Existing outputs are
    skipped (resume) unless ``overwrite``; inputs are never written; every bad file gets a
    one-line reason and the others go on. With ``scheduler`` (an address) or ``workers`` (a
    LocalCluster of that many processes) the files are spread over a dask.distributed cluster.

    Iterate for :class:`FileResult` s, or over :meth:`events` for the run's events; closing
    the iteration cancels after the current tile batch. Raises :class:`BatchError` at
    once when the run cannot start.
    """

    def __init__(
        self,
        inputs,
        out_dir: str | os.PathLike,
        *,
        model="drive",
        options: SegmentOptions | None = None,
        pattern: str = "*",
        recursive: bool = False,
        scheduler: str | None = None,
        workers: int | None = None,
        threads: int | None = None,
        **changes,
    ):
        self.options = (options or SegmentOptions()).with_(**changes)
        if isinstance(inputs, (str, os.PathLike)):
            inputs = [inputs]
        inputs = [Path(p) for p in inputs]
        missing = [p for p in inputs if _missing(p)]
        if len(missing) == len(inputs):  # a typo, not a file among others that went missing
            raise BatchError(f"no such file or folder: {one_line(missing[0]) if missing else ''}")
        if not str(out_dir).strip():
            raise BatchError("the output folder is empty text: name a folder")
        self.inputs: list[Input] = collect_inputs(inputs, pattern, recursive, images_only=False,
                                                  exclude=[out_dir])  # fmt: skip
        named = {real_path(p) for p in inputs if not _missing(p) and not os.path.isdir(p)}
        if not any(is_image_path(i.path) or real_path(i.path) in named or i.fail
                   for i in self.inputs):  # fmt: skip
            where = ", ".join(map(one_line, inputs))
            raise BatchError(f"no image files found in {where} (pattern {pattern!r})")
        self.distributed = bool(scheduler or workers)
        self.scheduler, self.workers, self.threads = scheduler, workers, threads
        self.model_spec = model
        self.predictor = None if self.distributed else self._predictor(model)
        if self.distributed and not isinstance(model, (str, os.PathLike)):
            raise BatchError("a cluster run needs the model as a bundled name or a file")
        self.card = self._card(model)
        self.out_dir = check_output_folder(out_dir)  # once the model is known to be usable
        self.classes, self.task = list(self.card.classes), task_of(self.card)
        self.counts = {"ok": 0, "skipped": 0, "failed": 0}
        self.report_path = self.out_dir / REPORT_NAME
        self.cancelled = False
        self.seconds = 0.0
        self.run_id = ""  # set when the run starts: its rows' ``run`` and its record's

    def _predictor(self, model):
        from ..formats.checks import ModelFileError
        from ..formats.store import load_model
        from ..inference.predictor import Predictor
        from ..model.external import ExternalNetwork
        from ..model.unet import UNet

        if not isinstance(model, (UNet, ExternalNetwork)):
            try:
                model = load_model(model, device=self.options.device)
            except (ModelFileError, ValueError, OSError) as exc:
                raise BatchError(str(exc)) from exc
        return Predictor(model, **self.options.predictor_args())

    def _card(self, model):
        if self.predictor is not None:
            return self.predictor.card
        from ..formats.store import read_card

        try:
            return read_card(model)
        except (ValueError, OSError) as exc:
            raise BatchError(str(exc)) from exc

    def model_identity(self) -> dict:
        from ..formats.store import model_identity

        spec = self.model_spec
        model = spec if isinstance(spec, (str, os.PathLike)) else self.predictor.model
        try:
            return model_identity(model)
        except (ValueError, OSError):
            return {"name": str(self.model_spec)}

    @property
    def files(self) -> list[Path]:
        return [i.path for i in self.inputs]

    def _jobs(self) -> Iterator[tuple[Input, Path] | FileResult]:
        """(input, its output folder), or the result of an entry that is not segmented: skipped
        (not an image, hidden, a folder) or failed (a broken link, a name collision)."""
        claimed: dict[Path, Path] = {}
        for i in self.inputs:
            if i.skip or i.fail:
                yield FileResult(i.path, "failed" if i.fail else "skipped", i.fail or i.skip)
                continue
            problem = not_segmented(i.path)
            if problem:  # claims no output name
                yield FileResult(i.path, *problem)
                continue
            out = self.out_dir / i.subdir
            mask = real_path(output_paths(i.path, out)[0])
            if mask in claimed:
                yield FileResult(i.path, "failed", f"same output name as "
                                 f"{one_line(claimed[mask])} (rename one of them)")  # fmt: skip
                continue
            claimed[mask] = i.path
            yield i, out

    def events(self) -> Iterator[Event]:
        """The run's events (:mod:`unet_core.base.events`): ``Progress(done, total, "files")``
        at the start and after each file, ``Progress(done, total, "tiles", {"file": path})``
        after each tile batch of a file, ``Partial(FileResult)`` for each file finished and a
        :class:`Status` line for what a person should know (a report that was set aside)."""
        start = time.perf_counter()
        total = len(self.inputs)
        protected = frozenset(real_path(i.path) for i in self.inputs if not (i.skip or i.fail))
        for folder in {self.out_dir / i.subdir for i in self.inputs}:
            if not self.scheduler:  # a remote cluster's workers are not processes of this host
                remove_stale_parts(folder)
        volumes = self.card.architecture.get("spatial_dims", 2) == 3
        columns = columns_for(self.task.report_columns, self.classes, self.options.instances,
                              volumes)  # fmt: skip
        self.run_id, started = new_run_id(), time.strftime("%Y-%m-%dT%H:%M:%S")
        identity = self.model_identity()
        report = Report(self.out_dir, columns, run=self.run_id, model=model_label(identity))
        done = 0
        stream = self._distributed(protected) if self.distributed else self._local(protected)
        try:
            if report.set_aside is not None:
                text = ("the existing report could not be read; it was kept as "
                        f"{one_line(report.set_aside)}")
                log.warning(text)
                yield Status(text)
            yield Progress(0, total, "files")
            for item in stream:
                if isinstance(item, FileResult):
                    done += 1
                    self.counts[item.status] += 1
                    row = report.add(item)
                    yield Partial(_said_of_skipped(item, row, report.model, self.options))
                    yield Progress(done, total, "files")
                else:
                    yield item
        except GeneratorExit:
            self.cancelled = True
            raise
        finally:
            stream.close()  # a cancel: the current file stops after its tile batch, unwritten
            self.seconds = time.perf_counter() - start
            report.close(self.summary())
            try:  # the rows are safe; the record is a bonus, said when it cannot be written
                write_run_record(self.out_dir, identity, self.options.to_dict(), self.summary(),
                                 self.run_id, started)  # fmt: skip
            except OSError as exc:
                log.warning("the run record %s was not written (%s)", RUN_RECORD,
                            exc.strerror or exc)  # fmt: skip

    def _local(self, protected):
        for job in self._jobs():
            if isinstance(job, FileResult):
                yield job
                continue
            i, out = job
            steps = segment_file_steps(self.predictor, i.path, out, self.options,
                                       protected=protected)  # fmt: skip
            yield (yield from relay(steps, lambda tiles, path=i.path: Progress(
                tiles.done, tiles.total, "tiles", {"file": path})))

    def _distributed(self, protected):
        from .cluster import open_client, run_on_cluster

        jobs, early = [], []
        for job in self._jobs():
            if isinstance(job, FileResult):
                early.append(job)
            else:
                jobs.append((job[0].path, job[1]))
        yield from early
        client = open_client(self.scheduler, self.workers)
        try:
            yield from run_on_cluster(client, jobs, str(self.model_spec), self.options,
                                      self.threads, protected)  # fmt: skip
        finally:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None and not self.scheduler:
                cluster.close()  # a cancel: its workers stop, a file they were writing too
                for folder in {out for _, out in jobs}:
                    remove_stale_parts(folder)  # what they left under a temporary name

    def __iter__(self) -> Iterator[FileResult]:
        for item in self.events():
            if isinstance(item, Partial):
                yield item.value

    def summary(self) -> str:
        c, n = self.counts, len(self.inputs)
        processed = sum(c.values())
        text = (f"{n} file(s): {c['ok']} segmented, {c['skipped']} skipped, {c['failed']} failed"
                f" in {self.seconds:.1f} s")  # fmt: skip
        if processed < n:
            text += f"; cancelled with {n - processed} not processed"
        return text


def _said_of_skipped(result: FileResult, row: dict, model: str,
                     options: SegmentOptions) -> FileResult:  # fmt: skip
    """A file skipped because an earlier run segmented it, with another model or measured at
    another pixel size (or in pixels where this run gives microns): said in notes (the report
    keeps what that run made)."""
    if result.status != "skipped" or result.reason != FileResult.EXISTS:
        return result
    made, um, notes = row.get("model", ""), row.get("microns_per_pixel", ""), []
    if made and made != model:
        notes.append(f"its outputs were made with {made}, not {model}: overwrite redoes it "
                     "with this one")  # fmt: skip
    given = options.pixel_size_um or options.fov_degrees
    if given and not um and row.get("calibre_px"):  # measured, in pixels
        notes.append("it was measured in pixels (no pixel size or angle then): overwrite "
                     "measures it in microns")  # fmt: skip
    elif um and options.pixel_size_um and abs(float(um) / options.pixel_size_um - 1) > 1e-3:
        notes.append(f"it was measured at {um} um per pixel, not {options.pixel_size_um:g}: "
                     "overwrite measures it again")  # fmt: skip
    return dataclasses.replace(result, notes=(*result.notes, *notes)) if notes else result


def _missing(path: Path) -> bool:
    """Nothing at ``path`` (a broken link or a file this user may not read is something)."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def segment_batch(inputs, out_dir, **options) -> list[FileResult]:
    """Run a :class:`BatchRun` to the end and return its results."""
    return list(BatchRun(inputs, out_dir, **options))


__all__ = ["BatchError", "BatchRun", "segment_batch"]
