"""Field-of-view detection and automatic scale."""

import numpy as np
import pytest
import torch

from unet_core import ModelCard, Predictor, Preprocessing, UNet
from unet_core.data.drive import binarize
from unet_core.data.io import read_image
from unet_core.tasks.fundus import auto_scale, fov_diameter, fov_mask


def synthetic_fundus(size: int, diameter: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    image = np.zeros((size, size, 3), np.uint8)
    inside = r < diameter / 2
    image[inside] = (150, 80, 30)
    image[inside & (r > diameter / 2 - 10)] = (40, 20, 8)  # a dim rim stays inside the FOV
    return image


def test_fov_of_a_synthetic_photograph():
    image = synthetic_fundus(400, 300)
    mask = fov_mask(image)
    assert abs(fov_diameter(mask) - 300) <= 3
    assert auto_scale(image, {"fov_diameter": 150}) == pytest.approx(0.5, rel=0.02)
    assert auto_scale(image, {}) == 1.0
    assert auto_scale(image[..., 0], {"fov_diameter": 150}) == 1.0  # gray: not a fundus photo


def test_fov_matches_drive_masks(shared_data):
    dice = []
    for i in (21, 30, 40):
        image = read_image(shared_data / f"drive/training/images/{i}_training.tif")
        truth = binarize(read_image(shared_data / f"drive/training/mask/{i}_training_mask.gif"))
        mask = fov_mask(image)
        dice.append(2 * (mask & truth).sum() / (mask.sum() + truth.sum()))
    print(f"FOV Dice against DRIVE masks: {np.round(dice, 4)}")
    assert min(dice) > 0.98


def test_prediction_at_another_scale_comes_back_at_the_input_shape():
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True)
    model.card = ModelCard(model.config, Preprocessing("green"), scale={"fov_diameter": 100})
    image = synthetic_fundus(301, 250)
    predictor = Predictor(model, device="cpu")
    prob = predictor(image)
    assert prob.shape == (2, 301, 301) and predictor.scale_for(image) == pytest.approx(
        0.4, rel=0.03
    )
    np.testing.assert_allclose(prob.sum(0), 1, atol=1e-4)
    fixed = Predictor(model, device="cpu", scale=1.0)
    assert fixed(image).shape == (2, 301, 301) and fixed.scale_for(image) == 1.0
    with pytest.raises(ValueError, match="scale must be"):
        Predictor(model, scale=-1)
