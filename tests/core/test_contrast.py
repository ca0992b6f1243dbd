"""Local contrast equalisation (CLAHE) as a model card's preprocessing step: what it does to an
image, where it runs (training samples, prediction at the model's scale) and where it cannot."""

import json

import numpy as np
import pytest
import torch

from unet_core import Predictor, UNet
from unet_core.data.datasets import make_sample
from unet_core.data.preprocess import equalize_local_contrast, local_contrast, preprocess
from unet_core.model.card import ModelCard, Preprocessing

CLAHE = Preprocessing(channels="green", normalize="zscore", local_contrast="clahe")


def textured(shape=(256, 256), seed=0) -> np.ndarray:
    """Fine texture whose contrast falls from left to right (uneven illumination)."""
    rng = np.random.default_rng(seed)
    texture = rng.random(shape)
    gain = np.linspace(1.0, 0.1, shape[1])[None, :]
    return (40 + 150 * texture * gain).astype(np.float32)


def test_clahe_evens_out_local_contrast_and_ignores_gain_and_offset():
    image = textured()
    out = equalize_local_contrast(image)
    assert out.shape == image.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    before = image[:, :64].std() / image[:, -64:].std()
    after = out[:, :64].std() / out[:, -64:].std()
    assert before > 3 and after < 0.5 * before  # the dim side's texture is brought up
    # a camera's gain and offset (and bit depth) do not change the result
    np.testing.assert_allclose(equalize_local_contrast(image * 64 + 1000), out, atol=1e-3)
    rgb = np.stack([image * 0.5, image, image * 2], -1)
    assert equalize_local_contrast(rgb).shape == rgb.shape


def test_the_card_records_it_and_old_readers_still_read_cards_without_it():
    arch = dict(in_channels=1, base_channels=4, depth=2, padding="same", batch_norm=True)
    card = ModelCard(architecture=arch, preprocessing=CLAHE)
    again = ModelCard.from_json(card.to_json())
    assert again.preprocessing.local_contrast == "clahe"
    assert "local_contrast=clahe" in card.render()
    plain = json.loads(ModelCard(architecture=arch).to_json())
    assert "local_contrast" not in plain["preprocessing"]  # as files were written before
    with pytest.raises(ValueError, match="local_contrast must be one of"):
        Preprocessing(local_contrast="histogram")


def test_training_samples_and_prediction_equalise_alike():
    rng = np.random.default_rng(1)
    photo = np.stack([textured(seed=2) * 0.3, textured(seed=2), textured(seed=3)], -1)
    labels = (rng.random(photo.shape[:2]) > 0.9).astype(np.int64)
    sample = make_sample(photo, labels, CLAHE)
    want = preprocess(equalize_local_contrast(photo[..., 1]), Preprocessing(channels="as_is"))
    np.testing.assert_allclose(sample.image, want, atol=1e-5)
    # the predictor equalises the whole image, then tiles it: the same as equalising first
    torch.manual_seed(0)
    model = UNet(in_channels=1, base_channels=4, depth=2, padding="same", batch_norm=True)
    model.card = ModelCard(architecture=model.config, preprocessing=CLAHE)
    got = Predictor(model, device="cpu", tile=96, scale=1.0, precision="fp32")(photo)
    plain = UNet(in_channels=1, base_channels=4, depth=2, padding="same", batch_norm=True)
    plain.load_state_dict(model.state_dict())
    plain.card = ModelCard(architecture=plain.config, preprocessing=Preprocessing("as_is"))
    manual = Predictor(plain, device="cpu", tile=96, scale=1.0, precision="fp32")
    np.testing.assert_allclose(got, manual(local_contrast(photo, CLAHE)), atol=1e-5)


def test_where_the_whole_image_cannot_be_equalised_it_says_so(tmp_path):
    from unet_core.formats.bioimageio_write import export_package
    from unet_core.inference.bands import predict_bands

    model = UNet(in_channels=1, base_channels=4, depth=2, padding="same", batch_norm=True)
    model.card = ModelCard(architecture=model.config, preprocessing=CLAHE)
    predictor = Predictor(model, device="cpu", precision="fp32")
    with pytest.raises(ValueError, match="too large to load"):
        next(predict_bands(predictor, np.zeros((64, 64), np.float32)))
    with pytest.raises(ValueError, match="no preprocessing step for this model"):
        export_package(model, tmp_path / "m.zip", np.zeros((64, 64), np.uint8))
