"""The training loop as a table of contents: ``fit()`` yields an event after every step.

The events are :mod:`unet_core.base.events`: a :class:`Progress` after every optimisation step
(``done`` steps of ``total``, ``values`` ``loss``, ``lr`` and ``elapsed`` seconds) and a
:class:`Record` of every validation (``values`` ``step``, ``epoch``, ``loss``, ``lr``,
``seconds``, the validation metrics, ``best`` and ``stop`` when early stopping ends the run),
every ``val_every`` steps. A GUI or CLI iterates over ``fit()`` to show progress, and stops the
run cleanly by simply not asking for the next event (or via ``seconds``). The validation
records are also kept, as dicts, in :attr:`Trainer.history` (saved in checkpoints).
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
from ..base.events import Progress, Record
from ..base.names import one_line
from ..base.precision import autocast, resolve_precision
from ..data.datasets import PatchSampler, Sample
from ..inference.predictor import Predictor
from ..model.unet import UNet
from .checkpoint import (
    CheckpointError,
    check_architecture,
    check_optimizer,
    load_checkpoint,
    save_checkpoint,
)
from .config import TrainConfig
from .losses import get_loss
from .optim import frozen, lr_factor, make_optimizer, plateau_scale, update_average
from .patches import patch_sizes
from .weight_maps import class_weights_of, loss_weight_maps

log = logging.getLogger(__name__)

Evaluate = Callable[[np.ndarray, Sample], dict]
#: steps timed before validations are spaced over a time budget (``budget_validations``)
TIMING_STEPS = 5


class Trainer:
    """Trains ``model`` in place on ``train`` samples, validating on ``val`` with ``evaluate``.

    ``evaluate(prob, sample)`` turns a (classes, H, W) prediction of ``sample.raw`` into metrics
    (:func:`~unet_core.scoring.sample_scorer`); ``config.monitor`` names the one that selects
    the best weights and drives early stopping. Everything the run does comes from ``config``;
    the model is left as trainable as it came (``freeze_encoder`` holds only during steps).
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
        self.memory_format = memory_format(self.device, model.spatial_dims)
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
        self.class_weights = class_weights_of(config, [s.labels for s in train], model.num_classes)
        self.ema_model = copy.deepcopy(model) if config.ema > 0 else None
        encoder = model.encoder_modules() if config.freeze_encoder else ()
        self.frozen = [p for part in encoder for p in part.parameters()]
        skip = {id(p) for p in self.frozen}
        params = [p for p in model.parameters() if p.requires_grad and id(p) not in skip]
        self.optimizer = make_optimizer(params or list(model.parameters()), config)
        self.val_every = config.val_every  # spaced over a time budget once steps are timed
        self.time_fraction = 0.0  # share of fit(seconds=...) spent, for the schedule
        torch.manual_seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.step, self.history = 0, []
        self.seconds = 0.0  # spent in fit() over all runs of this training (kept by resume)
        self.best: float | None = None
        self.best_state: dict | None = None
        self.bad_rounds = 0
        self.lr_scale = 1.0  # a plateau schedule's (optim.plateau_scale)
        self._losses: list[float] = []  # of the steps since the last validation

    # ---- pieces ---------------------------------------------------------------------------
    def _lr(self) -> float:
        factor = lr_factor(self.config, self.step, self.time_fraction)
        return self.config.lr * factor * self.lr_scale

    def train_step(self, images: np.ndarray, labels: np.ndarray,
                   loss_weights: np.ndarray | None = None) -> dict:  # fmt: skip
        """One optimisation step on a batch; returns ``{"loss", "lr"}``.

        ``loss_weights`` (N, H, W) multiply the per-pixel loss (with the paper's map, if used):
        the samples' own (:attr:`Sample.loss_weights`)."""
        self.model.train()
        if self.config.freeze_bn:  # few images: keep the batch-norm statistics as they are
            for m in self.model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()
        c = self.config
        maps = loss_weight_maps(labels, c, self.model.num_classes, self.class_weights)
        if loss_weights is not None:
            maps = loss_weights if maps is None else maps * loss_weights
        weight = None if maps is None else torch.from_numpy(maps).to(self.device)
        lr = self._lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x = torch.from_numpy(images).to(self.device, memory_format=self.memory_format)
        y = torch.from_numpy(labels).to(self.device)
        with frozen(self.frozen):
            with autocast(self.device, self.precision):  # bf16 products; fp32 weights, losses
                out, first = self.model(x, aux=True)
            out, first = out.float(), first.float()
            loss = self.loss_fn(out, y, weight, c.ignore_label)
            if self.model.refiner is not None:  # a cascade: both passes learn the labels
                loss = loss + self.loss_fn(first, y, weight, c.ignore_label)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        self.optimizer.step()
        if self.ema_model is not None:
            update_average(self.ema_model, self.model, self.config.ema, self.step)
        return {"loss": float(loss.detach()), "lr": lr}

    @property
    def eval_model(self) -> UNet:
        """The weights that are validated and saved: the moving average when ``ema`` is on."""
        return self.ema_model if self.ema_model is not None else self.model

    def validate_now(self) -> Record | None:
        """Close the current epoch early (validate, checkpoint): a run stopped between
        validations then still keeps whichever weights validated best. None when the last
        step was validated already."""
        if not self.step or (self.history and self.history[-1]["step"] == self.step):
            return None
        record = self._end_epoch(self._losses or [float("nan")], self._lr(), 0.0)
        self._losses = []
        return record

    def keep_best(self) -> None:
        """Load the weights to save into ``model``: the best validated ones, else the
        averaged ones (EMA), else leave the last ones."""
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        elif self.ema_model is not None:
            self.model.load_state_dict(self.ema_model.state_dict())

    def epochs(self) -> list[dict]:
        """The validation records so far, as dicts (what :attr:`history` keeps of them)."""
        return [{k: v for k, v in h.items() if k != "kind"} for h in self.history
                if h["kind"] == "epoch"]  # fmt: skip

    def validate(self) -> dict:
        """Mean of ``evaluate`` over the validation samples (empty without them)."""
        if not self.val or self.evaluate is None:
            return {}
        predictor = Predictor(self.eval_model, device=self.device, precision=self.precision)
        with eval_mode(self.eval_model):
            rows = [self.evaluate(predictor(s.raw), s) for s in self.val]
        return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}

    # ---- the loop -------------------------------------------------------------------------
    def fit(self, seconds: float | None = None) -> Iterator[Progress | Record]:
        """Train until ``config.steps`` (or ``seconds`` more), yielding a :class:`Progress`
        after every step and a :class:`Record` of every validation.

        The schedule counts the time of earlier runs of a resumed training as spent, so a run
        resumed with the rest of its budget goes on where it stopped."""
        c, start, first = self.config, time.perf_counter(), self.step
        losses = self._losses = []
        before = self.seconds
        while self.step < c.steps:
            if seconds:
                self.time_fraction = self.seconds / (before + seconds)
            images, labels, loss_weights = self.sampler.batch(c.batch_size, self.rng)
            out = self.train_step(images, labels, loss_weights)
            self.step += 1
            self.seconds = before + time.perf_counter() - start
            losses.append(out["loss"])
            yield Progress(self.step, c.steps, "steps", {**out, "elapsed": self.seconds})
            if seconds and c.budget_validations and self.step == first + TIMING_STEPS:
                self._space_validations(seconds)
            timed_out = seconds is not None and time.perf_counter() - start >= seconds
            if self.step % self.val_every == 0 or self.step == c.steps or timed_out:
                record = self._end_epoch(losses, out["lr"], time.perf_counter() - start)
                losses = self._losses = []
                yield record
                if record.values.get("stop") or timed_out:
                    return

    def _space_validations(self, budget: float) -> None:
        """About ``config.budget_validations`` validations over a time budget, from the steps
        timed so far."""
        per_step = self.seconds / max(1, self.step)
        per_validation = budget / self.config.budget_validations
        self.val_every = max(10, round(per_validation / max(per_step, 1e-3)))

    def _end_epoch(self, losses: list[float], lr: float, seconds: float) -> Record:
        c = self.config
        entry = {
            "kind": "epoch", "step": self.step, "epoch": math.ceil(self.step / self.val_every),
            "loss": float(np.mean(losses)), "lr": lr, "seconds": seconds, **self.validate(),
        }  # fmt: skip
        score = entry.get(c.monitor)
        if score is not None and np.isfinite(score):
            sign = 1 if c.monitor_mode == "max" else -1
            if self.best is None or sign * score > sign * self.best:
                self.best, self.bad_rounds = score, 0
                self.best_state = copy.deepcopy(self.eval_model.state_dict())
            else:
                self.bad_rounds += 1
            self.lr_scale = plateau_scale(c, self.lr_scale, self.bad_rounds)
            entry["best"] = self.best
            if c.patience is not None and self.bad_rounds > c.patience:
                entry["stop"] = "early stopping"
        self.history.append(entry)
        if self.checkpoint is not None:
            self.save(self.checkpoint)
        values = {k: v for k, v in entry.items() if k != "kind"}
        log.info("step %d: %s", self.step, values)
        return Record(values)

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
            "lr_scale": self.lr_scale,
            "config": self.config.to_dict(), "architecture": self.model.config,
        }  # fmt: skip
        return save_checkpoint(path, state, info)

    def resume(self, path: str | os.PathLike) -> None:
        """Continue a run saved by :meth:`save` (same model architecture); a
        :class:`~.checkpoint.CheckpointError` naming the file for one that cannot, and then
        nothing of it is taken."""
        state, info = load_checkpoint(path)
        check_architecture(path, info["architecture"], self.model.config)
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
        self.lr_scale = float(info.get("lr_scale", 1.0))
        self.seconds = float(info["seconds"])
