"""One meaning per label value: the masks the tool writes hold class indices and say so; masks
it did not write (earlier versions' 0/255 masks, ImageJ/Fiji's, DRIVE's GIFs) are read by the
documented rules, in a user's label folder too."""

import numpy as np
import pytest
import tifffile
from PIL import Image

from unet_core.base.labels import (
    BINARY_FOREGROUND,
    IGNORE_LABEL,
    file_mask,
    is_marked,
    mask_classes,
    mask_metadata,
)
from unet_core.batch.files import mask_source
from unet_core.data.folders import DataError, load_folders
from unet_core.data.io import read_image, read_mask, read_metadata, write_mask


def test_a_written_mask_holds_class_indices_marked_and_shown_black_and_white(tmp_path):
    labels = np.zeros((20, 30), np.uint8)
    labels[5:10, 3:9] = 1
    path = write_mask(tmp_path / "a_mask.tif", labels, ["background", "vessel"], source="/x.tif")
    raw = tifffile.imread(path)
    assert raw.dtype == np.uint8 and set(np.unique(raw)) == {0, 1}  # never 255
    meta = read_metadata(path)
    assert is_marked(meta) and meta["classes"] == ["background", "vessel"]
    assert mask_source(path) == "/x.tif"  # the resume check still finds its input
    with Image.open(path) as im:  # what an image viewer (or Fiji) shows: black and white
        assert im.mode == "P"
        shown = np.asarray(im.convert("RGB"))
    assert (shown[labels == 1] == 255).all() and (shown[labels == 0] == 0).all()
    np.testing.assert_array_equal(read_mask(path), labels)


def test_a_mask_of_a_prediction_cannot_hold_the_ignore_value(tmp_path):
    labels = np.zeros((4, 4), np.uint8)
    labels[0, 0] = IGNORE_LABEL
    with pytest.raises(ValueError, match="class indices 0..1"):
        write_mask(tmp_path / "m.tif", labels, ["background", "object"])
    with pytest.raises(ValueError, match="integer"):
        file_mask(np.zeros((2, 2), np.float32))
    # painted labels (no classes given) keep their ignore value, and read back as ignore
    path = write_mask(tmp_path / "painted.tif", labels)
    assert read_mask(path)[0, 0] == IGNORE_LABEL and read_mask(path).sum() == IGNORE_LABEL


@pytest.mark.parametrize("suffix", [".tif", ".png", ".gif"])
def test_masks_the_tool_did_not_write_are_read_by_the_rules(tmp_path, suffix):
    old = np.zeros((12, 14), np.uint8)
    old[2:5] = BINARY_FOREGROUND  # an earlier version's mask, or ImageJ's, or DRIVE's
    path = tmp_path / f"old{suffix}"
    if suffix == ".tif":
        tifffile.imwrite(path, old)
    else:
        Image.fromarray(old).convert("P" if suffix == ".gif" else "L").save(path)
    np.testing.assert_array_equal(read_mask(path), (old > 0).astype(np.uint8))
    three = np.array([[0, 1, 2], [2, 1, IGNORE_LABEL]], np.uint8)  # class indices already
    np.testing.assert_array_equal(mask_classes(three, marked=False), three)
    binary = np.array([[0, BINARY_FOREGROUND]], np.uint8)
    np.testing.assert_array_equal(mask_classes(binary, marked=True), binary)  # no guess
    assert not is_marked({}) and is_marked(mask_metadata())


def test_drive_manual_annotations_read_as_0_1(shared_data):
    gif = shared_data / "drive" / "training" / "1st_manual" / "21_manual1.gif"
    if not gif.is_file():
        pytest.skip(f"no {gif}")
    raw, mask = read_image(gif), read_mask(gif)
    assert set(np.unique(raw)) == {0, 255} and set(np.unique(mask)) == {0, 1}
    np.testing.assert_array_equal(mask, raw == 255)


def _folder(root, images, labels, write):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i, (image, lab) in enumerate(zip(images, labels)):
        tifffile.imwrite(root / "images" / f"{i}.tif", image)
        write(root / "labels" / f"{i}.tif", lab)
    return root / "images", root / "labels"


def test_a_label_folder_of_the_tools_masks_is_read_as_it_stands(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 200, (32, 32), dtype=np.uint8) for _ in range(2)]
    lab = np.zeros((32, 32), np.uint8)
    lab[8:16] = 1
    painted = np.full((32, 32), IGNORE_LABEL, np.uint8)  # only background and ignore painted
    painted[:4] = 0
    painted[20:24] = 1
    # as the tool wrote them: 255 is "not annotated", never "foreground"
    data = load_folders(*_folder(tmp_path / "ours", images, [lab, painted], write_mask))
    np.testing.assert_array_equal(data.labels[1], painted)
    assert data.classes == ["background", "foreground"] and not data.notes
    # the same values in files of another program: 0 and 255 only are a binary mask
    old = [np.where(lab > 0, BINARY_FOREGROUND, 0).astype(np.uint8)] * 2
    data = load_folders(*_folder(tmp_path / "theirs", images, old, tifffile.imwrite))
    np.testing.assert_array_equal(data.labels[0], lab)
    assert "only 0 and 255" in data.notes[0]
    # and a file of the tool's that holds nothing but the ignore value has nothing annotated
    with pytest.raises(DataError, match="nothing annotated"):
        load_folders(*_folder(tmp_path / "none", images,
                              [lab, np.full((32, 32), IGNORE_LABEL, np.uint8)], write_mask))


def test_evaluate_takes_a_file_the_tool_wrote_as_it_stands(tmp_path):
    """Labels saved from napari (class indices, 255 = not annotated) are scored with 255
    ignored, not read as a 0/255 mask whose 255 is foreground."""
    import torch

    from unet_core import ModelCard, Preprocessing, UNet, evaluate_model, predict
    from unet_core.data.io import write_png
    from unet_core.tasks import task_of

    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same").eval()
    model.card = ModelCard(model.config, Preprocessing(channels="gray"),
                           ["background", "cell"])  # fmt: skip
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    labels = np.full((64, 64), IGNORE_LABEL, np.uint8)
    labels[32:] = 0  # background painted below, the top half not annotated: 0 and 255 only
    write_png(tmp_path / "a.png", image)
    write_mask(tmp_path / "a_labels.tif", labels)
    (row, _mean) = evaluate_model(model, tmp_path / "a.png", tmp_path / "a_labels.tif",
                                  device="cpu", precision="fp32")  # fmt: skip
    task = task_of(model.card)
    prob = predict(model, image, device="cpu", precision="fp32")
    expected = task.score(prob, labels.astype(np.int64), 0.5, classes=model.card.classes)
    assert {k: row[k] for k in expected} == pytest.approx(expected, nan_ok=True)
    as_binary = task.score(prob, np.where(labels == IGNORE_LABEL, 1, labels), 0.5,
                           classes=model.card.classes)  # fmt: skip
    assert {k: row[k] for k in expected} != pytest.approx(as_binary, nan_ok=True)
