"""Fine-tuning on a user's corrections or scribbles (paint-and-retrain), napari-free.

Labels use the model's class indices; pixels carrying ``ignore_label`` count for nothing, so a
few strokes per class are enough. The recipe is built for rounds of 10-120 s on a CPU, often on
an image unlike anything the model saw (``benchmarks/finetune.py`` measures each choice):

- after the first step the batch-norm statistics become those of the user's images (up to
  :data:`ADAPT_IMAGES` of them, each through a central crop, :func:`recalibrate_batchnorm`:
  the network follows a new domain; on its own they barely move) and are kept while the
  weights learn, at a learning rate of 3e-4: a round on a good map then loses almost nothing
  away from the correction (``benchmarks/finetune_weights.py``) and scribbles of a new kind of
  image teach more (``benchmarks/finetune.py --recipes``, ``benchmarks/loop.py``).
  ``batchnorm="learn"`` learns them from the patches (training mode), re-estimated after a
  round too short to forget the old domain. A network without batch norm, or another tool's,
  keeps a learning rate of 1e-3 (the rate measured for it before);
- one patch a step, centred on a labelled pixel, with flips and rotations; cross-entropy plus
  soft Dice on the labelled pixels (thin vessels and membranes gain most); Adam at a constant
  learning rate; the weights averaged over the last steps (EMA 0.95), which smooths out the
  noise of one-patch steps;
- nothing before the first step but preparing the images: no prediction, and an optimizer that
  does not import ``torch._dynamo`` (:mod:`.optim`);
- the thread count chosen by timing the steps (:class:`ThreadTuner`), so another program on a
  core costs steps in proportion.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Generator, Iterator, Sequence

import numpy as np
import torch

from ..base.arrays import resize
from ..base.events import Progress, Record
from ..base.jobs import drain
from ..data.augment import Augmentation
from ..data.datasets import Sample, make_sample
from ..inference.predictor import Predictor
from ..model.card import card_of
from ..model.external import ExternalNetwork
from ..model.unet import UNet
from ..model.widen import with_named_classes
from ..tasks import task_of
from .batchnorm import batchnorm_layers, recalibrate_batchnorm
from .config import TrainConfig
from .finetune_inputs import (
    check_budget,
    check_inputs,
    check_labels,
    check_trainable,
    planes_for,
)
from .threads import tuned
from .trainer import Trainer
from .weight_maps import CORRECTED_WEIGHT, correction_weights

#: the largest in-plane patch edge of a 3-D model's fine-tuning
VOLUME_PATCH = 64

#: Below this many steps the batch-norm running averages (momentum 0.1) still hold more than
#: 4 % of the old domain's statistics (0.9 ** 30), so "learn" re-estimates them on the images.
FEW_STEPS = 30
#: what a round does with the batch-norm statistics: "adapt" them to the user's images, then
#: keep them (the default), or "learn" them from its patches (training mode)
BATCHNORM = ("adapt", "learn")
#: "adapt" takes the statistics of at most this many of the images (evenly spaced: a stack's
#: slices), each through a central crop of at most 512 px (:func:`recalibrate_batchnorm`)
ADAPT_IMAGES = 8
#: the learning rate of a round (Adam, constant) of a network with batch norm; without: 1e-3
LEARNING_RATE = 3e-4


def correction_sample(
    model: UNet, image: np.ndarray, labels: np.ndarray, ignore_label: int | None,
    weights: np.ndarray | None = None,
) -> Sample:  # fmt: skip
    """A training sample at the scale the model works at (e.g. a fundus model's FOV size);
    ``weights`` (H, W) are per-pixel loss weights, resampled with the labels."""
    card = card_of(model)
    nd = np.ndim(labels)
    labels = check_labels(labels, np.shape(image)[:nd], model.num_classes, ignore_label)
    factor = task_of(card).scale_for(np.asarray(image), card) if nd == 2 else 1.0
    if abs(factor - 1.0) >= 0.02:  # train where the model works: at its own scale
        size = (max(1, round(labels.shape[0] * factor)), max(1, round(labels.shape[1] * factor)))
        image = resize(np.asarray(image), size)
        labels = resize(labels.astype(np.float32), size, order=0).astype(np.int64)
        if weights is not None:
            weights = resize(np.asarray(weights, np.float32), size, order=0)
    if isinstance(model, ExternalNetwork):  # its package's preprocessing, on the whole image
        image = external_input(model, np.asarray(image))
    sample = make_sample(np.asarray(image), labels, card.preprocessing)
    if weights is not None:
        sample.loss_weights = np.asarray(weights, np.float32)
    return sample


def external_input(model: ExternalNetwork, image: np.ndarray) -> np.ndarray:
    """``image`` (H, W[, C]) as a foreign network's package preprocesses it, in the same
    layout (its card then reads it as it is)."""
    from ..data.preprocess import select_channels

    channels = model.card.preprocessing.channels
    x = model.normalizer().fit(image)(select_channels(image, channels))
    return x[0] if x.shape[0] == 1 else np.moveaxis(x, 0, -1)


def _as_lists(images, labels, spatial_dims: int = 2) -> tuple[list, list]:
    if isinstance(images, np.ndarray) and np.ndim(labels) == spatial_dims and \
            images.ndim in (spatial_dims, spatial_dims + 1):  # one image, or one volume
        images, labels = [images], [labels]
    images, labels = list(images), list(labels)
    if len(images) != len(labels) or not images:
        raise ValueError(
            f"need as many label images as images, got {len(images)} and {len(labels)}"
        )
    return images, labels


def _prepared(model: UNet, images, labels, corrected, ignore_label: int | None, classes,
              patch: int) -> tuple[UNet, list, list, list | None]:  # fmt: skip
    """The model (given the ``classes`` it lacks) and the images, labels and corrected masks
    as planes it trains on; ValueError in one line before any work."""
    check_trainable(model)
    if classes is not None and len(classes) > model.num_classes:
        model = with_named_classes(model, list(classes))
    images, labels = _as_lists(images, labels, model.spatial_dims)
    images, labels, corrected = planes_for(model, images, labels, corrected, ignore_label)
    check_inputs(model, images, labels, ignore_label, patch)
    return model, images, labels, corrected


def finetune(
    model: UNet,
    images: Sequence[np.ndarray] | np.ndarray,
    labels: Sequence[np.ndarray] | np.ndarray,
    *,
    steps: int | None = None,
    seconds: float | None = None,
    lr: float | None = None,
    ignore_label: int | None = None,
    seed: int = 0,
    callback: Callable[[dict], object] | None = None,
    **options,
) -> UNet:
    """A new model fine-tuned on ``images`` with their ``labels``; ``model`` is untouched.

    Images are (H, W) or (H, W, C) as for :func:`predict`; labels are (H, W) class indices,
    ``ignore_label`` marking pixels nobody annotated. Stops after ``steps`` or ``seconds``,
    whichever comes first (default: 20 s). ``callback`` receives every training event (see
    :meth:`Trainer.fit`); returning ``False`` stops the run with :class:`Cancelled` and nothing
    is returned. See :func:`iter_finetune` for the other options.
    """
    job = iter_finetune(model, images, labels, steps=steps, seconds=seconds, lr=lr,
                        ignore_label=ignore_label, seed=seed, **options)  # fmt: skip
    return drain(job, callback,
                 lambda event: f"fine-tuning stopped at step {getattr(event, 'done', 0)}")


def finetune_config(model: UNet, *, steps: int | None, lr: float | None, ignore_label: int | None,
                    seed: int, batch_size: int = 1, patch: int = 128, border_weights: bool = False,
                    freeze_encoder: bool = False, ema: float = 0.95, loss: str = "bce_dice",
                    precision: str = "auto", corrected_p: float = 0.0,
                    batchnorm: str = "adapt") -> TrainConfig:  # fmt: skip
    """The short-budget recipe as a :class:`TrainConfig` (see the module docstring)."""
    if batchnorm not in BATCHNORM:
        raise ValueError(f"batchnorm is one of {', '.join(BATCHNORM)}, not {batchnorm!r}")
    if isinstance(model, ExternalNetwork):  # a foreign network learns as it was made
        if freeze_encoder:
            raise ValueError("a network of another tool has no encoder this tool knows: "
                             "fine-tune it without freezing one")  # fmt: skip
        precision, batchnorm = "fp32", "learn"  # its rounds as they were (module docstring)
    if isinstance(model, ExternalNetwork) or not batchnorm_layers(model):
        lr = lr or 1e-3
    if model.spatial_dims == 3:  # a volume's patch is seen in 3-D: far fewer pixels a side
        patch = min(patch, VOLUME_PATCH)
    size = patch if model.padding == "same" else model.valid_input_size(patch + 60)
    return TrainConfig(
        steps=steps or 10**9, batch_size=batch_size, patch=size, lr=lr or LEARNING_RATE,
        schedule="constant", warmup=0, loss=loss, border_weights=border_weights,
        ignore_label=ignore_label, foreground_p=0.0, corrected_p=corrected_p,
        val_every=10**9, freeze_bn=batchnorm == "adapt",
        freeze_encoder=freeze_encoder, seed=seed, ema=ema, precision=precision,
        augmentation=Augmentation(elastic_p=0.0, intensity=0.0),
    )  # fmt: skip


def iter_finetune(
    model: UNet,
    images: Sequence[np.ndarray] | np.ndarray,
    labels: Sequence[np.ndarray] | np.ndarray,
    *,
    steps: int | None = None,
    seconds: float | None = None,
    lr: float | None = None,
    ignore_label: int | None = None,
    seed: int = 0,
    corrected: Sequence[np.ndarray] | None = None,
    corrected_weight: float | str = CORRECTED_WEIGHT,
    threads: int | None = None,
    device: str = "auto",
    classes: Sequence[str] | None = None,
    **recipe,
) -> Generator[Progress | Record, None, UNet]:
    """Fine-tuning as a generator: yields the trainer's events (its steps' ``values`` also
    give the ``threads`` in use), returns the new model.

    steps, seconds : budget; whichever comes first (default: 20 s).
    lr : learning rate (default :data:`LEARNING_RATE`; 1e-3 for a network without batch norm
        or another tool's; Adam, constant).
    ignore_label : label of unannotated pixels; they contribute nothing.
    corrected, corrected_weight : bool (H, W) masks of the pixels the user corrected, one per
        image, and their loss weight (the rest of the labels weigh 1); "balanced" (the
        default): as much weight in all as the rest, within [1, 30].
    threads : at most this many torch threads (None: every core); the tuner picks how many.
    classes : class names; more than the model has add classes (:func:`with_named_classes`).
    recipe : ``batch_size``, ``patch``, ``border_weights``, ``freeze_encoder``, ``ema``,
        ``loss``, ``precision``, ``batchnorm`` (see :func:`finetune_config`; precision "auto"
        is bf16 mixed precision where the hardware has it; batchnorm: :data:`BATCHNORM`).
    """
    model, images, labels, corrected = _prepared(model, images, labels, corrected, ignore_label,
                                                 classes, recipe.get("patch", 128))  # fmt: skip
    check_budget(steps, seconds, lr, corrected_weight)
    if steps is None and seconds is None:
        seconds = 20.0
    start = time.perf_counter()
    weights = correction_weights(corrected, labels, corrected_weight, ignore_label)
    samples = [correction_sample(model, i, lab, ignore_label, w)
               for i, lab, w in zip(images, labels, weights)]  # fmt: skip
    new = copy.deepcopy(model)
    config = finetune_config(new, steps=steps, lr=lr, ignore_label=ignore_label, seed=seed,
                             **recipe)  # fmt: skip
    torch.manual_seed(seed)
    trainer = Trainer(new, samples, config, device=device)
    remaining = None if seconds is None else max(0.0, seconds - (time.perf_counter() - start))
    events = trainer.fit(seconds=remaining)
    yield from tuned(adapted(events, trainer, samples) if config.freeze_bn else events, threads)
    new = trainer.eval_model
    if trainer.step < FEW_STEPS and not config.freeze_bn:  # they still hold the old domain
        recalibrate_batchnorm(new, [s.image for s in samples], device=trainer.device)
    new.eval()
    if model.card is not None:
        new.card = finetuned_card(model.card, {
            "steps": trainer.step, "images": len(samples),
            "seconds": round(time.perf_counter() - start, 1), "precision": trainer.precision})
    return new


def adapted(events: Iterator, trainer: Trainer, samples: list[Sample]) -> Iterator:
    """The trainer's events; once its first step is out, the batch-norm statistics of its
    model become those of the ``samples``' images (at most :data:`ADAPT_IMAGES`), which it
    keeps (``freeze_bn``). After the first step, not before: that comes as quickly as ever."""
    for i, event in enumerate(events):
        yield event
        if i == 0:
            spaced = np.unique(np.linspace(0, len(samples) - 1, ADAPT_IMAGES).round().astype(int))
            recalibrate_batchnorm(trainer.model, [samples[j].image for j in spaced],
                                  device=trainer.device)  # fmt: skip
            with torch.no_grad():  # the averaged weights' too, should the round end here
                for average, own in zip(trainer.eval_model.buffers(), trainer.model.buffers()):
                    average.copy_(own)


def finetuned_card(card, done: dict) -> object:
    """``card`` of a model fine-tuned as ``done`` says (steps, images, seconds, precision)."""
    return dataclasses.replace(card, provenance={
        **card.provenance, "finetuned_from": card.name or "model", "finetune": done})


def heldout_dice(
    model: UNet, image: np.ndarray, labels: np.ndarray, ignore_label: int | None = None,
    device: str = "auto",
) -> float:  # fmt: skip
    """Dice of the foreground (classes >= 1) on the labelled pixels of a held-out image
    (:func:`~unet_core.scoring.foreground_dice`)."""
    from ..scoring import foreground_dice

    return foreground_dice(Predictor(model, device=device)(image), labels, ignore_label)
