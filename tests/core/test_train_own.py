"""Training a model for one's own images: folders in, a model file out (CLI and Python)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tifffile
import torch

from unet_core import load_model, read_card
from unet_core.base.events import Progress
from unet_core.cli import main
from unet_core.data.folders import DataError, load_folders, pair_folders
from unet_core.data.io import read_image
from unet_core.model.resnet import ResNetEncoder
from unet_core.training.own_data import iter_train, train


def write_set(root, discs, names, classes=2, dtype=np.uint8, suffix=".tif"):
    """images/ and labels/ folders of synthetic discs; returns the root."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(names):
        image, labels = discs(seed, 96, classes, dtype)
        tifffile.imwrite(root / "images" / f"{name}.tif", image)
        tifffile.imwrite(root / "labels" / f"{name}{suffix}", labels)
    return root


def run_cli(*args) -> int:
    return main([str(a) for a in args])


def test_pairs_by_stem_and_lists_every_unpaired_file(tmp_path, discs):
    root = write_set(tmp_path, discs, ["a", "b", "c"])
    (root / "labels" / "b.tif").unlink()
    (root / "labels" / "c.tif").rename(root / "labels" / "c_mask.tif")  # a suffix still pairs
    tifffile.imwrite(root / "labels" / "stray.tif", np.zeros((96, 96), np.uint8))
    with pytest.raises(DataError) as err:
        pair_folders(root / "images", root / "labels")
    text = str(err.value)
    assert "no label file for 1 image(s): b.tif" in text
    assert "no image for 1 label file(s): stray.tif" in text
    (root / "labels" / "stray.tif").unlink()
    (root / "images" / "b.tif").unlink()
    pairs = pair_folders(root / "images", root / "labels")
    assert [(i.name, lab.name) for i, lab in pairs] == [("a.tif", "a.tif"), ("c.tif", "c_mask.tif")]


def test_cli_unpaired_files_exit_2_before_training(tmp_path, discs, capsys):
    root = write_set(tmp_path, discs, ["a", "b"])
    (root / "labels" / "a.tif").unlink()
    rc = run_cli("train", "--images", root / "images", "--labels", root / "labels",
                 "--out", tmp_path / "m", "--steps", "5")  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "no label file for 1 image(s): a.tif" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.safetensors").exists() and not (tmp_path / "m.ckpt").exists()


def test_labels_beyond_the_classes_and_all_ignore_files_are_named(tmp_path, discs, capsys):
    root = write_set(tmp_path, discs, ["a", "b", "c"], classes=3)
    tifffile.imwrite(root / "labels" / "c.tif", np.full((96, 96), 255, np.uint8))
    rc = run_cli("train", "--images", root / "images", "--labels", root / "labels",
                 "--classes", "background,cell", "--out", tmp_path / "m",
                 "--steps", "5")  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    assert "label values beyond the 2 classes 0..1 (background, cell) in: a (2), b (2)" in err
    assert "nothing annotated (every pixel 255) in: c" in err
    assert not (tmp_path / "m.safetensors").exists()


def test_shape_mismatch_and_non_integer_labels(tmp_path, discs):
    root = write_set(tmp_path, discs, ["a", "b"])
    tifffile.imwrite(root / "labels" / "a.tif", np.zeros((50, 96), np.uint8))
    tifffile.imwrite(root / "labels" / "b.tif", np.full((96, 96), 0.5, np.float32))
    with pytest.raises(DataError) as err:
        load_folders(root / "images", root / "labels")
    assert "the labels of a are 50 x 96 but the image is 96 x 96" in str(err.value)
    assert "b.tif holds non-integer values" in str(err.value)


def test_classes_inferred_and_0_255_masks_read_as_binary(tmp_path, discs):
    root = write_set(tmp_path, discs, ["a", "b"], classes=3)
    assert load_folders(root / "images", root / "labels").classes == [
        "background", "class 1", "class 2"]  # fmt: skip
    for p in (root / "labels").iterdir():
        tifffile.imwrite(p, (read_image(p) > 0).astype(np.uint8) * 255)
    data = load_folders(root / "images", root / "labels")
    assert data.classes == ["background", "foreground"] and data.notes
    assert set(np.unique(data.labels[0])) == {0, 1}


def iou(mask, truth):
    return np.sum(mask & truth) / max(1, np.sum(mask | truth))


@pytest.mark.slow
def test_two_classes_train_then_segment_from_folders_16_bit(tmp_path, discs, capsys):
    root = write_set(tmp_path / "train", discs, ["a", "b", "c"], dtype=np.uint16)
    out = tmp_path / "nuclei.safetensors"
    rc = run_cli("train", "--images", root / "images", "--labels", root / "labels", "--out", out,
                 "--steps", "60", "--size", "small", "--classes", "background,nucleus")  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    card = read_card(out)
    assert card.classes == ["background", "nucleus"]
    assert card.provenance["input"]["dtype"] == "uint16"
    assert card.preprocessing.channels == "gray" and card.preprocessing.normalize == "zscore"
    assert card.provenance["held_out"] == "the bottom 20 % of each image's annotated rows"
    assert card.provenance["validation"]["iou"] > 0.5
    assert (tmp_path / "nuclei_curve.png").stat().st_size > 0
    # an image it never saw, segmented from the command line
    image, truth = discs(7, 96, 2, np.uint16)
    tifffile.imwrite(tmp_path / "new.tif", image)
    assert run_cli("segment", tmp_path / "new.tif", "--model", out, "--out", tmp_path / "seg") == 0
    mask = read_image(tmp_path / "seg" / "new_mask.tif")
    assert set(np.unique(mask)) == {0, 1}  # class indices (shown black and white)
    assert iou(mask > 0, truth > 0) > 0.7
    assert (
        run_cli("info", out) == 0 and "classes: 0=background, 1=nucleus" in capsys.readouterr().out
    )


@pytest.mark.slow
def test_three_classes_end_to_end_with_objects(tmp_path, discs, capsys):
    root = write_set(tmp_path / "train", discs, ["a", "b", "c", "d"], classes=3)
    out = tmp_path / "cells"
    rc = run_cli("train", "--images", root / "images", "--labels", root / "labels", "--out", out,
                 "--steps", "200", "--size", "small",
                 "--classes", "background,nucleus,border")  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    card = read_card(tmp_path / "cells.safetensors")
    assert card.classes == ["background", "nucleus", "border"]
    assert card.provenance["held_out"] == "1 of 4 images: d"
    image, truth = discs(9, 96, 3)
    tifffile.imwrite(tmp_path / "new.tif", image)
    rc = run_cli("segment", tmp_path / "new.tif", "--model", tmp_path / "cells.safetensors",
                 "--out", tmp_path / "seg", "--instances")  # fmt: skip
    assert rc == 0
    mask = read_image(tmp_path / "seg" / "new_mask.tif")
    assert set(np.unique(mask)) == {0, 1, 2}  # class indices, not 0/255
    assert iou(mask > 0, truth > 0) > 0.7  # the nuclei with their borders
    objects = read_image(tmp_path / "seg" / "new_instances.tif")
    with open(tmp_path / "seg" / "segmentation.csv", newline="") as f:
        row = next(csv.DictReader(line for line in f if not line.startswith("#")))
    assert int(row["area_nucleus"]) == np.sum(mask == 1)
    assert int(row["area_border"]) == np.sum(mask == 2)
    assert int(row["objects"]) == objects.max() >= 3
    capsys.readouterr()
    rc = run_cli("evaluate", tmp_path / "new.tif", tmp_path / "seg" / "new_mask.tif", "--model",
                 tmp_path / "cells.safetensors", "--json")  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert rc == 0 and rows[0]["iou_nucleus"] == pytest.approx(1.0)  # scored against itself


def test_resume_continues_the_run_and_out_is_never_overwritten(tmp_path, discs, capsys):
    root = write_set(tmp_path, discs, ["a", "b"])
    args = ["train", "--images", root / "images", "--labels", root / "labels", "--out",
            tmp_path / "m", "--size", "small"]  # fmt: skip
    assert run_cli(*args, "--steps", "6") == 0
    assert run_cli(*args, "--steps", "6") == 2
    assert "exists" in capsys.readouterr().err
    assert run_cli(*args, "--steps", "10", "--resume") == 0
    card = read_card(tmp_path / "m.safetensors")
    assert card.provenance["steps"] == 10


def test_stop_saves_the_best_weights_so_far(tmp_path, discs):
    root = write_set(tmp_path, discs, ["a", "b"])
    data = load_folders(root / "images", root / "labels")
    steps = []
    job = iter_train(data, tmp_path / "m", minutes=10, size="small", device="cpu",
                     stop=lambda: len(steps) >= 12)  # fmt: skip
    try:
        while True:
            event = next(job)
            if isinstance(event, Progress):
                steps.append(event)
    except StopIteration as finished:
        result = finished.value
    assert result.stopped and result.steps == 12 and result.path.exists()
    model = load_model(result.path)
    assert model.card.provenance["stopped_early"] is True
    assert result.validation  # validated on the way out, so the best weights were chosen


def test_from_a_model_keeps_its_input_conventions(tmp_path, discs, tiny_rgb_model):
    root = write_set(tmp_path, discs, ["a", "b"])
    data = load_folders(root / "images", root / "labels")
    result = train(data, tmp_path / "m", steps=3, base=str(tiny_rgb_model), device="cpu")
    card = read_card(result.path)
    assert card.preprocessing.channels == "rgb" and card.provenance["from"] == str(tiny_rgb_model)
    # more classes than the model has: a class added (issue 36); fewer: refused in one line
    data3 = load_folders(write_set(tmp_path / "3", discs, ["a"], 3) / "images",
                         tmp_path / "3" / "labels")  # fmt: skip
    three = train(data3, tmp_path / "m3", steps=3, base=str(tiny_rgb_model), device="cpu")
    assert read_card(three.path).provenance["classes_added"] == ["class 2"]
    with pytest.raises(ValueError, match="has 3 classes but the labels have 2"):
        train(data, tmp_path / "m2", steps=3, base=str(three.path), device="cpu")


@pytest.fixture
def tiny_rgb_model(tmp_path):
    import torch

    from unet_core import Preprocessing, UNet, save_model

    torch.manual_seed(0)
    model = UNet(3, 2, base_channels=4, depth=2, padding="same", batch_norm=True)
    return save_model(model, tmp_path / "rgb", name="rgb",
                      preprocessing=Preprocessing("rgb", "zscore"))  # fmt: skip


def test_instance_masks_become_foreground_with_lines_between_touching_objects(tmp_path, discs):
    from scipy import ndimage

    root = write_set(tmp_path, discs, ["a"])
    image, labels = discs(0, 96)
    objects, n = ndimage.label(labels)
    objects[:10, :10] = np.arange(100).reshape(10, 10) + 300  # ids above 255 too
    tifffile.imwrite(root / "labels" / "a.tif", objects.astype(np.uint16))
    data = load_folders(root / "images", root / "labels")
    assert data.classes == ["background", "foreground"] and "instance masks" in data.notes[0]
    out = data.labels[0]
    assert set(np.unique(out)) == {0, 1}
    assert out[10:].sum() <= labels[10:].sum()  # lines cut only where objects touch


def test_the_held_out_part_is_taken_from_what_was_annotated(tmp_path, discs):
    root = write_set(tmp_path, discs, ["a"])
    labels = discs(0, 96)[1].copy()
    labels[48:] = 255  # only the top half annotated
    tifffile.imwrite(root / "labels" / "a.tif", labels)
    data = load_folders(root / "images", root / "labels")
    result = train(data, tmp_path / "m", steps=3, size="small", device="cpu")
    assert "iou" in result.validation  # scored on rows 38-47, which training did not see


def test_a_few_objects_as_instance_ids_and_jpeg_masks(tmp_path, discs):
    from PIL import Image
    from scipy import ndimage

    root = write_set(tmp_path, discs, ["a"])
    objects, n = ndimage.label(discs(0, 96)[1])
    assert 3 <= n <= 16
    tifffile.imwrite(root / "labels" / "a.tif", objects.astype(np.uint16))
    data = load_folders(root / "images", root / "labels")
    assert data.classes == ["background", "foreground"] and "instance masks" in data.notes[0]
    (root / "labels" / "a.tif").unlink()
    Image.fromarray((discs(0, 96)[1] * 255).astype(np.uint8)).save(root / "labels" / "a.jpg")
    with pytest.raises(DataError, match="a.jpg is a JPEG"):
        load_folders(root / "images", root / "labels")


def test_class_values_missing_from_every_mask_are_noted(tmp_path, discs):
    root = write_set(tmp_path, discs, ["a"])
    labels = discs(0, 96)[1].copy()
    labels[0, 0] = 5  # a stray value
    tifffile.imwrite(root / "labels" / "a.tif", labels)
    data = load_folders(root / "images", root / "labels")
    assert len(data.classes) == 6 and "2, 3, 4 appear in no mask" in data.notes[0]
    # classes named beyond what the masks hold (0/255 masks, three names): said too
    tifffile.imwrite(root / "labels" / "a.tif", (discs(0, 96)[1] > 0).astype(np.uint8) * 255)
    data = load_folders(root / "images", root / "labels", ["bg", "cell", "border"])
    assert data.classes == ["bg", "cell", "border"]
    assert data.notes[-1] == ("'border' (value(s) 2) appear in no mask: nothing here teaches them; "
                              "paint them, or name only the classes the labels hold")


def test_evaluate_pairs_by_stem_and_names_what_it_cannot_pair(tmp_path, discs, capsys):
    from unet_core.evaluate import pair_files

    images = [tmp_path / f"img{i:02d}.tif" for i in range(4)]
    labels = [tmp_path / n for n in ("img00.png", "img01.png", "img02.png", "extra.png")]
    with pytest.raises(ValueError, match="no label file for img03.tif"):
        pair_files(images, labels)
    labels[3] = tmp_path / "img03_mask.png"
    pairs = pair_files([tmp_path / "b.tif", tmp_path / "a.tif"], [tmp_path / "a_mask.png",
                                                                  tmp_path / "b.png"])  # fmt: skip
    assert [(i.name, lab.name) for i, lab in pairs] == [("a.tif", "a_mask.png"), ("b.tif", "b.png")]


def test_ctrl_c_between_steps_still_saves_the_best_weights(tmp_path, discs):
    from unet_core.cli_train import run_to_end

    root = write_set(tmp_path, discs, ["a", "b"])
    data = load_folders(root / "images", root / "labels")
    job = iter_train(data, tmp_path / "m", minutes=10, size="small", device="cpu")
    seen = []

    def show(log):  # the user presses Ctrl+C while the progress bar is drawn
        seen.append(log)
        if len(seen) == 4:
            raise KeyboardInterrupt

    result = run_to_end(job, show)
    assert result.stopped and result.steps == 4 and result.path.exists() and result.validation


def assert_refused(tmp_path, root, capsys, extra: list, words: str) -> None:
    """``train`` on the folders under ``root`` with ``extra`` options exits 2 with one error
    line holding ``words``, and writes no model."""
    rc = run_cli("train", "--images", root / "images", "--labels", root / "labels",
                 "--out", tmp_path / "m", "--steps", "5", *extra)  # fmt: skip
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert rc == 2 and len(errors) == 1 and words in errors[0], err
    assert not (tmp_path / "m.safetensors").exists()


# ---- a ResNet U-Net (--size resnet18, --imagenet FILE) ----
def imagenet_file(path, encoder="resnet18"):
    torch.manual_seed(3)
    state = dict(ResNetEncoder(3, encoder).state_dict())
    state.update({"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)})
    torch.save(state, path)
    return path


@pytest.mark.slow
def test_a_resnet18_unet_trains_on_discs_then_segments(tmp_path, discs, capsys):
    root = write_set(tmp_path / "train", discs, ["a", "b", "c"])
    weights = imagenet_file(tmp_path / "resnet18-imagenet.pth")
    out = tmp_path / "r18.safetensors"
    rc = run_cli("train", "--images", root / "images", "--labels", root / "labels", "--out", out,
                 "--steps", "30", "--size", "resnet18", "--imagenet", weights)  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    card = read_card(out)
    assert card.architecture["encoder"] == "resnet18"
    assert "ImageNet weights resnet18-imagenet.pth (sha256 " in card.provenance["choices"][
        "encoder"]
    image, truth = discs(7, 96, 2, np.uint8)
    tifffile.imwrite(tmp_path / "new.tif", image)
    assert run_cli("segment", tmp_path / "new.tif", "--model", out, "--out", tmp_path / "seg") == 0
    mask = read_image(tmp_path / "seg" / "new_mask.tif")
    assert iou(mask > 0, truth > 0) > 0.6
    assert run_cli("info", out) == 0 and "resnet18 U-Net" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--size", "small", "--imagenet", "W"], "ImageNet weights are for a ResNet encoder"),
        (["--size", "resnet34", "--imagenet", "W"], "does not fit a resnet34 encoder"),
        (["--size", "resnet18", "--imagenet", "missing.pth"], "no weights file"),
    ],
)
def test_imagenet_options_that_do_not_fit_are_refused_before_training(tmp_path, discs, capsys,
                                                                      extra, words):  # fmt: skip
    root = write_set(tmp_path / "train", discs, ["a", "b"])
    weights = imagenet_file(tmp_path / "W")
    extra = [str(weights) if e == "W" else str(tmp_path / e) if e.endswith(".pth") else e
             for e in extra]  # fmt: skip
    assert_refused(tmp_path, root, capsys, extra, words)


# ---- --set and --arch: honoured, recorded, or refused in one line ----
def test_own_data_training_honours_set_and_arch_and_the_card_records_them(tmp_path, discs,
                                                                         capsys):  # fmt: skip
    root = write_set(tmp_path / "train", discs, ["a", "b"])
    out = tmp_path / "m.safetensors"
    rc = run_cli("train", "--images", root / "images", "--labels", root / "labels", "--out", out,
                 "--steps", "6", "--size", "small", "--set", "schedule=plateau",
                 "--set", "patience=3", "--set", "loss=focal", "--set", "optimizer=sgd",
                 "--arch", "base_channels=6", "--arch", "dropout=0.1")  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    card = read_card(out)
    recipe = card.provenance["recipe"]
    assert (recipe["schedule"], recipe["patience"], recipe["loss"], recipe["optimizer"]) == (
        "plateau", 3, "focal", "sgd")
    assert card.architecture["base_channels"] == 6 and card.architecture["dropout"] == 0.1
    assert "schedule=plateau" in card.provenance["choices"]["given"]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--set", "steps=5"], "--set steps: not for a training on your own images (give --steps"),
        (["--set", "bogus=1"], "--set expects KEY=VALUE with a recipe entry as KEY"),
        (["--set", "schedule=sometimes"], "schedule must be one of cosine, constant, step"),
        (["--set", "patience=soon"], "--set patience: expected a number or none, got 'soon'"),
        (["--arch", "num_classes=3"], "--arch num_classes: set by the classes"),
        (["--arch", "encoder=resnet34"], "choose it with --size resnet18"),
        (["--arch", "padding=valid", "--size", "resnet18"], "cannot take ['padding']"),
        (["--arch", "depth=3", "--from", "em"], "--arch builds a new network; --from goes on"),
    ],
)  # fmt: skip
def test_own_data_options_it_cannot_honour_are_refused_in_one_line(tmp_path, discs, capsys,
                                                                    extra, words):  # fmt: skip
    root = write_set(tmp_path / "train", discs, ["a", "b"])
    assert_refused(tmp_path, root, capsys, extra, words)


# ---- what the terminal shows, and the threads on a busy machine ----
def test_train_shows_its_progress_unless_quiet_and_times_its_threads(tmp_path, discs, capsys):
    root = write_set(tmp_path / "train", discs, ["a", "b"])
    args = ["train", "--images", root / "images", "--labels", root / "labels", "--steps", "8",
            "--size", "small"]  # fmt: skip
    assert run_cli(*args, "--out", tmp_path / "a") == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("step ")]
    assert lines and "loss " in lines[-1] and "held-out IoU" in lines[-1], err
    assert "thread" in lines[-1]  # the tuner's choice, timed at 1 and 2 threads
    assert run_cli("-q", *args, "--out", tmp_path / "b") == 0
    assert not [line for line in capsys.readouterr().err.splitlines() if line.startswith("step")]


def test_thread_count_is_timed_unless_given(tmp_path, discs):
    from unet_core.data.folders import load_folders

    root = write_set(tmp_path / "train", discs, ["a", "b"])
    data = load_folders(root / "images", root / "labels")
    for threads, tuned in ((None, True), (1, False)):
        job = iter_train(data, tmp_path / f"m{threads}", steps=6, size="small", threads=threads)
        seen = []
        try:
            while True:
                event = next(job)
                if isinstance(event, Progress):
                    seen.append(event.values.get("threads"))
        except StopIteration:
            pass
        assert all(seen) if tuned else not any(seen), seen


@pytest.mark.slow
def test_a_class_added_to_a_trained_model_keeps_its_layers_and_records_it(tmp_path, discs,
                                                                          capsys):  # fmt: skip
    two = write_set(tmp_path / "two", discs, ["a", "b"])
    rc = run_cli("train", "--images", two / "images", "--labels", two / "labels", "--out",
                 tmp_path / "m2", "--steps", "30", "--size", "small",
                 "--classes", "background,nucleus")  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    three = write_set(tmp_path / "three", discs, ["a", "b"], classes=3)
    rc = run_cli("train", "--images", three / "images", "--labels", three / "labels", "--out",
                 tmp_path / "m3", "--steps", "4", "--from", tmp_path / "m2.safetensors",
                 "--classes", "background,nucleus,border")  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    card = read_card(tmp_path / "m3.safetensors")
    assert card.classes == ["background", "nucleus", "border"]
    assert card.architecture["num_classes"] == 3
    assert card.provenance["from"].endswith("m2.safetensors")
    assert card.provenance["classes_added"] == ["border"]
    assert card.provenance["classes_before"] == ["background", "nucleus"]
