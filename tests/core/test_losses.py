"""The paper's weight map and the losses, against values computed by hand."""

import math

import numpy as np
import pytest
import torch

from unet_core.training.losses import (
    bce_dice_loss,
    focal_loss,
    get_loss,
    soft_dice_loss,
    weighted_cross_entropy,
)
from unet_core.training.weight_maps import (
    class_balance_weights,
    two_nearest_distances,
    unet_weight_map,
)


def two_bars() -> np.ndarray:
    """5 x 9 labels: objects (1) in columns 0-1 and 7-8, background in columns 2-6."""
    labels = np.zeros((5, 9), np.int64)
    labels[:, :2] = labels[:, 7:] = 1
    return labels


def test_weight_map_by_hand():
    w = unet_weight_map(two_bars(), w0=10, sigma=5)
    # class balance: 20 object and 25 background pixels of 45 -> 45/(2*20), 45/(2*25)
    # every background pixel has d1 + d2 = 6 (e.g. column 4: 3 + 3; column 2: 1 + 5)
    border = 10 * math.exp(-(6**2) / (2 * 5**2))
    np.testing.assert_allclose(w[:, :2], 1.125, rtol=1e-6)
    np.testing.assert_allclose(w[:, 2:7], 0.9 + border, rtol=1e-5)


def test_single_object_gets_no_border_term_and_ignore_gets_zero():
    labels = two_bars()
    labels[:, 7:] = 0
    labels[0, 4] = 255
    w = unet_weight_map(labels, w0=10, sigma=5, ignore_label=255)
    counts = {0: 34, 1: 10}  # 44 labelled pixels
    assert w[0, 4] == 0
    np.testing.assert_allclose(w[labels == 0], 44 / (2 * counts[0]), rtol=1e-6)
    np.testing.assert_allclose(w[labels == 1], 44 / (2 * counts[1]), rtol=1e-6)


def test_two_nearest_distances_and_class_weights():
    d1, d2 = two_nearest_distances(two_bars() == 1, reach=20)
    assert d1[2, 4] == 3 and d2[2, 4] == 3 and d1[2, 2] == 1 and d2[2, 2] == 5
    assert d1[0, 0] == 0 and d2[0, 0] == 7
    np.testing.assert_allclose(class_balance_weights(np.array([0, 0, 0, 1]), 3), [4 / 6, 2, 0])


def test_weight_map_for_cells_uses_the_interior_as_objects():
    labels = 1 - two_bars()  # 0 = cells, 1 = membrane between them
    w = unet_weight_map(labels, w0=10, sigma=5, object_class=0)
    assert w[2, 4] > w[2, 0] + 4


LOGITS = torch.tensor([[[[2.0, 0.0]], [[0.0, 0.0]]]])  # (1, 2, 1, 2): pixel A [2, 0], B [0, 0]


@pytest.mark.parametrize(
    ("target", "weight", "ignore", "expected"),
    [
        ([0, 1], None, None, (math.log(1 + math.exp(-2)) + math.log(2)) / 2),
        ([0, 9], None, 9, math.log(1 + math.exp(-2))),
        ([0, 1], [2.0, 1.0], None, (2 * math.log(1 + math.exp(-2)) + math.log(2)) / 2),
        ([9, 9], None, 9, 0.0),
    ],
)
def test_weighted_cross_entropy_cases(target, weight, ignore, expected):
    t = torch.tensor([[target]])
    w = None if weight is None else torch.tensor([[weight]])
    assert weighted_cross_entropy(LOGITS, t, w, ignore).item() == pytest.approx(expected, rel=1e-6)


def test_dice_by_hand_and_ignore():
    logits = torch.zeros(1, 2, 1, 2)  # p = 0.5 everywhere
    t = torch.tensor([[[1, 0]]])
    # foreground: |P.T| = 0.5, |P| + |T| = 1 + 1; with eps = 1: 1 - (1 + 1) / (2 + 1)
    assert soft_dice_loss(logits, t).item() == pytest.approx(1 / 3)
    t_ign = torch.tensor([[[1, 7]]])  # the second pixel ignored: |P.T| = .5, |P| + |T| = 1.5
    assert soft_dice_loss(logits, t_ign, ignore_index=7).item() == pytest.approx(1 - 2 / 2.5)
    perfect = torch.tensor([[[[-20.0, 20.0]], [[20.0, -20.0]]]])
    assert soft_dice_loss(perfect, t).item() == pytest.approx(0.0, abs=1e-6)
    assert bce_dice_loss(logits, t).item() == pytest.approx(math.log(2) + 1 / 3)


def test_focal_loss_reduces_to_ce_and_downweights_easy_pixels():
    t = torch.tensor([[[0, 1]]])
    ce = weighted_cross_entropy(LOGITS, t)
    assert focal_loss(LOGITS, t, gamma=0.0).item() == pytest.approx(ce.item())
    p_a = 1 / (1 + math.exp(-2))
    expected = ((1 - p_a) ** 2 * -math.log(p_a) + 0.25 * math.log(2)) / 2
    assert focal_loss(LOGITS, t).item() == pytest.approx(expected, rel=1e-6)


def test_ignored_pixels_change_nothing_including_gradients():
    torch.manual_seed(0)
    logits = torch.randn(2, 2, 8, 8, requires_grad=True)
    target = torch.randint(0, 2, (2, 8, 8))
    target[:, :4] = 255
    other = target.clone()
    for name in ("ce", "weighted_ce", "bce_dice", "focal"):
        loss = get_loss(name)(logits, target, None, 255)
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.all(grad[:, :, :4] == 0), name
        changed = logits.detach().clone()
        changed[:, :, :4] = 100 * torch.randn(2, 2, 4, 8)
        assert get_loss(name)(changed, other, None, 255).item() == pytest.approx(loss.item())
    with pytest.raises(ValueError, match="loss must be one of"):
        get_loss("l2")
