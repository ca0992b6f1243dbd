"""Fine-tuning on a user's corrections (paint-and-retrain), napari-free.

The user segments an image, corrects the mask, and fine-tunes: labels use the model's class
indices, pixels carrying ``ignore_label`` count for nothing (so sparse scribbles are fine), and
pixels where the correction differs from the model's own prediction weigh ``changed_weight``
times more, so that a few strokes matter.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Generator, Sequence

import numpy as np
import torch

from ..data.augment import Augmentation
from ..data.datasets import Sample, make_sample
from ..inference.predictor import Cancelled, Predictor, card_of
from ..inference.rescale import resize
from ..model.unet import UNet
from ..postprocess import probabilities_to_labels
from .config import TrainConfig
from .trainer import Trainer


def correction_sample(
    model: UNet, predictor: Predictor, image: np.ndarray, labels: np.ndarray,
    ignore_label: int | None, changed_weight: float,
) -> Sample:  # fmt: skip
    """A training sample at the model's scale, weighted where ``labels`` corrects the model."""
    labels = np.asarray(labels)
    if labels.shape != image.shape[:2]:
        raise ValueError(f"labels {labels.shape} do not match the image {image.shape[:2]}")
    valid = labels != ignore_label if ignore_label is not None else np.ones(labels.shape, bool)
    if not valid.any():
        raise ValueError("the labels mark no pixel for training (all are the ignore label)")
    bad = (labels[valid] < 0) | (labels[valid] >= model.num_classes)
    if bad.any():
        raise ValueError(
            f"labels must be class indices 0..{model.num_classes - 1} (or the ignore label "
            f"{ignore_label}), got {np.unique(labels[valid][bad])[:5].tolist()}"
        )
    own = probabilities_to_labels(predictor(image))
    weights = np.where(valid & (labels != own), changed_weight, 1.0).astype(np.float32)
    factor = predictor.last_scale
    if abs(factor - 1.0) >= 0.02:  # train where the model works: at its own scale
        size = (max(1, round(labels.shape[0] * factor)), max(1, round(labels.shape[1] * factor)))
        image = resize(np.asarray(image), size)
        labels = resize(labels.astype(np.float32), size, order=0).astype(np.int64)
        weights = resize(weights, size, order=0)
    sample = make_sample(image, labels.astype(np.int64), card_of(model).preprocessing)
    sample.weights = weights
    return sample


def finetune(
    model: UNet,
    images: Sequence[np.ndarray] | np.ndarray,
    labels: Sequence[np.ndarray] | np.ndarray,
    *,
    callback: Callable[[dict], object] | None = None,
    **options,
) -> UNet:
    """A new model fine-tuned on ``images`` with their corrected ``labels``; ``model`` is untouched.

    Stops after ``steps`` or ``seconds``, whichever comes first (default: 20 s). ``callback``
    receives every training log (see :meth:`Trainer.fit`); returning ``False`` stops the run
    with :class:`Cancelled`, and nothing is returned. Images are (H, W) or (H, W, C) as for
    :func:`predict`; labels are (H, W) class indices. See :func:`iter_finetune` for the options.
    """
    job = iter_finetune(model, images, labels, **options)
    try:
        while True:
            log = next(job)
            if callback is not None and callback(log) is False:
                job.close()
                raise Cancelled(f"fine-tuning stopped at step {log.get('step', 0)}")
    except StopIteration as finished:
        return finished.value


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
    changed_weight: float = 5.0,
    freeze_encoder: bool = False,
    batch_size: int = 4,
    device: str = "auto",
) -> Generator[dict, None, UNet]:
    """Fine-tuning as a generator: yields every training log, returns the new model.

    steps, seconds : budget; whichever comes first (default: 20 s).
    lr : learning rate (default 5e-4, Adam, constant).
    ignore_label : label of unannotated pixels; they contribute nothing.
    changed_weight : loss weight of pixels where the labels differ from the model's prediction.
    freeze_encoder : train the expanding path (and a refiner, if the model has one) only.
        Batch-norm statistics are always kept.
    """
    if isinstance(images, np.ndarray) and images.ndim in (2, 3) and np.ndim(labels) == 2:
        images, labels = [images], [labels]
    if len(images) != len(labels) or not images:
        raise ValueError(
            f"need as many label images as images, got {len(images)} and {len(labels)}"
        )
    if steps is None and seconds is None:
        seconds = 20.0
    start = time.perf_counter()
    predictor = Predictor(model, device=device)
    samples = [correction_sample(model, predictor, i, lab, ignore_label, changed_weight)
               for i, lab in zip(images, labels)]  # fmt: skip
    new = copy.deepcopy(model)
    patch = 128 if model.padding == "same" else model.valid_input_size(188)
    config = TrainConfig(
        steps=steps or 10**9, batch_size=batch_size, patch=patch, lr=lr or 5e-4,
        schedule="constant", warmup=0, loss="bce_dice" if model.num_classes == 2 else "focal",
        ignore_label=ignore_label, foreground_p=0.5, val_every=10, freeze_bn=True,
        freeze_encoder=freeze_encoder, seed=seed,
        augmentation=Augmentation(elastic_p=0.25, intensity=0.5),
    )  # fmt: skip
    torch.manual_seed(seed)
    trainer = Trainer(new, samples, config, device=device)
    remaining = None if seconds is None else max(0.0, seconds - (time.perf_counter() - start))
    yield from trainer.fit(seconds=remaining)
    new.eval()
    for p in new.parameters():
        p.requires_grad_(True)
    card = model.card
    if card is not None:
        done = {
            "steps": trainer.step,
            "images": len(samples),
            "seconds": round(time.perf_counter() - start, 1),
        }
        new.card = dataclasses.replace(
            card, provenance={**card.provenance, "finetuned_from": card.name or "model",
                              "finetune": done},
        )  # fmt: skip
    return new


def heldout_dice(
    model: UNet, image: np.ndarray, labels: np.ndarray, ignore_label: int | None = None,
    device: str = "auto",
) -> float:  # fmt: skip
    """Dice of the foreground (classes >= 1) on the labelled pixels of a held-out image."""
    from ..metrics import binary_metrics

    pred = probabilities_to_labels(Predictor(model, device=device)(image)) > 0
    labels = np.asarray(labels)
    roi = labels != ignore_label if ignore_label is not None else None
    return binary_metrics(pred, labels > 0, roi=roi)["f1"]
