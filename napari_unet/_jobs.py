"""Background jobs. Each job is a generator that yields progress and returns its result, so a
napari worker can run it, and quit it between yields. torch and unet_core's numerics are
imported inside the jobs, never at import. Models are found by reference: a version of the
window's projects through its workspace, else a bundled model or a file (no registry of
names is consulted before files)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

#: the Segment widget's choice of a bundled model for the image's kind
AUTO = "auto"
_MODELS: OrderedDict[tuple, Any] = OrderedDict()
_KEEP = 4  # models kept loaded (a bundled fundus model is 18 MB)
_LOCK = threading.Lock()


def load_model_cached(spec: str, device: str):
    """A bundled model by name or a model file by path, kept loaded while its file is
    unchanged (a file saved again is read again); the last few used are kept."""
    from unet_core.formats.store import load_model, resolve_model_path

    path = resolve_model_path(spec)
    info = path.stat()
    key = (str(path.resolve()), info.st_mtime_ns, info.st_size, device)
    with _LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    model = load_model(path, device=device)
    with _LOCK:
        _MODELS[key] = model
        while len(_MODELS) > _KEEP:
            _MODELS.popitem(last=False)
    return model


def resolve_model(workspace: Any, ref: str, device: str):
    """The network of a model reference: a version of the window's projects, else a
    bundled model or a file."""
    if ref.startswith("version:"):
        return workspace.model(ref, device)
    return load_model_cached(ref, device)


@dataclass
class SegmentResult:
    prob: Any  # (classes, H, W) float32
    classes: list[str]
    scale: float
    seconds: float
    model: str  # the reference of the model used
    card: Any = None
    measurements: dict | None = None  # the task's measurements of the mask (vessels)
    objects: Any = None  # (H, W) int32 separate objects, when asked for
    precision: str = "fp32"  # the network's arithmetic: "fp32" or "bf16"
    pyramid: list | None = None  # the foreground probability at each shape asked for
    notes: list[str] = field(default_factory=list)  # what the user should know, one line each
    chosen: str = ""  # why the model was chosen for this image (the automatic choice)
    extent: str = ""  # a whole stack's: how many slices, and how (slice by slice or in 3-D)
    finer: tuple = ()  # further scales a large photograph was segmented at, fused

    @property
    def scales(self) -> str:
        """The scales it was segmented at, for a status line: "0.16", or "0.16 and 0.41"."""
        return " and ".join(f"{s:.2f}" for s in (self.scale, *self.finer))


def three_d_refusal(in_stack: bool) -> str:
    """Why a 3-D model does not segment one slice of a stack, or a 2-D image."""
    return ("a 3-D model segments whole stacks: tick 'whole stack'" if in_stack else
            "a 3-D model segments stacks (volumes), and this image is 2-D: choose a 2-D "
            "model")  # fmt: skip


def segment_job(
    image: Any, ref: str, workspace: Any = None, device: str = "auto", tile: int | None = None,
    tta: bool = False, threshold: float = 0.5, objects: bool = False,
    pyramid_shapes: list | None = None, in_stack: bool = False,
) -> Generator[Any, None, SegmentResult]:  # fmt: skip
    """Segment one 2-D image with the model ``ref`` (:data:`AUTO`: the bundled model for the
    image's kind): yields ``unet_core.base.events.Progress`` in tiles, returns a
    :class:`SegmentResult` (with the task's measurements of the mask at ``threshold``, the
    separate objects when ``objects``, and the foreground probability at each of
    ``pyramid_shapes``, the image's own first, for a multiscale result). ``in_stack``: the
    image is a slice of a stack (a 3-D model is then refused with 'whole stack' to tick)."""
    import numpy as np

    from unet_core.base.arrays import pyramid
    from unet_core.inference.predictor import Predictor
    from unet_core.postprocess import (
        foreground_probability,
        probabilities_to_labels,
        separate_objects,
    )
    from unet_core.tasks import suggest_model

    start = time.perf_counter()
    chosen = ""
    if ref == AUTO:
        ref, chosen = suggest_model(np.asarray(image) if isinstance(image, np.ndarray) else
                                    np.asarray(image[::4, ::4]))  # fmt: skip
    net = resolve_model(workspace, ref, device)
    if net.spatial_dims == 3:
        raise ValueError(three_d_refusal(in_stack))
    predictor = Predictor(net, tile=tile or None, device=device, tta=tta)
    predicted = yield from predictor.run(image)
    prob, scale, context = predicted.prob, predicted.scale, predicted.context
    notes = [n for n in (predictor.window.note, *predictor.task.notes(image, net.card, context))
             if n]  # fmt: skip
    values = predictor.task.measure(image, probabilities_to_labels(prob, threshold), net.card,
                                    context)  # fmt: skip
    instances = separate_objects(prob, net.card.classes, threshold) if objects else None
    levels = pyramid(foreground_probability(prob), pyramid_shapes) if pyramid_shapes else None
    return SegmentResult(prob, list(net.card.classes), scale, time.perf_counter() - start,
                         ref, net.card, values, instances, predictor.precision, levels,
                         notes, chosen, finer=context.finer)  # fmt: skip


def segment_stack_job(
    stack: Any, ref: str, workspace: Any = None, device: str = "auto", tile: int | None = None,
    tta: bool = False, threshold: float = 0.5, objects: bool = False,
) -> Generator[Any, None, SegmentResult]:  # fmt: skip
    """Segment every slice of a (D, H, W[, C]) stack (``unet_core.inference.stacks``): at
    once with a 3-D model, slice by slice with a 2-D one (:data:`AUTO`: the bundled model for
    its middle slice's kind); the result's probabilities are (classes, D, H, W)."""
    import numpy as np

    from unet_core.inference.predictor import Predictor
    from unet_core.inference.stacks import predict_stack
    from unet_core.postprocess import separate_objects
    from unet_core.tasks import suggest_model

    start, chosen = time.perf_counter(), ""
    if ref == AUTO:
        ref, chosen = suggest_model(np.asarray(stack[len(stack) // 2]))
    net = resolve_model(workspace, ref, device)
    predictor = Predictor(net, tile=tile or None, device=device, tta=tta)
    predicted = yield from predict_stack(predictor, stack)
    classes = list(net.card.classes)
    instances = separate_objects(predicted.prob, classes, threshold) if objects else None
    how = f"{len(stack)} slices " + ("in 3-D" if net.spatial_dims == 3 else "slice by slice")
    return SegmentResult(predicted.prob, classes, predicted.scale, time.perf_counter() - start,
                         ref, net.card, None, instances, predictor.precision, None,
                         [predictor.window.note] if predictor.window.note else [], chosen,
                         how)  # fmt: skip


def measure_job(image: Any, labels: Any, card: Any) -> Generator[Any, None, dict]:
    """The task's measurements (vessels) of (edited) labels, off the UI thread."""
    import numpy as np

    from unet_core.base.events import Status
    from unet_core.tasks import task_of

    yield Status("measuring…")
    labels = np.asarray(labels)
    known = np.where((labels > 0) & (labels < len(card.classes)), labels, 0)  # 255: none
    return task_of(card).measure(np.asarray(image), known.astype("uint8"), card)


def round_job(base: Any, data: list, **options) -> Generator[Any, None, Any]:
    """A round of the loop (``unet_core.loop.round_job``: yields its events, ``unet_core.base.
    events``) that leaves one core to napari's window: it draws the loss plot and the user's
    painting."""
    from unet_core.loop import round_job as core_round
    from unet_core.training.threads import available_cores

    return (yield from core_round(base, data, threads=max(1, available_cores() - 1), **options))


def live_job(workspace: Any, ref: str, image: Any, labels: Any, corrected: Any,
             features: Any = None, device: str = "auto") -> Generator[Any, None, Any]:
    """The live answer to a pair's labels as painted when it was asked (``unet_core.loop.live``),
    with the model ``ref`` (loaded here, off the UI thread): corrections weigh as much as the
    rest of the labels, as in a round. Returns (probabilities, the image's features to
    reuse)."""
    from unet_core.base.events import Status
    from unet_core.base.labels import IGNORE_LABEL
    from unet_core.loop.live import live_job as core_live
    from unet_core.training.weight_maps import correction_weights

    yield Status("loading the model…")
    model = resolve_model(workspace, ref, device)
    (weights,) = correction_weights([corrected], [labels], "balanced", IGNORE_LABEL)
    return (yield from core_live(model, image, labels, weights, features, device))


def open_project_job(folder: Any, device: str = "cpu") -> Generator[Any, None, Any]:
    """Read a project folder and its images off the UI thread: yields what it is doing,
    returns the ``unet_core.loop.LoopProject``. A project of format 1 kept no record of its
    predictions: each pair gets one from the version that made it, so that its painted
    pixels are told from the model's again."""
    from unet_core.base.events import Status
    from unet_core.inference.predictor import Predictor
    from unet_core.loop import CORRECTIONS, LoopProject, ProjectError
    from unet_core.loop.storage import load_pixels

    yield Status(f"reading {folder}…")
    project = LoopProject.open(folder)
    for pair in project.pairs:
        yield Status(f"reading the image of '{pair.labels_name}'…")
        try:
            load_pixels(project, pair)
        except ProjectError as exc:  # a moved or deleted image: its labels still open
            project.notes.append(str(exc))
            continue
        version = project.version(pair.model)
        if pair.predictions or pair.complete or pair.mode != CORRECTIONS or version is None:
            continue
        yield Status(f"re-deriving what was painted on '{pair.labels_name}'…")
        pair.adopt(Predictor(project.model_of(version, device), device=device)(pair.pixels),
                   version.ref)  # fmt: skip
    return project


def write_job(write) -> Generator[Any, None, Any]:
    """Run ``write`` (a project's save, ``unet_core.loop.storage.save_job``) off the UI
    thread; returns what it returns (the folder)."""
    from unet_core.base.events import Status

    yield Status("saving…")
    return write()


def train_job(data: Any, out: str, *, val: Any = None, minutes: float | None,
              steps: int | None = None, size: str = "medium", base: str | None = None,
              device: str = "auto", stop=None,
              imagenet: str | None = None,
              recipe: dict | None = None) -> Generator[Any, None, Any]:  # fmt: skip
    """Train a new model on checked data (``unet_core.data.folders.FolderData``): yields the
    training events (``unet_core.base.events``), returns
    ``unet_core.training.finish.TrainResult``. ``stop()`` returning True ends the run early;
    the best weights so far are kept. ``imagenet``: a ResNet encoder's ImageNet weights file;
    ``recipe``: entries replacing the recipe's (a plateau schedule, a patience)."""
    import torch

    from unet_core.training.own_data import iter_train
    from unet_core.training.threads import available_cores

    # one core stays with napari's window: it draws the plot and the user's painting
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(before, available_cores() - 1)))
    try:
        return (yield from iter_train(data, out, val=val, minutes=minutes, steps=steps,
                                      size=size, base=base, device=device, stop=stop,
                                      source="napari", imagenet=imagenet,
                                      recipe=recipe))  # fmt: skip
    finally:
        torch.set_num_threads(before)


def compare_job(
    models: list[Any], image: Any, labels: Any, ignore_label: int, device: str
) -> Generator[Any, None, list[float]]:
    """Held-out Dice of each model on one corrected image: yields ``Progress`` in models."""
    from unet_core.base.events import Progress
    from unet_core.training.finetune import heldout_dice

    dice = []
    for i, model in enumerate(models):
        yield Progress(i, len(models), "models")
        dice.append(heldout_dice(model, image, labels, ignore_label, device=device))
    return dice


def batch_job(inputs: list[str], out_dir: str, model: Any, options: Any, pattern: str = "*",
              recursive: bool = False, **cluster):  # fmt: skip
    """Segment files and folders into ``out_dir`` with ``options`` (a
    ``unet_core.batch.SegmentOptions``, see ``BatchRun``): yields its events
    (``unet_core.base.events``: progress in files and tiles, ``Partial(FileResult)`` per file,
    status lines), returns the run (counts, summary, report). ``model``: a network, or a
    bundled model's name or a file. ``cluster``: BatchRun's ``scheduler`` or ``workers`` and
    ``threads``, to spread the files over a dask cluster (the model then stays a name).
    ``model`` :data:`AUTO`: the bundled model for the first input's pictures, chosen here (off
    the window's thread: it reads pictures) and yielded as ``Record({"model", "why"})``."""
    from unet_core.base.events import Record
    from unet_core.batch import BatchRun

    if model == AUTO:
        from unet_core.batch.auto_model import choosing_model

        model, why = yield from choosing_model(inputs[0], pattern, recursive)
        yield Record({"model": model, "why": why})
    spread = cluster.get("scheduler") or cluster.get("workers")
    net = load_model_cached(model, options.device) if isinstance(model, str) and not spread \
        else model  # fmt: skip
    run = BatchRun(inputs, out_dir, model=net, options=options, pattern=pattern,
                   recursive=recursive, **cluster)  # fmt: skip
    yield from run.events()
    return run
