"""Field-of-view detection and automatic scale."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from unet_core import ModelCard, Predictor, Preprocessing, UNet
from unet_core.data.drive import binarize
from unet_core.data.io import read_image
from unet_core.tasks.fov import fov_circle, fov_diameter, fov_mask
from unet_core.tasks.fundus import auto_scale

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"


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
    gray, red_free = image.mean(-1).astype(np.uint8), image[..., 1]
    for variant in (gray, red_free, (image * 0.2).astype(np.uint8), image[60:-60],
                    image[:, 70:-70], image[80:-80, 60:-60]):  # fmt: skip
        assert auto_scale(variant, {"fov_diameter": 150}) == pytest.approx(0.5, rel=0.02)
    inside = image[100:300, 100:300]  # cropped inside the FOV: no edge to measure, no guess
    assert fov_circle(fov_mask(inside)) is None
    assert auto_scale(inside, {"fov_diameter": 150}) == 1.0


@pytest.mark.parametrize(
    "variant",
    ["rgb", "gray", "red-free", "dim", "dim red-free", "cut top and bottom", "cut left and right",
     "cut on every side", "twice the size"],
)  # fmt: skip
def test_fov_diameter_on_drive_photographs_from_other_cameras(shared_data, variant):
    """The diameter of the FOV circle, against that of DRIVE's own FOV mask, on the photograph
    as a gray, red-free, dim or cropped camera would give it: within 2 %."""
    from unet_core.base.arrays import resize

    for i in (21, 37):
        image = read_image(shared_data / f"drive/training/images/{i}_training.tif")
        truth = binarize(read_image(shared_data / f"drive/training/mask/{i}_training_mask.gif"))
        factor = 2.0 if variant == "twice the size" else 1.0
        shown = {
            "rgb": image, "gray": (image @ [0.299, 0.587, 0.114]).astype(np.uint8),
            "red-free": image[..., 1], "dim": (image * 0.25).astype(np.uint8),
            "dim red-free": (image[..., 1] * 0.3).astype(np.uint8),
            "cut top and bottom": image[80:-80], "cut left and right": image[:, 60:-60],
            "cut on every side": image[70:-70, 50:-50],
            "twice the size": resize(image, (2 * image.shape[0], 2 * image.shape[1])),
        }[variant]  # fmt: skip
        measured = fov_diameter(fov_mask(shown)) / factor
        assert measured == pytest.approx(fov_diameter(truth), rel=0.02)
        scale = auto_scale(shown, {"fov_diameter": 270})
        assert scale == pytest.approx(270 / (factor * fov_diameter(truth)), rel=0.02)


def test_a_photograph_without_colour_is_told_and_an_artery_vein_model_says_so(shared_data):
    """``has_colour`` on DRIVE as other cameras give it: colour casts and a dim photograph
    keep their colour; gray, red-free (alone, copied into three channels, or with red and
    blue empty) have none. The artery/vein model's note says so only there."""
    from unet_core.tasks.fov import has_colour
    from unet_core.tasks.fundus import GRAY_TYPES, Fundus

    image = read_image(shared_data / "drive/training/images/37_training.tif")
    gray = (image @ [0.299, 0.587, 0.114]).astype(np.uint8)
    green_only = np.zeros_like(image)
    green_only[..., 1] = image[..., 1]
    coloured = {"as it is": image, "dim": (image * 0.25).astype(np.uint8),
                "warm": np.clip(image * [1.25, 1.0, 0.7], 0, 255).astype(np.uint8),
                "sensor crosstalk": np.clip(image @ np.array([[0.6, 0.3, 0.1], [0.25, 0.6, 0.15],
                                                              [0.1, 0.4, 0.5]]).T, 0, 255
                                            ).astype(np.uint8),
                "with alpha": np.dstack([image, np.full(image.shape[:2], 9, np.uint8)])}
    plain = {"gray": gray, "gray in three channels": np.dstack([gray] * 3),
             "red-free": image[..., 1], "red-free in three": np.dstack([image[..., 1]] * 3),
             "green channel only": green_only, "black": np.zeros_like(image),
             "green-tinted red-free": np.dstack([image[..., 1] * 0.3, image[..., 1],
                                                 image[..., 1] * 0.3]).astype(np.uint8),
             "sepia": np.clip(np.dstack([gray * 1.07, gray * 0.74, gray * 0.43]), 0, 255
                              ).astype(np.uint8),
             "gray with sensor noise": np.clip(np.dstack([gray] * 3) + np.random.default_rng(
                 0).normal(0, 3, image.shape), 0, 255).astype(np.uint8)}  # fmt: skip
    assert all(has_colour(v) for v in coloured.values())
    assert not any(has_colour(v) for v in plain.values())
    from skimage import data

    from unet_core.tasks import suggest_model

    camera = data.camera()  # not a fundus photograph: gray in any form is the em model's
    sepia = np.clip(np.dstack([camera * 1.07, camera * 0.74, camera * 0.43]), 0, 255)
    for shown in (camera, np.dstack([camera] * 3), sepia.astype(np.uint8)):
        assert suggest_model(shown)[0] == "em"
    with pytest.raises(ValueError, match="no bundled model fits this image"):
        suggest_model(data.astronaut())
    av = ModelCard(UNet(3, 3, base_channels=4, depth=2).config, Preprocessing("rgb"),
                   ["background", "artery", "vein"], scale={"fov_diameter": 536}, task="fundus")
    vessels = ModelCard(UNet(1, 2, base_channels=4, depth=2).config, Preprocessing("green"),
                        ["background", "vessel"], scale={"fov_diameter": 536}, task="fundus")
    assert Fundus().notes(gray, av) == [GRAY_TYPES] == Fundus().notes(image[..., 1], av)
    assert Fundus().notes(image, av) == [] == Fundus().notes(gray, vessels)
    green_av = dataclasses.replace(av, preprocessing=Preprocessing("green"))
    assert Fundus().notes(gray, green_av) == []  # a model that reads no colour loses none


def test_an_em_model_says_when_it_is_given_a_fundus_photograph_or_a_colour_picture():
    from skimage import data

    from unet_core.tasks.em import COLOUR_TO_EM, EM, FUNDUS_TO_EM

    card = ModelCard(UNet(1, 2, base_channels=4, depth=2).config, Preprocessing("gray"),
                     ["background", "membrane"], task="em")  # fmt: skip
    fundus = read_image(SAMPLES / "fundus_retina.jpg")
    assert EM().notes(fundus, card) == [FUNDUS_TO_EM]
    assert EM().notes(data.astronaut(), card) == [COLOUR_TO_EM]
    em_slice = read_image(SAMPLES / "em_isbi2012_test00_crop.png")
    assert EM().notes(em_slice, card) == [] == EM().notes(np.stack([em_slice] * 3, -1), card)
    assert EM().notes(np.zeros((4, 32, 32), np.uint8), card) == []  # a stack


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
    model.card = ModelCard(model.config, Preprocessing("green"), scale={"fov_diameter": 100},
                           task="fundus")  # fmt: skip
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


def test_a_photograph_larger_than_the_models_is_also_segmented_finer_and_fused(tmp_path):
    """At the model's scale and at 2.5 times it (never above its own size), per pixel the pass
    that sees a vessel most surely; one progress over both; a user's scale is that one only."""
    from unet_core.tasks.fundus import finer_scales

    assert finer_scales(1.0) == () and finer_scales(1.3) == () and finer_scales(0.95) == ()
    assert finer_scales(0.5) == (1.0,) and finer_scales(0.2) == pytest.approx((0.5,))
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True).eval()
    torch.nn.init.normal_(model.head.weight, std=2.0)  # probabilities that differ by scale
    model.card = ModelCard(model.config, Preprocessing("green"), scale={"fov_diameter": 100},
                           task="fundus")  # fmt: skip
    image = synthetic_fundus(301, 250)
    image[100:200, 60:240, 1] += np.random.default_rng(0).integers(0, 60, (100, 180), np.uint8)
    auto = Predictor(model, device="cpu")
    context = auto.prepare(image)
    assert context.scale == pytest.approx(0.4, rel=0.03)
    assert context.finer == pytest.approx((2.5 * context.scale,))
    events = []
    fused = auto(image, progress=lambda done, total: events.append((done, total)))
    coarse = Predictor(model, device="cpu", scale=context.scale)(image)
    fine = Predictor(model, device="cpu", scale=context.finer[0])(image)
    assert not np.allclose(coarse, fine, atol=0.05)
    np.testing.assert_allclose(fused[0], np.minimum(coarse[0], fine[0]), atol=1e-6)
    np.testing.assert_allclose(fused.sum(0), 1, atol=1e-4)
    totals = {total for _, total in events}
    plans = [len(auto.plan((round(301 * f),) * 2)) for f in (context.scale, *context.finer)]
    assert totals == {sum(plans)} and events[-1][0] == sum(plans)
    assert [d for d, _ in events] == sorted(d for d, _ in events)
    assert Predictor(model, device="cpu", scale=0.4).prepare(image).finer == ()
    # the report says both scales
    from PIL import Image

    from unet_core.batch import REPORT_NAME, BatchRun
    from unet_core.batch.report import read_report

    Image.fromarray(image).save(tmp_path / "eye.png")
    results = [r for r in BatchRun(tmp_path / "eye.png", tmp_path / "out", model=model)
               if getattr(r, "status", None)]  # fmt: skip
    assert [r.status for r in results] == ["ok"], results
    (row,) = read_report(tmp_path / "out" / REPORT_NAME)
    assert float(row["scale"]) == pytest.approx(context.scale, abs=1e-3)
    assert float(row["finer_scale"]) == pytest.approx(context.finer[0], abs=1e-3)


def test_an_enlarged_drive_photograph_loses_nothing_to_the_finer_pass(shared_data):
    """DRIVE 37 enlarged 2x (nothing finer to find): the bundled model's F1 with the finer
    pass fused is within 0.005 of its own scale's."""
    from unet_core.base.arrays import resize
    from unet_core.formats.store import load_model
    from unet_core.metrics import binary_metrics

    image = read_image(shared_data / "drive/training/images/37_training.tif")
    truth = binarize(read_image(shared_data / "drive/training/1st_manual/37_manual1.gif"))
    mask = binarize(read_image(shared_data / "drive/training/mask/37_training_mask.gif"))
    size = (2 * image.shape[0], 2 * image.shape[1])
    big = np.clip(resize(image, size) + 0.5, 0, 255).astype(np.uint8)
    truth, mask = resize(truth.astype(np.float32), size) >= 0.5, resize(mask, size, order=0) > 0
    model = load_model("drive", device="cpu")
    auto = Predictor(model, device="cpu")
    assert auto.prepare(big).finer == (1.0,)  # 2.5x its scale is above its own size
    f1 = {name: binary_metrics(p[1] >= 0.5, truth, roi=mask)["f1"] for name, p in (
        ("fused", auto(big)), ("own scale", Predictor(model, device="cpu",
                                                      scale=auto.scale_for(big))(big)))}
    assert f1["fused"] > 0.78 and f1["fused"] >= f1["own scale"] - 0.005, f1


def test_the_field_of_view_is_found_once_per_segmented_photograph(tmp_path, monkeypatch):
    from unet_core.batch import BatchRun
    from unet_core.tasks import fundus

    calls = []
    real = fundus.fov_mask
    monkeypatch.setattr(fundus, "fov_mask", lambda image: calls.append(1) or real(image))
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True).eval()
    model.card = ModelCard(model.config, Preprocessing("green"), ["background", "vessel"],
                           scale={"fov_diameter": 200}, task="fundus")  # fmt: skip
    from PIL import Image

    Image.fromarray(synthetic_fundus(240, 200)).save(tmp_path / "eye.png")
    (result,) = list(BatchRun(tmp_path / "eye.png", tmp_path / "out", model=model))
    assert result.status == "ok" and result.measurements["vessel_area_fraction"] >= 0
    assert len(calls) == 1  # scale, blanking outside it and the measurements share one mask
    # ... carried in the image's context, not kept by the module: another image, another mask
    image = synthetic_fundus(240, 200)
    first = fundus.TASK.prepare(image, model.card)
    image[:] = 0
    assert fundus.TASK.prepare(image, model.card).fov.sum() != first.fov.sum()


@pytest.mark.parametrize(
    "shape_in, shape_out",
    [((301, 257, 3), (120, 100)), ((120, 100), (301, 257)), ((64, 64, 2), (200, 200))],
)
def test_resize_matches_scikit_image_away_from_the_edges(shape_in, shape_out):
    """The fast resize (torch's bilinear at pixel centres after skimage's anti-aliasing) gives
    scikit-image's values inside the image; only the outermost pixels may differ."""
    from skimage.transform import resize as skimage_resize

    from unet_core.base.arrays import resize

    x = np.random.default_rng(0).random(shape_in).astype(np.float32) * 255
    ours = resize(x, shape_out)
    shrink = shape_out[0] < shape_in[0]
    theirs = skimage_resize(x, shape_out + shape_in[2:], order=1, mode="reflect",
                            anti_aliasing=shrink, preserve_range=True)  # fmt: skip
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    inner = (slice(3, -3), slice(3, -3))
    assert np.abs(ours - theirs)[inner].max() < 0.01


def test_every_caller_of_the_automatic_scale_gets_its_bounds():
    """A card that does not fit the image (a tiny field of view for a card trained at 536 px)
    is refused in one line by the predictor and by what fine-tuning, the live answer and the
    export ask of the task: never an image resampled 30 times."""
    from unet_core.tasks import task_of

    image = synthetic_fundus(200, 24)
    card = ModelCard(UNet(1, 2, base_channels=4, depth=2).config, Preprocessing(channels="green"),
                     ["background", "vessel"], scale={"fov_diameter": 536.0}, task="fundus")
    with pytest.raises(ValueError, match="outside 1/16-16"):
        task_of(card).scale_for(image, card)
    model = UNet(1, 2, base_channels=4, depth=2)
    model.card = card
    with pytest.raises(ValueError, match="outside 1/16-16"):
        Predictor(model, device="cpu")(image)


def test_a_finer_pass_adds_vessels_and_the_models_own_scale_names_their_kind():
    from unet_core.inference.scales import fuse_surest

    # columns: seen by both (the finer pass surer), by the finer pass only, by the own scale
    own = np.array([[0.4, 0.98, 0.1], [0.5, 0.005, 0.8], [0.1, 0.015, 0.1]], np.float32)
    fine = np.array([[0.2, 0.3, 0.6], [0.1, 0.1, 0.2], [0.7, 0.6, 0.2]], np.float32)
    fused = own.copy()
    fuse_surest(fused, fine)
    np.testing.assert_allclose(fused[0], [0.2, 0.3, 0.1])  # the surer pass's background
    np.testing.assert_allclose(fused[:, 0], [0.2, 0.8 * 5 / 6, 0.8 / 6], rtol=1e-5)  # own kinds
    np.testing.assert_allclose(fused[:, 1], fine[:, 1])  # too faint at its own scale: finer's
    np.testing.assert_allclose(fused[:, 2], own[:, 2])  # the own scale surer: unchanged
    two = own[:2].copy()
    two[1] = 1 - two[0]
    fuse_surest(two, np.stack([fine[0], 1 - fine[0]]))
    np.testing.assert_allclose(two[0], [0.2, 0.3, 0.1])
