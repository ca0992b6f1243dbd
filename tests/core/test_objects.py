"""Separate objects, per-class scores and areas, and the recipe's border-weight choice."""

import numpy as np
import pytest

from unet_core.metrics import class_metrics
from unet_core.postprocess import border_class, class_areas, object_stats, separate_objects
from unet_core.training.recipe import generic_config, narrow_gaps, objects_touch


def two_touching_discs(gap: int = 0):
    yy, xx = np.mgrid[:64, :100]
    left = (yy - 32) ** 2 + (xx - 35) ** 2 < 15**2
    right = (yy - 32) ** 2 + (xx - (64 + gap)) ** 2 < 15**2
    small = (yy - 8) ** 2 + (xx - 90) ** 2 < 4**2
    return left, right, small


def test_touching_discs_split_into_objects_by_the_distance():
    left, right, small = two_touching_discs()
    fg = left | right | small
    prob = np.stack([~fg, fg]).astype(np.float32)
    objects = separate_objects(prob, ["background", "nucleus"])
    assert objects.dtype == np.int32 and objects.max() == 3
    # each disc is one object, whole: its pixels carry one label, not shared with the other
    for disc in (left & ~right, right & ~left, small):
        values = np.unique(objects[disc])
        assert len(values) == 1 and values[0] > 0
    assert len({objects[35, 30], objects[35, 70], objects[8, 90]}) == 3
    assert object_stats(objects) == {"objects": 3, "mean_object_area": pytest.approx(fg.sum() / 3)}


def test_a_border_class_seeds_one_object_per_interior():
    left, right, small = two_touching_discs()
    labels = np.where(left | right | small, 1, 0)
    labels[(left | right) & (np.abs(np.mgrid[:64, :100][1] - 49.5) < 2)] = 2  # the border
    prob = np.stack([labels == 0, labels == 1, labels == 2]).astype(np.float32)
    assert border_class(["background", "nucleus", "border"]) == 2
    assert border_class(["background", "nucleus", "membrane"]) is None
    objects = separate_objects(prob, ["background", "nucleus", "border"])
    assert objects.max() == 3
    assert (objects[labels == 2] > 0).all()  # border pixels go to a neighbouring object
    assert objects[32, 30] != objects[32, 70]


def test_class_metrics_by_hand():
    truth = np.array([[0, 1, 1, 2], [0, 1, 255, 2]])
    pred = np.array([[0, 1, 0, 2], [1, 1, 2, 1]])
    m = class_metrics(pred, truth, ["background", "cell", "border"])
    # cell: truth at 3 annotated pixels, predicted at 4 (2 of them right): IoU 2 / 5
    assert m["iou_cell"] == pytest.approx(2 / 5) and m["dice_cell"] == pytest.approx(4 / 7)
    # border: truth 2 pixels, predicted 1 (right); the 255 pixel is not scored: IoU 1 / 2
    assert m["iou_border"] == pytest.approx(1 / 2)
    assert m["iou"] == pytest.approx((2 / 5 + 1 / 2) / 2)
    assert np.isnan(class_metrics(pred * 0, truth * 0, ["bg", "a", "b"])["iou"])


def test_class_areas_count_each_class_but_the_background():
    labels = np.array([[0, 1, 2], [2, 2, 0]])
    assert class_areas(labels, ["background", "nucleus", "border"]) == {
        "area_nucleus": 1, "area_border": 3}  # fmt: skip


def test_border_weights_chosen_when_objects_lie_a_few_pixels_apart():
    left, right, _ = two_touching_discs(gap=2)  # 2 px of background between them
    close = np.where(left | right, 1, 0)
    assert narrow_gaps(close) > 0 and objects_touch([close])
    left, right, _ = two_touching_discs(gap=20)
    far = np.where(left | right, 1, 0)
    assert narrow_gaps(far) == 0 and not objects_touch([far])
    config, reasons = generic_config([close], size="small", steps=10)
    assert config.border_weights and "border weights" in reasons["loss"]
    config, reasons = generic_config([close], classes=["background", "cell", "border"])
    assert not config.border_weights and "a border class separates" in reasons["loss"]
    config, reasons = generic_config([far], size="small", steps=10)
    assert not config.border_weights and config.patch == 96  # images smaller than 128 px
    assert config.steps == 10 and config.ignore_label == 255 and config.loss == "ce"


def test_a_report_keeps_the_columns_of_an_earlier_run_with_another_model(tmp_path):
    import csv

    import torch
    from PIL import Image

    from unet_core import Preprocessing, UNet, save_model
    from unet_core.batch import BatchRun

    torch.manual_seed(0)
    files = {}
    for name, classes in (("a", ["background", "nucleus"]), ("b", ["background", "cell", "rim"])):
        model = UNet(1, len(classes), base_channels=4, depth=2, padding="same", batch_norm=True)
        files[name] = save_model(model, tmp_path / name, classes=classes,
                                 preprocessing=Preprocessing("gray", "zscore"))  # fmt: skip
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40), np.uint8)).save(
            tmp_path / f"{name}.png"
        )
        list(BatchRun(tmp_path / f"{name}.png", tmp_path / "out", model=files[name], device="cpu"))
    with open(tmp_path / "out" / "segmentation.csv", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(x for x in f if not x.startswith("#"))}
    a, b = rows[str(tmp_path / "a.png")], rows[str(tmp_path / "b.png")]
    assert a["area_nucleus"] != "" and b["area_cell"] != "" and b["area_rim"] != ""
    assert int(b["area_cell"]) + int(b["area_rim"]) <= 40 * 40


def test_generic_evaluation_reads_instance_masks_and_refuses_empty_ones():
    from unet_core.tasks import task_of

    truth = np.zeros((20, 20), np.uint16)
    truth[2:8, 2:8], truth[10:18, 10:18] = 3, 7  # two objects as instance ids
    prob = np.stack([truth == 0, truth > 0]).astype(np.float32)
    scores = task_of("generic").evaluate(prob, truth, 0.5, classes=["background", "cell"])
    assert scores["iou_cell"] == pytest.approx(1.0)
    three = np.concatenate([prob, np.zeros((1, 20, 20), np.float32)])
    with pytest.raises(ValueError, match="nothing annotated"):  # 255 = not annotated
        task_of("generic").evaluate(three, np.full((20, 20), 255), 0.5)
