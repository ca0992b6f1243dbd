"""Losses for (N, K, H, W) logits and (N, H, W) integer targets, each with an ignore label.

Pixels whose target equals ``ignore_index`` contribute nothing: not to the sum, not to the
normaliser. This is what lets a user annotate only part of an image.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Loss = Callable[..., torch.Tensor]


def _valid(target: torch.Tensor, ignore_index: int | None) -> torch.Tensor:
    if ignore_index is None:
        return torch.ones_like(target, dtype=torch.bool)
    return target != ignore_index


def weighted_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """Mean over labelled pixels of w(x) * -log p_{l(x)}(x) (paper Eq. 1); w = 1 if not given."""
    valid = _valid(target, ignore_index)
    safe = torch.where(valid, target, torch.zeros_like(target))
    ce = F.cross_entropy(logits, safe, reduction="none")
    w = valid.float() if weight is None else weight * valid
    return (ce * w).sum() / valid.sum().clamp(min=1)


def soft_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int | None = None, eps: float = 1.0
) -> torch.Tensor:
    """1 - mean over foreground classes (1..K-1) of 2|P.T| / (|P| + |T|), labelled pixels only."""
    valid = _valid(target, ignore_index).unsqueeze(1).float()
    probs = torch.softmax(logits, dim=1) * valid
    safe = torch.where(valid[:, 0].bool(), target, torch.zeros_like(target))
    onehot = torch.movedim(F.one_hot(safe, logits.shape[1]), -1, 1).float() * valid
    dims = (0, *range(2, logits.dim()))  # the batch and every spatial axis
    inter = (probs * onehot).sum(dims)[1:]
    total = (probs + onehot).sum(dims)[1:]
    return 1 - ((2 * inter + eps) / (total + eps)).mean()


def bce_dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """(Weighted) cross-entropy (= BCE for two classes) plus soft Dice."""
    return weighted_cross_entropy(logits, target, weight, ignore_index) + soft_dice_loss(
        logits, target, ignore_index
    )


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    ignore_index: int | None = None,
    gamma: float = 2.0,
) -> torch.Tensor:
    """Mean over labelled pixels of w(x) * -(1 - p_t)^gamma log p_t (Lin et al. 2017)."""
    valid = _valid(target, ignore_index)
    safe = torch.where(valid, target, torch.zeros_like(target))
    logp = torch.log_softmax(logits, dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)
    fl = -((1 - logp.exp()) ** gamma) * logp
    w = valid.float() if weight is None else weight * valid
    return (fl * w).sum() / valid.sum().clamp(min=1)


LOSSES: dict[str, Loss] = {
    "ce": weighted_cross_entropy,  # the trainer passes no weight map for "ce": plain cross-entropy
    "weighted_ce": weighted_cross_entropy,
    "bce_dice": bce_dice_loss,
    "focal": focal_loss,
}


def get_loss(name: str) -> Loss:
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    return LOSSES[name]
