"""The bundled models: load by name, cards, size, and sensible masks on the sample images."""

from pathlib import Path

import pytest

from unet_core import bundled_models, load_model, predict, read_card
from unet_core.data.io import read_image
from unet_core.tasks.fundus import fov_mask

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.mark.parametrize("name", ["drive", "em"])
def test_bundled_model_loads_by_name_with_its_card(name):
    assert name in bundled_models()
    path = bundled_models()[name]
    assert path.stat().st_size <= 32 * 2**20
    card = read_card(name)
    assert card.name == name and card.provenance["steps"] > 0
    assert card.provenance["data"] and card.provenance["recipe"]["loss"]
    assert load_model(name, device="cpu").card == card


def test_drive_model_card_and_fundus_sample():
    card = read_card("drive")
    assert card.classes == ["background", "vessel"] and card.scale["fov_diameter"] > 500
    image = read_image(SAMPLES / "fundus_retina.jpg")  # another camera, 1411 x 1411
    prob = predict(load_model("drive", device="cpu"), image, device="cpu")
    assert prob.shape == (2, 1411, 1411)
    fov = fov_mask(image)
    vessels = (prob[1] >= 0.5)[fov].mean()
    print(f"sample fundus: vessel fraction in the FOV {vessels:.3f}")
    assert 0.04 < vessels < 0.2
    assert (prob[1] >= 0.5)[~fov].mean() < 0.01

    # a grayscale (red-free) photograph: the model takes it, and finds the same vessels
    gray = predict(load_model("drive", device="cpu"), image[..., 1], device="cpu")[1] >= 0.5
    color = prob[1] >= 0.5
    dice = 2 * (gray & color & fov).sum() / ((gray & fov).sum() + (color & fov).sum())
    print(f"sample fundus, green channel as a gray image: Dice with the colour mask {dice:.3f}")
    assert dice > 0.75


def test_em_model_card_and_em_sample():
    card = read_card("em")
    assert card.classes[1] == "membrane"
    image = read_image(SAMPLES / "em_isbi2012_test00_crop.png")
    prob = predict(load_model("em", device="cpu"), image, device="cpu")
    membrane = (prob[1] >= 0.5).mean()
    print(f"sample EM: membrane fraction {membrane:.3f}")
    assert 0.1 < membrane < 0.4
