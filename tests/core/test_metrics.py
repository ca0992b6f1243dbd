"""Metrics against values computed by hand, and the evaluate command end to end."""

import json

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from unet_core import Preprocessing, UNet, predict, save_model
from unet_core.cli import main
from unet_core.evaluate import pair_files
from unet_core.metrics import binary_metrics, cells_from_membrane, em_metrics, roc_auc


def test_auc_by_hand():
    # positives 0.35, 0.8; negatives 0.1, 0.4: pairs won 3 of 4
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert roc_auc(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5  # ties count half
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_binary_metrics_by_hand_and_inside_roi():
    pred = np.array([1, 1, 0, 0, 1, 0], bool)
    truth = np.array([1, 0, 1, 0, 1, 1], bool)  # tp 2, fp 1, fn 2, tn 1
    m = binary_metrics(pred, truth)
    assert m["f1"] == pytest.approx(4 / 7) and m["iou"] == pytest.approx(2 / 5)
    assert m["sensitivity"] == pytest.approx(0.5) and m["specificity"] == pytest.approx(0.5)
    assert m["accuracy"] == pytest.approx(0.5)
    roi = np.array([1, 1, 1, 1, 1, 0], bool)  # drop the last fn
    assert binary_metrics(pred, truth, roi=roi)["sensitivity"] == pytest.approx(2 / 3)


def cells_truth() -> np.ndarray:
    """Membrane truth: a 60 x 60 grid of 4 cells separated by 2-pixel membranes."""
    m = np.zeros((60, 60), bool)
    m[29:31, :] = m[:, 29:31] = True
    return m


def test_em_metrics_perfect_thick_and_merged():
    truth = cells_truth()
    perfect = em_metrics(truth.astype(float), truth)
    assert perfect["rand_error"] == pytest.approx(0, abs=1e-9) and perfect["pixel_error"] == 0
    thick = truth.copy()
    thick[27:33, :] = thick[:, 27:33] = True  # thicker membranes: pixel error, same cells
    m = em_metrics(thick.astype(float), truth)
    assert m["pixel_error"] > 0.05 and m["rand_error"] == pytest.approx(0, abs=1e-9)
    merged = truth.copy()
    merged[:, 29:31] = False  # the vertical membrane missed: cells merge
    merged[29:31, :] = True
    bad = em_metrics(merged.astype(float), truth)
    assert bad["rand_error"] > 0.2 and bad["vi_merge"] > 0.5
    assert len(np.unique(cells_from_membrane(truth.astype(float)))) == 4


def test_pair_files_by_number(tmp_path):
    a = [tmp_path / n for n in ("21_training.tif", "3_training.tif")]
    b = [tmp_path / n for n in ("03_manual1.gif", "21_manual1.gif")]
    assert pair_files(a, b) == [(a[1], b[0]), (a[0], b[1])]
    extra = [*b, tmp_path / "40_manual1.gif"]  # more labels than images: the extra is ignored
    assert pair_files(a, extra) == [(a[1], b[0]), (a[0], b[1])]
    with pytest.raises(ValueError, match="cannot pair"):
        pair_files(a, b[:1] + [tmp_path / "x.gif", tmp_path / "y.gif"])


def test_evaluate_command(tmp_path, capsys):
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True)
    path = save_model(model, tmp_path / "m", preprocessing=Preprocessing("gray", "zscore"),
                      classes=["background", "vessel"])  # fmt: skip
    for d in ("img", "lab", "fov"):
        (tmp_path / d).mkdir()
    rng = np.random.default_rng(0)
    truths, probs = [], []
    for i in (1, 2):
        img = rng.integers(0, 255, (40, 44), dtype=np.uint8)
        lab = (rng.random((40, 44)) > 0.7).astype(np.uint8) * 255
        tifffile.imwrite(tmp_path / f"img/{i:02d}_test.tif", img, compression="lzw")
        Image.fromarray(lab).convert("P").save(tmp_path / f"lab/{i:02d}_manual1.gif")
        Image.fromarray(np.full((40, 44), 255, np.uint8)).save(tmp_path / f"fov/{i:02d}_mask.gif")
        truths.append(lab > 0)
        probs.append(predict(model, img, device="cpu")[1])
    args = ["evaluate", str(tmp_path / "img"), str(tmp_path / "lab"), "--model", str(path)]
    code = main([*args, "--fov", str(tmp_path / "fov"), "--device", "cpu", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    rows = json.loads(captured.out)
    assert code == 0 and [r["image"] for r in rows] == ["01_test.tif", "02_test.tif", "mean"]
    expected = [binary_metrics(p >= 0.5, t, prob=p) for p, t in zip(probs, truths)]
    for row, exp in zip(rows, expected):
        assert row["f1"] == pytest.approx(exp["f1"]) and row["auc"] == pytest.approx(exp["auc"])
    assert rows[2]["auc"] == pytest.approx(np.mean([e["auc"] for e in expected]))
    assert main(["evaluate", str(tmp_path / "img"), str(tmp_path / "lab"), "--model", str(path),
                 "--device", "cpu"]) == 0  # fmt: skip
    assert "| image | f1 |" in capsys.readouterr().out
    assert main([*args, "--device", "cpu", "--ids", "2", "--json"]) == 0
    assert [r["image"] for r in json.loads(capsys.readouterr().out)] == ["02_test.tif", "mean"]


def test_evaluating_a_fundus_model(tmp_path, capsys, caplog):
    """A fundus model is scored inside the field of view it finds when no masks are given (as
    inside DRIVE's masks); an artery/vein model against vessel labels (0, 255) is scored as a
    vessel model (either type against vessel), not as a model whose every vessel was missed;
    photographs its card says it trained on are named in a warning."""
    torch.manual_seed(0)
    model = UNet(3, 3, base_channels=4, depth=2, padding="same", batch_norm=True)
    path = save_model(model, tmp_path / "av", preprocessing=Preprocessing("rgb", "zscore"),
                      classes=["background", "artery", "vein"], task="fundus",
                      scale={"fov_diameter": 80.0}, provenance={"train_ids": [21]})  # fmt: skip
    for d in ("img", "lab", "fov"):
        (tmp_path / d).mkdir()
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:96, :100]
    fov = (yy - 48) ** 2 + (xx - 50) ** 2 < 40**2  # a field of view on a black border
    image = np.where(fov[..., None], rng.integers(60, 200, (96, 100, 3)), 0).astype(np.uint8)
    image[..., 2] //= 3  # redder than blue, as a fundus photograph is
    labels = ((rng.random((96, 100)) > 0.8) & fov).astype(np.uint8) * 255
    for i in (21, 22):
        tifffile.imwrite(tmp_path / f"img/{i}_training.tif", image)
        Image.fromarray(labels).save(tmp_path / f"lab/{i}_manual1.gif")
        Image.fromarray(fov.astype(np.uint8) * 255).save(tmp_path / f"fov/{i}_mask.gif")
    args = ["evaluate", str(tmp_path / "img"), str(tmp_path / "lab"), "--model", str(path),
            "--device", "cpu", "--json"]  # fmt: skip
    assert main(args) == 0
    found = json.loads(capsys.readouterr().out)
    assert main([*args, "--fov", str(tmp_path / "fov")]) == 0
    captured = capsys.readouterr()
    given = json.loads(captured.out)
    assert "av_accuracy" not in given[0] and found[0].keys() == given[0].keys()
    from unet_core.formats.store import load_model

    prob = predict(load_model(str(path), device="cpu"), image, device="cpu")  # with its card
    vessel = 1 - prob[0]  # either type, as the mask has it (the likeliest class)
    expected = binary_metrics(prob.argmax(0) > 0, labels > 0, roi=fov, prob=vessel)
    assert given[0]["f1"] == pytest.approx(expected["f1"]) and expected["f1"] > 0.1
    assert found[0]["f1"] == pytest.approx(given[0]["f1"], abs=0.02)  # inside the FOV it finds
    everywhere = binary_metrics(prob.argmax(0) > 0, labels > 0, prob=vessel)  # the border too
    assert found[0]["specificity"] == pytest.approx(given[0]["specificity"], abs=0.015)
    assert everywhere["specificity"] - found[0]["specificity"] > 0.05  # not the black border
    assert "trained on 21_training.tif (its card's train_ids)" in caplog.text
    assert "22_training" not in caplog.text
