"""How the weights move: the optimizer (:func:`make_optimizer`), the learning-rate schedule
(:func:`lr_factor`), the moving average of the weights (:func:`update_average`) and parameters
held still (:func:`frozen`).

Adam (Kingma & Ba 2015) without ``torch.optim``'s start-up cost: creating any ``torch.optim``
optimizer imports ``torch._dynamo`` (1-4 s on these CPUs, more on a busy machine), which a fine-
tuning round would spend before its first step. This is the same update in a few
``torch._foreach`` calls, with a state dict in ``torch.optim.Adam``'s layout so checkpoints load
in either.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .config import TrainConfig


class Adam:
    """Adam with L2 weight decay (as ``torch.optim.Adam``): one parameter group.

    ``param_groups[0]["lr"]`` may be changed between steps (the trainer's schedule does).
    """

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        self.params = [p for p in params]
        if not self.params:
            raise ValueError("Adam got no parameters")
        self.param_groups = [{"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}]
        self.step_count = 0
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format)
                        for p in self.params]  # fmt: skip
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format)
                           for p in self.params]  # fmt: skip

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        group = self.param_groups[0]
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        params = [self.params[i] for i in live]
        grads = [self.params[i].grad for i in live]
        m, v = [self.exp_avg[i] for i in live], [self.exp_avg_sq[i] for i in live]
        if wd:
            grads = torch._foreach_add(grads, params, alpha=wd)
        self.step_count += 1
        torch._foreach_lerp_(m, grads, 1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, 1 - b2)
        bias1, bias2 = 1 - b1**self.step_count, 1 - b2**self.step_count
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, bias2**0.5)
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, m, denom, -lr / bias1)

    def state_dict(self) -> dict:
        """In ``torch.optim.Adam``'s layout (parameters by index)."""
        step = torch.tensor(float(self.step_count))
        state = {i: {"step": step.clone(), "exp_avg": m, "exp_avg_sq": v}
                 for i, (m, v) in enumerate(zip(self.exp_avg, self.exp_avg_sq))}  # fmt: skip
        group = {**self.param_groups[0], "params": list(range(len(self.params)))}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict) -> None:
        group = state_dict["param_groups"][0]
        if len(group["params"]) != len(self.params):
            raise ValueError(
                f"optimizer state for {len(group['params'])} parameters, got {len(self.params)}"
            )
        for key in ("lr", "betas", "eps", "weight_decay"):
            self.param_groups[0][key] = group[key]
        for i, idx in enumerate(group["params"]):
            s = state_dict["state"].get(idx)
            if s is None:
                continue
            self.exp_avg[i].copy_(s["exp_avg"])
            self.exp_avg_sq[i].copy_(s["exp_avg_sq"])
            self.step_count = int(s["step"])


def make_optimizer(params: list[torch.nn.Parameter], config: TrainConfig) -> Adam | torch.optim.SGD:
    """The optimizer ``config`` names, over ``params``."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)  # fmt: skip
    return Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def lr_factor(config: TrainConfig, step: int, time_fraction: float = 0.0) -> float:
    """The learning rate's factor at ``step``: warm-up, then the schedule over the run, its
    steps or its time budget (``time_fraction`` spent), whichever is further along."""
    c = config
    warm = min(1.0, (step + 1) / c.warmup) if c.warmup else 1.0
    t = min(1.0, max(step / max(1, c.steps), time_fraction))
    if c.schedule == "cosine":
        return warm * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))
    if c.schedule == "step":
        return warm * (0.1 if t >= 2 / 3 else 1.0)
    return warm  # constant; plateau: times the trainer's plateau_scale


#: the lowest a plateau schedule takes the rate, as a factor of ``lr``
PLATEAU_FLOOR = 1e-3


def plateau_scale(config: TrainConfig, scale: float, bad_rounds: int) -> float:
    """A plateau schedule's factor after a validation: ``plateau_factor`` times lower when the
    held-out score has not improved for another ``plateau_patience`` validations."""
    if config.schedule != "plateau" or not bad_rounds or bad_rounds % config.plateau_patience:
        return scale
    return max(PLATEAU_FLOOR, scale * config.plateau_factor)


@torch.no_grad()
def update_average(average: torch.nn.Module, model: torch.nn.Module, decay: float,
                   step: int) -> None:  # fmt: skip
    """Move ``average``'s weights towards ``model``'s (Polyak averaging); early on, average
    over the steps so far (``min(decay, (1 + step) / (10 + step))``), so that a short run is not
    pulled to its start. Buffers (batch-norm statistics) are copied."""
    decay = min(decay, (1 + step) / (10 + step))
    for avg, p in zip(average.parameters(), model.parameters()):
        avg.lerp_(p, 1.0 - decay)
    for avg, b in zip(average.buffers(), model.buffers()):
        avg.copy_(b)


@contextlib.contextmanager
def frozen(params: list[torch.nn.Parameter]) -> Iterator[None]:
    """``params`` take no gradient inside the block (a frozen encoder), as before after it."""
    before = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, before):
            p.requires_grad_(flag)
