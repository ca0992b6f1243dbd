"""A trained network given more classes: every layer kept, the output layer given a row for
each new class that starts improbable (zero weights, a bias well below the old classes'), so
the old classes' probabilities stay as they were until training teaches the new one. A
cascade's refiner, which reads the class probabilities, gets a zero input for each new one."""

from __future__ import annotations

import copy
import dataclasses

import torch

from .build import build_model
from .unet import UNet

#: how far below the lowest old bias a new class's bias starts (e^-8: a new class starts at
#: about 0.03 % of the probability where the old classes' logits are alike)
NEW_CLASS_OFFSET = 8.0


def with_classes(model: UNet, num_classes: int) -> UNet:
    """A copy of ``model`` with ``num_classes`` (>= its own) outputs; ``model`` is unchanged.
    ValueError in one line for fewer classes than it has."""
    old = model.num_classes
    if num_classes < old:
        raise ValueError(f"the model has {old} classes: a model can be given more classes, "
                         f"not fewer ({num_classes})")  # fmt: skip
    if num_classes == old:
        return copy.deepcopy(model)
    wider = build_model({**model.config, "num_classes": num_classes})
    state = wider.state_dict()
    for key, value in model.state_dict().items():
        target = state[key]
        if target.shape == value.shape:
            state[key] = value.clone()
        else:
            state[key] = _widened(key, value, target, old)
    wider.load_state_dict(state)
    wider.card = getattr(model, "card", None)
    return wider.to(next(model.parameters()).device)


def with_named_classes(model: UNet, names: list[str]) -> UNet:
    """``model`` given a class for each of ``names`` beyond its own (:func:`with_classes`), its
    card naming them all and recording the lineage (``classes_added``, ``classes_before``);
    the model itself when ``names`` are no more than its classes."""
    from .card import card_of

    if len(names) <= model.num_classes:
        return model
    card = card_of(model)
    wider = with_classes(model, len(names))
    old = list(card.classes)
    lineage = {"classes_added": list(names[len(old):]), "classes_before": old}
    wider.card = dataclasses.replace(card, classes=list(names), architecture=wider.config,
                                     provenance={**card.provenance, **lineage})  # fmt: skip
    return wider


def _widened(key: str, old: torch.Tensor, new: torch.Tensor, k: int) -> torch.Tensor:
    """``new``'s shape filled from ``old``: an output layer's rows (weights zero and a low bias
    for the new classes), or a refiner's input columns (zero for the new probabilities)."""
    out = torch.zeros_like(new)
    if old.shape[0] != new.shape[0]:  # the output layer: one row per class
        out[:k] = old
        if key.endswith("bias") and not key.startswith("refiner."):  # the refiner adds 0
            out[k:] = old.min() - NEW_CLASS_OFFSET
        return out
    # a refiner's first convolution: image channels, then K class probabilities (now more)
    out[:, : old.shape[1]] = old
    return out

