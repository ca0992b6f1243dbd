"""Model files: round trip, model card, bundled names, and no code execution on load."""

import json
import pickle

import numpy as np
import pytest
import torch

from unet_core import (
    ModelFileError,
    Preprocessing,
    UNet,
    load_model,
    predict,
    read_card,
    save_model,
)
from unet_core.model.card import ModelCard


def test_round_trip_keeps_weights_and_card(tmp_path):
    torch.manual_seed(0)
    model = UNet(
        in_channels=3, num_classes=2, base_channels=4, depth=2, padding="same", batch_norm=True
    )
    model.inc[1].running_mean += 0.5  # buffers travel too
    path = save_model(
        model,
        tmp_path / "m",
        name="tiny",
        classes=["background", "vessel"],
        preprocessing=Preprocessing(channels="rgb", normalize="percentile"),
        scale={"fov_diameter": 540},
        provenance={"data": "synthetic", "epochs": 3},
    )
    assert path.name == "m.safetensors"
    assert model.card is None  # save_model leaves the model it is given as it is
    model.card = read_card(path)
    loaded = load_model(path, device="cpu")
    assert loaded.config == model.config and not loaded.training
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    card = loaded.card
    assert card.classes == ["background", "vessel"] and card.scale == {"fov_diameter": 540}
    assert card.preprocessing == Preprocessing("rgb", "percentile")
    assert card.provenance["epochs"] == 3
    image = np.random.default_rng(0).integers(0, 255, (33, 47, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        predict(model, image, device="cpu"), predict(loaded, image, device="cpu")
    )
    assert read_card(path).name == "tiny"
    assert "classes: 0=background, 1=vessel" in card.render()


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"state_dict": Exploit()}))
    torch.save({"payload": Exploit()}, tmp_path / "evil2.pt")
    for path in (evil, tmp_path / "evil2.pt"):
        with pytest.raises(ModelFileError, match="not a napari-unet model file") as err:
            load_model(path, device="cpu")
        assert "\n" not in str(err.value)
        assert not marker.exists()


def test_foreign_safetensors_and_mismatched_weights(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelFileError, match="not a napari-unet model"):
        load_model(tmp_path / "other.safetensors")
    card = ModelCard(UNet(base_channels=8, depth=2).config)
    header = {"format": "napari-unet", "format_version": "1", "card": card.to_json()}
    save_file({"w": torch.zeros(2)}, str(tmp_path / "bad.safetensors"), metadata=header)
    with pytest.raises(ModelFileError, match="do not match"):
        load_model(tmp_path / "bad.safetensors")


def test_unknown_name_lists_the_bundled_models():
    with pytest.raises(ModelFileError, match="no bundled model of that name"):
        load_model("no-such-model")


def test_card_json_and_validation():
    card = ModelCard({"num_classes": 3})
    assert card.classes == ["class 0", "class 1", "class 2"]
    again = ModelCard.from_json(card.to_json())
    assert again == card
    assert json.loads(card.to_json())["preprocessing"]["channels"] == "as_is"
    with pytest.raises(ValueError, match="3 classes but 2 names"):
        ModelCard({"num_classes": 3}, classes=["a", "b"])
    with pytest.raises(ValueError, match="channels must be one of"):
        Preprocessing(channels="cmyk")


def test_save_rejects_unknown_card_entries(tmp_path):
    with pytest.raises(ValueError, match="unknown model card entries"):
        save_model(UNet(base_channels=2, depth=1), tmp_path / "m", colour="blue")


def test_save_model_leaves_the_model_it_is_given_as_it_is(tmp_path):
    model = UNet(base_channels=2, depth=1)
    model.card = ModelCard(model.config, name="mine")
    card = model.card
    before = ModelCard.from_json(card.to_json())
    save_model(model, tmp_path / "m", name="renamed", classes=["bg", "cell"])
    assert model.card is card and card == before
    assert read_card(tmp_path / "m.safetensors").name == "renamed"


def test_a_card_of_an_older_version_gets_its_task_where_the_file_is_read(tmp_path):
    from safetensors.torch import save_file

    from unet_core.model.card import card_of

    model = UNet(base_channels=2, depth=1)
    assert card_of(model) == ModelCard(model.config) and card_of(model).task == "generic"
    old = json.loads(ModelCard(model.config, classes=["background", "vessel"]).to_json())
    del old["task"]  # written before cards named their task
    assert ModelCard.from_json(json.dumps(old)).task == ""  # the card itself does not guess
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    header = {"format": "napari-unet", "format_version": "1", "card": json.dumps(old)}
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata=header)
    assert read_card(tmp_path / "old.safetensors").task == "fundus"
    assert load_model(tmp_path / "old.safetensors", "cpu").card.task == "fundus"
    # a card-less model saved with a task's classes and scale gets that task
    saved = save_model(model, tmp_path / "em", classes=["background", "membrane"])
    assert read_card(saved).task == "em" and model.card is None


def test_what_a_task_knows_of_packages_and_bundled_models_comes_from_tasks():
    from unet_core.formats.bioimageio_describe import tags
    from unet_core.formats.store import bundled_models
    from unet_core.tasks import TASKS

    named = {t.bundled for t in TASKS.values() if t.bundled}
    assert named and named <= set(bundled_models())
    card = read_card(TASKS["fundus"].bundled)
    assert card.task == "fundus" and set(TASKS["fundus"].tags) <= set(tags(card))
    assert tags(ModelCard({})) == ["napari-unet", "unet", "2d", "semantic-segmentation"]
