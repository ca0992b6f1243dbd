"""Training: determinism, resume, stopping, and a real train-then-predict run."""

import numpy as np
import pytest
import torch

from unet_core import ModelCard, Preprocessing, UNet, load_model, predict, save_model
from unet_core.base.events import Progress, Record
from unet_core.data.augment import Augmentation
from unet_core.data.datasets import PatchSampler, make_sample, rescale_sample
from unet_core.metrics import binary_metrics
from unet_core.model.unet import RefinedUNet
from unet_core.training.config import TrainConfig
from unet_core.training.optim import update_average
from unet_core.training.patches import patch_sizes
from unet_core.training.trainer import Trainer
from unet_core.training.weight_maps import loss_weight_maps

PRE = Preprocessing(channels="gray", normalize="zscore")


def disks(seed: int, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A noisy image of bright disks and its labels (1 = disk)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    labels = np.zeros((size, size), np.int64)
    for _ in range(6):
        cy, cx, r = rng.integers(8, size - 8, 2).tolist() + [int(rng.integers(4, 9))]
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
    image = (labels * 80 + 60 + rng.normal(0, 25, labels.shape)).clip(0, 255).astype(np.uint8)
    return image, labels


def samples(n: int = 2):
    return [make_sample(*disks(i), PRE, name=str(i)) for i in range(n)]


def tiny_model(padding="same"):
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding=padding, batch_norm=padding == "same")
    model.card = ModelCard(model.config, PRE)
    return model


def config(**kw):
    base = dict(steps=4, batch_size=2, patch=32, val_every=2, warmup=0, seed=3,
                augmentation=Augmentation(elastic_p=0.5))  # fmt: skip
    return TrainConfig(**{**base, **kw})


def losses(trainer):
    return [e.values["loss"] for e in trainer.fit() if isinstance(e, Progress)]


def records(events) -> list[dict]:
    return [e.values for e in events if isinstance(e, Record)]


def test_same_seed_same_run_and_logs():
    a = Trainer(tiny_model(), samples(), config(), device="cpu")
    logs = list(a.fit())
    b = Trainer(tiny_model(), samples(), config(), device="cpu")
    steps = [e for e in logs if isinstance(e, Progress)]
    assert [e.values["loss"] for e in steps] == losses(b)
    epochs = records(logs)
    assert [e["step"] for e in epochs] == [2, 4]
    assert {"loss", "lr", "seconds", "epoch"} <= set(epochs[0])
    assert [(e.done, e.total, e.unit) for e in steps] == [(i, 4, "steps") for i in (1, 2, 3, 4)]
    assert {"loss", "lr", "elapsed"} <= set(steps[0].values)
    assert a.epochs() == epochs and all(h["kind"] == "epoch" for h in a.history)


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_resume_continues_exactly(tmp_path, ema):
    straight = Trainer(tiny_model(), samples(), config(ema=ema), device="cpu")
    straight_losses = losses(straight)
    first = Trainer(tiny_model(), samples(), config(steps=4, ema=ema), device="cpu",
                    checkpoint=tmp_path / "run.ckpt")  # fmt: skip
    it = first.fit()
    part = [next(it).values["loss"], next(it).values["loss"]]  # two steps, then the epoch
    assert isinstance(next(it), Record)  # its record saves
    second = Trainer(tiny_model(), samples(), config(steps=4, ema=ema), device="cpu")
    second.resume(tmp_path / "run.ckpt")
    assert second.step == 2
    assert part + losses(second) == pytest.approx(straight_losses, rel=1e-5)
    for p, q in zip(straight.eval_model.parameters(), second.eval_model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_ema_weights_are_the_moving_average():
    trainer = Trainer(tiny_model(), samples(), config(steps=1, ema=0.75), device="cpu")
    before = [p.detach().clone() for p in trainer.model.parameters()]
    losses(trainer)
    decay = min(0.75, 1 / 10)  # early steps average over the steps so far: (1 + t) / (10 + t)
    for b, p, avg in zip(before, trainer.model.parameters(), trainer.ema_model.parameters()):
        torch.testing.assert_close(avg, decay * b + (1 - decay) * p.detach())
    trainer.step = 1000  # later on, the configured decay
    before = [p.detach().clone() for p in trainer.ema_model.parameters()]
    update_average(trainer.ema_model, trainer.model, 0.75, trainer.step)
    for b, p, avg in zip(before, trainer.model.parameters(), trainer.ema_model.parameters()):
        torch.testing.assert_close(avg, 0.75 * b + 0.25 * p.detach())


def test_sgd_paper_settings_and_valid_padding_patches():
    model = tiny_model("valid")
    cfg = config(optimizer="sgd", momentum=0.99, lr=0.01, loss="weighted_ce", patch=60)
    trainer = Trainer(model, samples(), cfg, device="cpu")
    assert (trainer.in_size, trainer.out_size) == patch_sizes(model, 60) == (60, 20)
    assert all(np.isfinite(losses(trainer)))
    assert isinstance(trainer.optimizer, torch.optim.SGD)


def test_early_stopping_and_best_weights():
    val = samples(1)
    scores = iter([0.5, 0.4, 0.3, 0.2, 0.1])
    trainer = Trainer(
        tiny_model(),
        samples(),
        config(steps=20, val_every=1, patience=1),
        val=val,
        evaluate=lambda prob, s: {"f1": next(scores)},
        device="cpu",
    )
    epochs = records(trainer.fit())
    assert [e["f1"] for e in epochs] == [0.5, 0.4, 0.3]
    assert epochs[-1]["stop"] == "early stopping" and trainer.best == 0.5


def test_plateau_schedule_lowers_the_rate_when_the_held_out_score_stalls(tmp_path):
    """ReduceLROnPlateau on the held-out score: the rate halves after each two validations
    without improvement, an improvement keeps it, early stopping still ends the run, and a
    resumed run goes on at the lowered rate."""
    scores = iter([0.5, 0.6, 0.6, 0.55, 0.58, 0.4, 0.3, 0.2, 0.1])
    cfg = config(steps=40, val_every=1, schedule="plateau", plateau_patience=2, patience=4,
                 lr=1e-3)  # fmt: skip
    trainer = Trainer(tiny_model(), samples(), cfg, val=samples(1), device="cpu",
                      evaluate=lambda prob, s: {"f1": next(scores)})  # fmt: skip
    epochs = records(trainer.fit())
    rates = [round(e["lr"] / 1e-3, 4) for e in epochs]
    # validations 3-4 stall (bad 1, 2 -> halved), 5 stalls (3), 6 (4 -> quartered), 7 stops
    assert rates[:5] == [1.0, 1.0, 1.0, 1.0, 0.5] and rates[6] == 0.25, rates
    assert epochs[-1]["stop"] == "early stopping" and len(epochs) == 7
    trainer.save(tmp_path / "run.ckpt")
    again = Trainer(tiny_model(), samples(), cfg, device="cpu")
    again.resume(tmp_path / "run.ckpt")
    assert again.lr_scale == trainer.lr_scale == 0.25


def test_time_budget_stops_the_run():
    trainer = Trainer(tiny_model(), samples(), config(steps=10_000), device="cpu")
    logs = list(trainer.fit(seconds=0.5))
    assert isinstance(logs[-1], Record) and trainer.step < 10_000


def test_validations_are_spaced_over_a_time_budget_from_the_config(monkeypatch):
    from unet_core.training import trainer as module

    clock = iter(range(10**6))  # every reading of the clock is one second later
    monkeypatch.setattr(module.time, "perf_counter", lambda: float(next(clock)))
    cfg = config(steps=10_000, val_every=2, budget_validations=4)
    trainer = Trainer(tiny_model(), samples(), cfg, device="cpu")
    epochs = records(trainer.fit(seconds=200))
    assert trainer.config is cfg and cfg.val_every == 2  # the config is not rewritten
    assert trainer.val_every > 10 and [e["step"] for e in epochs][:2] == [2, 4]
    assert all(e["step"] % trainer.val_every == 0 for e in epochs[2:-1])
    assert 3 <= len(epochs) - 2 <= 6  # about four more over the budget, and the last


def test_a_frozen_encoder_learns_nothing_and_is_left_trainable():
    model = tiny_model()
    encoder = [p.detach().clone() for p in model.inc.parameters()]
    trainer = Trainer(model, samples(), config(steps=3, freeze_encoder=True), device="cpu")
    losses(trainer)
    for before, p in zip(encoder, model.inc.parameters()):
        torch.testing.assert_close(before, p.detach())
    assert all(p.requires_grad for p in model.parameters())


def test_patch_sampler_prefers_foreground_and_respects_roi_and_ignore():
    image, labels = disks(0)
    labels[:, 48:] = 255
    roi = np.zeros(labels.shape, bool)
    roi[:, :40] = True
    s = make_sample(image, labels, PRE, roi=roi)
    sampler = PatchSampler([s], 16, 16, foreground_p=1.0, ignore_label=255)
    rng = np.random.default_rng(0)
    centres = [sampler.patch(rng)[1][8, 8] for _ in range(50)]
    assert all(c == 1 for c in centres)
    x, y, w = sampler.batch(3, rng)
    assert x.shape == (3, 1, 16, 16) and y.shape == (3, 16, 16) and y.dtype == np.int64
    assert w is None


def test_per_pixel_weights_travel_with_the_labels_through_augmentation():
    image, labels = disks(0)
    weights = np.where(labels == 1, 5.0, 1.0).astype(np.float32)  # weight marks the disks
    s = make_sample(image, labels, PRE)
    s.loss_weights = weights
    sampler = PatchSampler([s], 32, 32, augment=Augmentation(elastic_p=1.0))
    x, y, w = sampler.batch(8, np.random.default_rng(0))
    assert w.shape == y.shape and w.dtype == np.float32
    np.testing.assert_array_equal(w == 5.0, y == 1)


@pytest.mark.slow
def test_train_then_predict_segments_unseen_images(tmp_path):
    """A real run: a small U-Net learns disks, is saved, reloaded, and segments new images."""
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=8, depth=2, padding="same", batch_norm=True)
    model.card = ModelCard(model.config, PRE, classes=["background", "disk"])
    cfg = TrainConfig(steps=120, batch_size=4, patch=48, lr=5e-3, val_every=40, warmup=10,
                      augmentation=Augmentation(elastic_p=0.3), loss="bce_dice")  # fmt: skip
    val = samples(1)
    trainer = Trainer(
        model,
        samples(6),
        cfg,
        val=val,
        device="cpu",
        evaluate=lambda prob, s: binary_metrics(prob[1] > 0.5, s.labels == 1),
    )
    logs = records(trainer.fit())
    assert logs[-1]["loss"] < logs[0]["loss"]
    path = save_model(model, tmp_path / "disks")
    reloaded = load_model(path, device="cpu")
    image, labels = disks(99, size=130)  # unseen, and larger than any training patch
    prob = predict(reloaded, image, device="cpu")
    f1 = binary_metrics(prob[1] > 0.5, labels == 1)["f1"]
    print(f"held-out F1 after 120 steps: {f1:.3f}")
    assert f1 > 0.9


def test_rescaled_sample_is_what_inference_sees_at_that_scale():
    rng = np.random.default_rng(0)
    raw = (rng.random((30, 40, 3)) * 255).astype(np.uint8)
    labels = np.zeros((30, 40), np.int64)
    labels[10:20, 5:9], labels[0, :] = 1, 255
    roi = np.zeros((30, 40), bool)
    roi[2:28, 2:38] = True
    pre = Preprocessing(channels="green")
    big = rescale_sample(make_sample(raw, labels, pre, "a", roi), 2.0, pre)
    assert big.image.shape == (1, 60, 80) and big.labels.shape == big.roi.shape == (60, 80)
    assert set(np.unique(big.labels)) == {0, 1, 255}
    assert (big.labels == 1).sum() == 4 * (labels == 1).sum()
    assert big.roi.sum() == 4 * roi.sum() and big.raw.shape == (60, 80, 3)
    assert abs(float(big.image.mean())) < 1e-3  # normalised after resampling


def test_a_cascade_trains_both_passes_on_the_labels():
    torch.manual_seed(0)
    model = RefinedUNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True,
                        refine=4)  # fmt: skip
    model.card = ModelCard(model.config, PRE)
    first, head = model.inc[0].weight.detach().clone(), model.refiner.head.weight.detach().clone()
    trainer = Trainer(model, samples(), config(steps=40, val_every=40, lr=3e-3), device="cpu")
    steps = losses(trainer)
    # the loss is the sum over both passes: about 2x a single pass's at the start
    assert np.mean(steps[-8:]) < 0.8 * np.mean(steps[:8])
    assert not torch.equal(model.inc[0].weight.detach(), first)
    assert model.refiner.head.weight.detach().abs().sum() > 0 and head.abs().sum() == 0


def test_plain_ce_uses_no_weight_map_and_the_paper_loss_does():
    labels = np.stack([disks(0)[1][:32, :32]] * 2)
    plain = Trainer(tiny_model(), samples(), config(loss="ce"), device="cpu")
    paper = Trainer(tiny_model(), samples(), config(loss="weighted_ce"), device="cpu")
    assert loss_weight_maps(labels, plain.config, 2, plain.class_weights) is None
    weights = loss_weight_maps(labels, paper.config, 2, paper.class_weights)
    assert weights.shape == (2, 32, 32) and float(weights.max()) > float(weights.min()) > 0
