"""Adam (Kingma & Ba 2015) without ``torch.optim``'s start-up cost.

Creating any ``torch.optim`` optimizer imports ``torch._dynamo`` (1-4 s on these CPUs, more on a
busy machine), which a fine-tuning round would spend before its first step. This is the same
update in a few ``torch._foreach`` calls, with a state dict in ``torch.optim.Adam``'s layout so
checkpoints load in either.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


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
