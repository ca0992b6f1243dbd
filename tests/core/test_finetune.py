"""Fine-tuning on corrections: fixes what was wrong, ignores what is unlabelled, leaves the
given model alone, and stops when asked."""

import time

import numpy as np
import pytest
import torch

from unet_core import Cancelled, ModelCard, Preprocessing, UNet, predict
from unet_core.data.augment import Augmentation
from unet_core.data.datasets import make_sample
from unet_core.metrics import binary_metrics
from unet_core.training.config import TrainConfig
from unet_core.training.finetune import finetune
from unet_core.training.trainer import Trainer

PRE = Preprocessing(channels="gray", normalize="zscore")
IGNORE = 255


def scene(seed: int, squares: bool, size: int = 96):
    """Bright disks (foreground) and, optionally, dim squares; labels 1 = disk (and square)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    labels = np.zeros((size, size), np.int64)
    image = np.full((size, size), 60.0)
    for _ in range(5):
        cy, cx = rng.integers(10, size - 10, 2)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= 36
        labels[disk], image[disk] = 1, 200
    if squares:
        for _ in range(3):
            cy, cx = rng.integers(6, size - 14, 2)
            labels[cy : cy + 8, cx : cx + 8], image[cy : cy + 8, cx : cx + 8] = 1, 120
    image += rng.normal(0, 10, image.shape)
    return image.clip(0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def disk_model():
    """A small model that has learned bright disks only."""
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=8, depth=2, padding="same", batch_norm=True)
    model.card = ModelCard(model.config, PRE, classes=["background", "object"], name="disks")
    samples = [make_sample(*scene(i, squares=False), PRE) for i in range(4)]
    cfg = TrainConfig(steps=100, batch_size=4, patch=48, lr=5e-3, warmup=5, val_every=100,
                      augmentation=Augmentation(elastic_p=0.0))  # fmt: skip
    for _ in Trainer(model, samples, cfg, device="cpu").fit():
        pass
    return model.eval()


def squares_f1(model, image, labels) -> float:
    squares = (labels == 1) & (image < 160)
    pred = predict(model, image, device="cpu")[1] >= 0.5
    return binary_metrics(pred[squares | (labels == 0)], squares[squares | (labels == 0)])["f1"]


def test_corrections_fix_the_wrong_region_and_the_model_is_untouched(disk_model):
    image, labels = scene(10, squares=True)
    before = {k: v.clone() for k, v in disk_model.state_dict().items()}
    f1_before = squares_f1(disk_model, image, labels)
    new = finetune(disk_model, image, labels, steps=60, device="cpu", lr=2e-3)
    f1_after = squares_f1(new, image, labels)
    held_image, held_labels = scene(11, squares=True)  # squares it never saw
    print(f"square F1: {f1_before:.2f} -> {f1_after:.2f}; held-out "
          f"{squares_f1(disk_model, held_image, held_labels):.2f} -> "
          f"{squares_f1(new, held_image, held_labels):.2f}")  # fmt: skip
    assert f1_before < 0.3 and f1_after > 0.8
    assert squares_f1(new, held_image, held_labels) > 0.6
    for k, v in disk_model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert new.card.provenance["finetune"]["steps"] == 60
    assert new.card.provenance["finetuned_from"] == "disks"


def test_unlabelled_pixels_are_not_learned_as_background(disk_model):
    image, labels = scene(12, squares=False)
    from scipy import ndimage

    disks, n = ndimage.label(labels == 1)
    scribble = np.full(labels.shape, IGNORE)
    scribble[:6, :] = 0  # a background stroke...
    scribble[disks == 1] = 1  # ...and one of the disks; the rest unlabelled
    assert n >= 3
    sparse = finetune(disk_model, image, scribble, steps=80, ignore_label=IGNORE, device="cpu")
    as_background = np.where(scribble == IGNORE, 0, scribble)
    dense = finetune(disk_model, image, as_background, steps=80, device="cpu")
    untouched = disks > 1  # the disks the user did not label
    found = [(predict(m, image, device="cpu")[1] >= 0.5)[untouched].mean()
             for m in (disk_model, sparse, dense)]  # fmt: skip
    print(f"untouched disks found: base {found[0]:.2f}, sparse scribbles {found[1]:.2f}, "
          f"rest labelled background {found[2]:.2f}")  # fmt: skip
    assert found[0] > 0.95 and found[1] > 0.9 and found[2] < found[1] - 0.2


def test_callback_stops_promptly_and_bad_labels_are_explained(disk_model):
    image, labels = scene(13, squares=True)
    seen = []
    start = time.perf_counter()
    with pytest.raises(Cancelled):
        finetune(disk_model, image, labels, seconds=60, device="cpu",
                 callback=lambda log: seen.append(log) or len(seen) < 3)  # fmt: skip
    assert time.perf_counter() - start < 10 and len(seen) == 3
    with pytest.raises(ValueError, match="class indices 0..1"):
        finetune(disk_model, image, labels * 3, steps=1, device="cpu")
    with pytest.raises(ValueError, match="no pixel"):
        finetune(disk_model, image, np.full(labels.shape, IGNORE), steps=1, ignore_label=IGNORE)
    with pytest.raises(ValueError, match="do not match"):
        finetune(disk_model, image, labels[:50], steps=1, device="cpu")


def test_time_budget(disk_model):
    image, labels = scene(14, squares=True)
    start = time.perf_counter()
    new = finetune(
        disk_model, [image, image[::-1]], [labels, labels[::-1]], seconds=3, device="cpu"
    )
    assert time.perf_counter() - start < 8
    assert new.card.provenance["finetune"]["images"] == 2
