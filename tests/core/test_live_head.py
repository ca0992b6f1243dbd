"""The live answer's head: with nothing painted it answers what the network answers; strokes
teach it in a fraction of a second; an image too large to answer live is said in one line."""

import numpy as np
import pytest
import torch

from unet_core import ModelCard, Preprocessing, UNet, predict
from unet_core.base.labels import IGNORE_LABEL
from unet_core.loop import LoopError
from unet_core.loop.live import LiveHead, image_features, live_job


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = UNet(1, 2, base_channels=8, depth=2, padding="same", batch_norm=True).eval()
    net.card = ModelCard(net.config, Preprocessing("gray", "zscore"), classes=["bg", "fg"])
    return net


def squares(size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.normal(50, 10, (size, size))
    truth = np.zeros((size, size), np.int64)
    for y, x in ((10, 10), (50, 60), (70, 15), (20, 70)):
        image[y : y + 16, x : x + 16] += 120
        truth[y : y + 16, x : x + 16] = 1
    return image.astype(np.float32), truth


def test_unpainted_the_head_answers_what_the_network_answers(model):
    image, _ = squares()
    head = LiveHead(model, image_features(model, image))
    np.testing.assert_allclose(head.predict(), predict(model, image, device="cpu"), atol=2e-3)


def test_a_few_strokes_teach_the_head(model):
    image, truth = squares()
    strokes = np.full(truth.shape, IGNORE_LABEL)
    strokes[12:24, 12:24] = 1  # one square ...
    strokes[40:44, 0:96] = 0  # ... and a line through the background
    job = live_job(model, image, strokes)
    try:
        while True:
            next(job)
    except StopIteration as done:
        prob, features = done.value
    def iou(found):
        return (found & (truth == 1)).sum() / (found | (truth == 1)).sum()

    before = iou(predict(model, image, device="cpu")[1] >= 0.5)
    after = iou(prob[1] >= 0.5)
    print(f"IoU of an untrained network {before:.2f}, after two strokes {after:.2f}")
    assert after > 0.6 and after > before + 0.3  # the other three squares too
    assert features.shape == truth.shape and features.values.shape[0] == 8 + 6
    with pytest.raises(LoopError, match="nothing painted"):
        next(LiveHead(model, features).fit(np.full(truth.shape, IGNORE_LABEL)))


def test_an_image_too_large_to_answer_live_is_said(model, monkeypatch):
    import unet_core.loop.live as live

    monkeypatch.setattr(live, "MAX_PIXELS", 1000)
    with pytest.raises(LoopError, match="too large for a live answer"):
        image_features(model, np.zeros((64, 64), np.float32))
