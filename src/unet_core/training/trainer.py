"""The training loop as a table of contents: ``fit()`` yields a log after every step.

Each log is a dict: ``{"kind": "step", "step", "loss", "lr"}`` after every optimisation step and
``{"kind": "epoch", "step", "epoch", "loss", "lr", "seconds", <validation metrics>}`` every
``val_every`` steps. A GUI or CLI iterates over ``fit()`` to show progress, and stops the run
cleanly by simply not asking for the next log (or via ``seconds``).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from ..base.device import eval_mode, memory_format, resolve_device
from ..base.names import one_line
from ..base.precision import autocast, resolve_precision
from ..data.datasets import PatchSampler, Sample
from ..inference.predictor import Predictor
from ..model.unet import UNet
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .losses import get_loss
from .optim import Adam
from .weights import class_balance_weights, unet_weight_map

log = logging.getLogger(__name__)

Evaluate = Callable[[np.ndarray, Sample], dict]


def patch_sizes(model: UNet, patch: int) -> tuple[int, int]:
    """(input, output) patch edges the network accepts, the input no larger than ``patch``."""
    if model.padding == "valid":
        size = model.valid_input_size(patch, "down")
        return size, model.output_size(size)
    size = max(model.grid, patch // model.grid * model.grid)
    return size, size


def check_optimizer(optimizer) -> None:
    """A ValueError for an optimizer state whose hyperparameters no step can use (a resumed
    checkpoint's)."""
    import math

    for group in optimizer.param_groups:
        for key in ("lr", "eps", "weight_decay", "momentum"):
            value = group.get(key, 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value) or value < 0:  # fmt: skip
                raise ValueError(f"its optimizer's {key} is {value!r}")
        betas = group.get("betas", (0.9, 0.999))
        if (not isinstance(betas, (list, tuple)) or len(betas) != 2
                or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
            raise ValueError(f"its optimizer's betas are {betas!r}")


class Trainer:
    """Trains ``model`` in place on ``train`` samples, validating on ``val`` with ``evaluate``.

    ``evaluate(prob, sample)`` turns a (classes, H, W) prediction of ``sample.raw`` into metrics;
    ``config.monitor`` names the one that selects the best weights and drives early stopping.
    """

    def __init__(
        self,
        model: UNet,
        train: list[Sample],
        config: TrainConfig,
        *,
        val: list[Sample] | None = None,
        evaluate: Evaluate | None = None,
        device: str | torch.device = "auto",
        checkpoint: str | os.PathLike | None = None,
    ):
        self.config = config
        self.device = resolve_device(device)
        self.precision = resolve_precision(config.precision, self.device)
        self.memory_format = memory_format(self.device)
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.val, self.evaluate = val or [], evaluate
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.in_size, self.out_size = patch_sizes(model, config.patch)
        self.sampler = PatchSampler(
            train, self.in_size, self.out_size, foreground_p=config.foreground_p,
            augment=config.augmentation, ignore_label=config.ignore_label,
            corrected_p=config.corrected_p,
        )  # fmt: skip
        self.loss_fn = get_loss(config.loss)
        self.class_weights = None
        if config.balance_classes or config.loss == "weighted_ce":
            labels = np.concatenate([s.labels.ravel() for s in train])
            self.class_weights = class_balance_weights(
                labels, model.num_classes, config.ignore_label
            )
        elif config.border_weights:  # the border term alone: every class weighs 1
            self.class_weights = np.ones(model.num_classes)
        self.ema_model = copy.deepcopy(model) if config.ema > 0 else None
        if config.freeze_encoder:
            for part in (model.inc, *model.downs):
                part.requires_grad_(False)
        self.optimizer = self._make_optimizer()
        self.time_fraction = 0.0  # share of fit(seconds=...) spent, for the schedule
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.step, self.history = 0, []
        self.seconds = 0.0  # spent in fit() over all runs of this training (kept by resume)
        self.best: float | None = None
        self.best_state: dict | None = None
        self.bad_rounds = 0
        self._losses: list[float] = []  # of the steps since the last validation

    # ---- pieces ---------------------------------------------------------------------------
    def _make_optimizer(self) -> Adam | torch.optim.SGD:
        c = self.config
        params = [p for p in self.model.parameters() if p.requires_grad] or self.model.parameters()
        if c.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay
            )
        return Adam(params, lr=c.lr, weight_decay=c.weight_decay)

    def _lr_factor(self, step: int) -> float:
        """Warm-up, then the schedule over the run: its steps or its time budget, whichever
        is further along."""
        c = self.config
        warm = min(1.0, (step + 1) / c.warmup) if c.warmup else 1.0
        t = min(1.0, max(step / max(1, c.steps), self.time_fraction))
        if c.schedule == "cosine":
            return warm * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))
        if c.schedule == "step":
            return warm * (0.1 if t >= 2 / 3 else 1.0)
        return warm

    def _weights(self, labels: np.ndarray) -> torch.Tensor | None:
        c = self.config
        if not (c.border_weights or c.loss == "weighted_ce"):
            if self.class_weights is None:
                return None
            index = np.clip(labels, 0, len(self.class_weights) - 1)  # ignored pixels count 0
            return torch.from_numpy(self.class_weights[index].astype(np.float32)).to(self.device)
        maps = [
            unet_weight_map(
                y, self.model.num_classes, w0=c.w0, sigma=c.sigma, object_class=c.object_class,
                ignore_label=c.ignore_label, class_weights=self.class_weights,
            )
            for y in labels
        ]  # fmt: skip
        return torch.from_numpy(np.stack(maps)).to(self.device)

    def train_step(
        self, images: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
    ) -> dict:
        """One optimisation step on a batch; returns ``{"loss", "lr"}``.

        ``weights`` (N, H, W) multiply the per-pixel loss (with the paper's map, if used)."""
        self.model.train()
        if self.config.freeze_bn:  # few images: keep the batch-norm statistics as they are
            for m in self.model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()
        weight = self._weights(labels)
        if weights is not None:
            extra = torch.from_numpy(weights).to(self.device)
            weight = extra if weight is None else weight * extra
        lr = self.config.lr * self._lr_factor(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x = torch.from_numpy(images).to(self.device, memory_format=self.memory_format)
        y = torch.from_numpy(labels).to(self.device)
        with autocast(self.device, self.precision):  # bf16 products; fp32 weights and losses
            out, first = self.model(x, aux=True)
        out, first = out.float(), first.float()
        loss = self.loss_fn(out, y, weight, self.config.ignore_label)
        if self.model.refiner is not None:  # a cascade: both passes learn the labels
            loss = loss + self.loss_fn(first, y, weight, self.config.ignore_label)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self._update_ema()
        return {"loss": float(loss.detach()), "lr": lr}

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema_model is None:
            return
        # early on, average over the steps so far (a short run is not pulled to its start)
        decay = min(self.config.ema, (1 + self.step) / (10 + self.step))
        for avg, p in zip(self.ema_model.parameters(), self.model.parameters()):
            avg.lerp_(p, 1.0 - decay)
        for avg, b in zip(self.ema_model.buffers(), self.model.buffers()):
            avg.copy_(b)

    @property
    def eval_model(self) -> UNet:
        """The weights that are validated and saved: the moving average when ``ema`` is on."""
        return self.ema_model if self.ema_model is not None else self.model

    def validate_now(self) -> dict | None:
        """Close the current epoch early (validate, checkpoint): a run stopped between
        validations then still keeps whichever weights validated best. None when the last
        step was validated already."""
        if not self.step or (self.history and self.history[-1]["step"] == self.step):
            return None
        lr = self.config.lr * self._lr_factor(self.step)
        entry = self._end_epoch(self._losses or [float("nan")], lr, 0.0)
        self._losses = []
        return entry

    def keep_best(self) -> None:
        """Load the weights to save into ``model``: the best validated ones, else the
        averaged ones (EMA), else leave the last ones."""
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        elif self.ema_model is not None:
            self.model.load_state_dict(self.ema_model.state_dict())

    def epochs(self) -> list[dict]:
        return [h for h in self.history if h["kind"] == "epoch"]  # the validation logs so far

    def validate(self) -> dict:
        """Mean of ``evaluate`` over the validation samples (empty without them)."""
        if not self.val or self.evaluate is None:
            return {}
        predictor = Predictor(self.eval_model, device=self.device, precision=self.precision)
        with eval_mode(self.eval_model):
            rows = [self.evaluate(predictor(s.raw), s) for s in self.val]
        return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}

    # ---- the loop -------------------------------------------------------------------------
    def fit(self, seconds: float | None = None) -> Iterator[dict]:
        """Train until ``config.steps`` (or ``seconds`` more), yielding a log after every step.

        The schedule counts the time of earlier runs of a resumed training as spent, so a run
        resumed with the rest of its budget goes on where it stopped."""
        c, start = self.config, time.perf_counter()
        losses = self._losses = []
        before = self.seconds
        while self.step < c.steps:
            if seconds:
                self.time_fraction = self.seconds / (before + seconds)
            images, labels, weights = self.sampler.batch(c.batch_size, self.rng)
            out = self.train_step(images, labels, weights)
            self.step += 1
            self.seconds = before + time.perf_counter() - start
            losses.append(out["loss"])
            yield {"kind": "step", "step": self.step, "elapsed": self.seconds, **out}
            timed_out = seconds is not None and time.perf_counter() - start >= seconds
            # the config is read afresh: a caller may space validations once steps are timed
            if self.step % self.config.val_every == 0 or self.step == c.steps or timed_out:
                entry = self._end_epoch(losses, out["lr"], time.perf_counter() - start)
                losses = self._losses = []
                yield entry
                if entry.get("stop") or timed_out:
                    return

    def _end_epoch(self, losses: list[float], lr: float, seconds: float) -> dict:
        c = self.config
        entry = {
            "kind": "epoch", "step": self.step, "epoch": math.ceil(self.step / c.val_every),
            "loss": float(np.mean(losses)), "lr": lr, "seconds": seconds, **self.validate(),
        }  # fmt: skip
        score = entry.get(c.monitor)
        if score is not None and np.isfinite(score):
            better = self.best is None or (
                score > self.best if c.monitor_mode == "max" else score < self.best
            )
            if better:
                self.best, self.bad_rounds = score, 0
                self.best_state = copy.deepcopy(self.eval_model.state_dict())
            else:
                self.bad_rounds += 1
            entry["best"] = self.best
            if c.patience is not None and self.bad_rounds > c.patience:
                entry["stop"] = "early stopping"
        self.history.append(entry)
        if self.checkpoint is not None:
            self.save(self.checkpoint)
        log.info("step %d: %s", self.step, {k: v for k, v in entry.items() if k != "kind"})
        return entry

    # ---- checkpoints ----------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Everything needed to resume: weights, optimiser, schedule, random states, history."""
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "best_model": self.best_state or {},
            "ema_model": self.ema_model.state_dict() if self.ema_model is not None else {},
        }
        info = {
            "step": self.step, "history": self.history, "best": self.best, "seconds": self.seconds,
            "bad_rounds": self.bad_rounds, "rng": self.rng.bit_generator.state,
            "config": self.config.to_dict(), "architecture": self.model.config,
        }  # fmt: skip
        return save_checkpoint(path, state, info)

    def resume(self, path: str | os.PathLike) -> None:
        """Continue a run saved by :meth:`save` (same model architecture); a
        :class:`~.checkpoint.CheckpointError` naming the file for one that cannot, and then
        nothing of it is taken."""
        state, info = load_checkpoint(path)
        if info["architecture"] != self.model.config:
            old, new = info["architecture"], self.model.config
            diff = ", ".join(f"{k} {old.get(k)} (now {new.get(k)})" for k in sorted({*old, *new})
                             if old.get(k) != new.get(k))  # fmt: skip
            raise CheckpointError(f"{Path(path).name} was trained with another architecture: "
                                  f"{diff}")  # fmt: skip
        ema = self.ema_model
        before = (copy.deepcopy(self.model.state_dict()),
                  copy.deepcopy(self.optimizer.state_dict()), torch.get_rng_state(),
                  self.rng.bit_generator.state,
                  copy.deepcopy(ema.state_dict()) if ema is not None else None)  # fmt: skip
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            check_optimizer(self.optimizer)
            torch.set_rng_state(state["torch_rng"])
            self.rng.bit_generator.state = info["rng"]
            if ema is not None and state.get("ema_model"):
                ema.load_state_dict(state["ema_model"])
            if state["best_model"]:  # weights that must fit the model when the run ends
                copy.deepcopy(self.model).load_state_dict(state["best_model"])
        except Exception as exc:  # shapes, optimizer groups, a random state of another kind
            self.model.load_state_dict(before[0])
            self.optimizer.load_state_dict(before[1])
            torch.set_rng_state(before[2])
            self.rng.bit_generator.state = before[3]
            if ema is not None:
                ema.load_state_dict(before[4])
            raise CheckpointError(f"{Path(path).name} does not fit this training "
                                  f"({type(exc).__name__}: {one_line(str(exc))[:200]})") from exc
        self.best_state = state["best_model"] or None
        self.step, self.history = info["step"], info["history"]
        self.best, self.bad_rounds = info.get("best"), info["bad_rounds"]
        self.seconds = float(info["seconds"])
