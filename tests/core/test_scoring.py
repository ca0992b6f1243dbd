"""Scoring has one home: a task's scores of a label file, training's validation of a sample and
a round's held-out Dice are the same numbers."""

import numpy as np
import pytest

from unet_core.base.labels import IGNORE_LABEL
from unet_core.data.datasets import Sample
from unet_core.metrics import binary_metrics, class_metrics, em_metrics
from unet_core.scoring import class_scores, foreground_dice, sample_scorer
from unet_core.tasks import task_of


def probabilities(seed: int, classes: int = 2, shape=(40, 48)) -> np.ndarray:
    raw = np.random.default_rng(seed).random((classes, *shape)).astype(np.float32)
    return raw / raw.sum(0)


def test_fundus_and_em_validation_score_as_their_task_scores_files():
    prob = probabilities(0)
    rng = np.random.default_rng(1)
    vessels = (rng.random(prob.shape[1:]) > 0.7).astype(np.int64)
    fov = np.zeros(prob.shape[1:], bool)
    fov[4:-4, 4:-4] = True
    labels = np.where(fov, vessels, IGNORE_LABEL)  # as a DRIVE sample holds them
    sample = Sample(np.zeros((1, *prob.shape[1:]), np.float32), labels, roi=fov)
    fundus = sample_scorer(task_of("fundus"), ["background", "vessel"])(prob, sample)
    assert fundus == binary_metrics(prob[1] >= 0.5, labels == 1, prob=prob[1], roi=fov)
    as_file = task_of("fundus").evaluate(prob, (vessels * 255).astype(np.uint8), 0.5, roi=fov)
    assert as_file == fundus
    membranes = sample_scorer(task_of("em"), ["cell interior", "membrane"])
    sample = Sample(sample.image, vessels)
    assert membranes(prob, sample) == em_metrics(prob[1], vessels == 1)
    challenge = np.where(vessels == 1, 0, 255).astype(np.uint8)  # 0 = membrane
    assert task_of("em").evaluate(prob, challenge, 0.5) == membranes(prob, sample)


def test_class_scores_are_the_class_metrics_of_the_predicted_labels():
    prob = probabilities(2, classes=3)
    truth = np.random.default_rng(3).integers(0, 3, prob.shape[1:])
    truth[:5] = IGNORE_LABEL
    classes = ["background", "a", "b"]
    expected = class_metrics(prob.argmax(0), truth, classes, IGNORE_LABEL)
    assert class_scores(prob, truth, classes) == expected
    sample = Sample(np.zeros((1, *truth.shape), np.float32), truth)
    assert sample_scorer(task_of("generic"), classes)(prob, sample) == expected
    assert set(class_scores(prob, truth)) >= {"iou_class 1", "dice_class 2"}
    with pytest.raises(ValueError, match="do not match the image"):
        class_scores(prob, truth[:10])
    assert "objects_iou" not in expected


def test_a_border_class_is_scored_with_the_objects_it_parts_too():
    """Issue 36: with a border class the interior's IoU drops with the border's share of small
    objects; the objects' IoU (interior and border together) is reported beside it."""
    truth = np.zeros((20, 20), np.int64)
    truth[4:16, 4:16] = 2  # an object: 2-px border ...
    truth[6:14, 6:14] = 1  # ... around its interior
    found = truth.copy()
    found[6:14, 6] = 2  # the interior one pixel thinner: the object itself is exact
    prob = np.stack([found == k for k in range(3)]).astype(np.float32)
    scores = class_scores(prob, truth, ["background", "nucleus", "border"])
    assert scores["iou_nucleus"] == pytest.approx(56 / 64)
    assert scores["objects_iou"] == pytest.approx(1.0)
    truth[0, 0] = IGNORE_LABEL
    found[0, :3] = 1  # two pixels found outside the object (the ignored one does not count)
    prob = np.stack([found == k for k in range(3)]).astype(np.float32)
    scores = class_scores(prob, truth, ["background", "nucleus", "border"])
    assert scores["objects_iou"] == pytest.approx(144 / 146)


def test_foreground_dice_counts_the_labelled_pixels_only():
    prob = np.zeros((2, 4, 4), np.float32)
    prob[1, :, :2], prob[0, :, 2:] = 1.0, 1.0
    truth = np.full((4, 4), IGNORE_LABEL)
    truth[0, :2], truth[0, 2:] = 1, 0
    assert foreground_dice(prob, truth) == 1.0
    truth[1, 0] = 0  # predicted foreground, labelled background
    assert foreground_dice(prob, truth) == pytest.approx(2 * 2 / (2 * 2 + 1))
