"""The loop model without a viewer: pairs keep the user's strokes apart from the model's pixels,
labels belong to their image, versions have unique names and parents by identity, and a project
folder stores and reopens all of it (format 2, and format 1 read)."""

import json
import os

import numpy as np
import pytest
import torch

from unet_core import ModelCard, Preprocessing, UNet, save_model
from unet_core.base.labels import IGNORE_LABEL
from unet_core.loop import (
    CORRECTIONS,
    SCRIBBLES,
    ImageId,
    LoopError,
    LoopProject,
    Pair,
    ProjectError,
    Workspace,
    round_job,
)
from unet_core.loop.project import snapshot
from unet_core.loop.records import Version
from unet_core.loop.storage import load_pixels, save_job
from unet_core.postprocess import probabilities_to_labels


def image(seed: int = 0, size: int = 48) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 80, (size, size)).astype(np.uint8)
    out[10:30, 12:34] = 220
    return out


def prob_of(mask: np.ndarray) -> np.ndarray:
    """Two-class probabilities whose labels are ``mask`` (0.8 where 1)."""
    fg = np.where(mask > 0, 0.8, 0.2).astype(np.float32)
    return np.stack([1 - fg, fg])


def segmented_pair(mode: str = CORRECTIONS) -> Pair:
    img = image()
    labels = np.zeros(img.shape, np.uint8)
    shown = np.zeros(img.shape, np.uint8) if mode == SCRIBBLES else None
    pair = Pair(ImageId.of(img, "cells"), "cells labels", mode, ["background", "cell"], labels,
                shown, pixels=img)  # fmt: skip
    pair.record(prob_of(img > 128), "em", fresh=True)
    return pair


@pytest.fixture
def tiny(tmp_path):
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True)
    model.card = ModelCard(model.config, Preprocessing("gray", "zscore"),
                           classes=["background", "cell"], name="tiny")  # fmt: skip
    path = save_model(model, tmp_path / "tiny", name="tiny")
    return model.eval(), str(path)


# ---- pairs -------------------------------------------------------------------------------------
def test_a_prediction_fills_only_what_the_user_did_not_paint():
    pair = segmented_pair()
    assert pair.model == "em" and (pair.labels == (image() > 128)).all()
    pair.labels[0:5, 0:5] = 1  # a correction ...
    pair.labels[40:44, 40:44] = IGNORE_LABEL  # ... and ignore paint
    painted = pair.painted()
    assert painted[0:5, 0:5].all() and painted[40:44, 40:44].all() and painted.sum() == 41
    changed = pair.record(prob_of(np.ones((48, 48))), "version:abc")
    assert (pair.labels[0:5, 0:5] == 1).all() and (pair.labels[40:44, 40:44] == 255).all()
    rest = ~painted
    assert (pair.labels[rest] == 1).all() and changed.sum() == (image()[rest] <= 128).sum()
    assert pair.model == "version:abc"
    # the painted pixels stay the user's through a new threshold too
    pair.rethreshold(0.9)
    assert (pair.labels[rest] == 0).all() and (pair.labels[0:5, 0:5] == 1).all()
    # a map of arteries and veins has no threshold to move: said, nothing changed
    three = np.stack([np.full((48, 48), 0.2), np.full((48, 48), 0.5), np.full((48, 48), 0.3)])
    pair.record(three.astype(np.float32), "drive-av")
    before = pair.labels.copy()
    with pytest.raises(LoopError, match="multi-class model's labels are its most likely class"):
        pair.rethreshold(0.9)
    assert (pair.labels == before).all()


def test_what_a_round_trains_on_and_the_one_line_refusals():
    pair = segmented_pair()
    with pytest.raises(LoopError, match="correct it with the brush first"):
        pair.training_labels()  # nothing corrected: an empty round would teach nothing
    pair.labels[0:5, 0:5] = 1
    labels, corrected = pair.training_labels()
    assert (labels == pair.labels).all() and corrected.sum() == 25

    hand = Pair(ImageId.of(image(), "cells"), "my labels", CORRECTIONS, ["bg", "fg"],
                np.zeros((48, 48), np.uint8))  # fmt: skip
    hand.labels[3:6, 3:6] = 1
    with pytest.raises(LoopError, match="scribbles mode"):
        hand.training_labels()  # no prediction: unpainted zeros are not "background"
    hand.complete = True  # every pixel drawn by hand
    assert hand.training_labels()[1].all()

    scribbles = segmented_pair(SCRIBBLES)
    with pytest.raises(LoopError, match="nothing is painted"):
        scribbles.training_labels()
    scribbles.labels[2, 2:9] = 2  # class 1, painted as 2
    labels, corrected = scribbles.training_labels()
    assert (labels[2, 2:9] == 1).all() and corrected.sum() == 7
    assert (labels[~corrected] == IGNORE_LABEL).all()


def test_labels_belong_to_their_image():
    a, b = image(0), image(1)
    made_on = ImageId.of(a, "cells", "/data/cells.tif")
    assert made_on.mismatch(ImageId.of(a.copy(), "cells [1]"), "L") is None  # same pixels
    assert "not on 'other'" in made_on.mismatch(ImageId.of(b, "other"), "L")
    assert "changed since 'L' were made on it" in made_on.mismatch(ImageId.of(b, "cells"), "L")
    small = made_on.mismatch(ImageId.of(a[:20], "crop"), "L")
    assert "(48 x 48), not on 'crop' (20 x 48)" in small


# ---- versions and projects -----------------------------------------------------------------------
def round_on(project: LoopProject, pair: Pair, model, parent: str, steps: int = 3):
    data = snapshot([pair])
    job = round_job(model, data, parent=parent, steps=steps, seconds=None, device="cpu")
    try:
        while True:
            next(job)
    except StopIteration as done:
        return project.add_round(done.value, parent_name=parent)


def test_a_round_makes_a_version_that_the_labels_go_on_from(tiny, tmp_path):
    model, path = tiny
    project = LoopProject(tmp_path / "p")
    pair = project.add_pair(segmented_pair())
    pair.labels[0:6, 0:6] = 1
    painted = pair.labels.copy()
    v1, changed = round_on(project, pair, model, path)
    assert v1.name == "fine-tuned v1" and v1.parent == path and v1.steps == 3
    assert pair.model == v1.ref and v1.corrected_pixels == 36
    assert (pair.labels[0:6, 0:6] == painted[0:6, 0:6]).all()
    new = probabilities_to_labels(pair.prediction().prob)
    rest = ~pair.painted()
    assert (pair.labels[rest] == new[rest]).all()
    v2, _ = round_on(project, pair, v1.model, v1.ref)
    assert v2.name == "fine-tuned v2" and project.lineage(v2) == ["fine-tuned v2",
                                                                  "fine-tuned v1", "tiny"]
    # names stay unique after a version is dropped from the middle
    project.versions.remove(v1)
    assert project.next_name() == "fine-tuned v3"


def test_a_project_reopens_whole(tiny, tmp_path):
    model, path = tiny
    folder = tmp_path / "p"
    project = LoopProject(folder)
    pair = project.add_pair(segmented_pair())
    pair.classes = ["background", "membrane"]
    pair.labels[0:6, 0:6] = 1
    v1, _ = round_on(project, pair, model, path)
    pair.labels[40:44, 0:4] = IGNORE_LABEL  # painted after the round
    scribbled = project.add_pair(segmented_pair(SCRIBBLES))
    scribbled.labels[5, 5:15] = 1
    save_job(project)()
    saved_labels, saved_pred = pair.labels.copy(), pair.prediction()
    assert (folder / "versions" / "fine-tuned_v1.safetensors").is_file()
    assert (folder / "pairs" / pair.id / "image.tif").is_file()  # no file of its own: copied

    again = LoopProject.open(folder)
    p = again.pair(pair.id)
    np.testing.assert_array_equal(p.labels, saved_labels)
    assert p.classes == ["background", "membrane"] and p.model == v1.ref
    np.testing.assert_array_equal(p.prediction().derived, saved_pred.derived)
    np.testing.assert_allclose(p.prediction().prob, saved_pred.prob, atol=1e-3)
    assert p.painted().sum() == pair.painted().sum() == 36 + 16  # both strokes are the user's
    assert load_pixels(again, p).shape == (48, 48) and p.image == pair.image
    s = again.pair(scribbled.id)
    assert s.mode == SCRIBBLES and s.shown is not None and s.painted().sum() == 10
    v = again.version(v1.ref)
    assert v.name == "fine-tuned v1" and v.parent == path and v.pairs == [pair.id]
    assert again.model_of(v).num_classes == 2
    # what v1 was trained on comes back from the folder
    p.labels[...] = 0
    assert again.restore(v) == [p]
    assert (p.labels[0:6, 0:6] == 1).all() and not (p.labels[40:44, 0:4] == 255).any()
    # a round after reopening changes unpainted pixels and keeps the painted ones
    p.labels[...] = saved_labels
    v2, changed = round_on(again, p, again.model_of(v), v.ref)
    assert v2.name == "fine-tuned v2" and v2.parent == v1.ref
    assert (p.labels[0:6, 0:6] == 1).all() and (p.labels[40:44, 0:4] == 255).all()
    assert not changed[p.painted()].any()


def test_a_workspace_keeps_projects_apart(tiny, tmp_path):
    model, path = tiny
    folders = []
    for name in ("a", "b"):
        project = LoopProject(tmp_path / name)
        pair = project.add_pair(segmented_pair())
        pair.labels[0:4, 0:4] = 1
        round_on(project, pair, model, path, steps=1)
        save_job(project)()
        folders.append(project.folder)
    ws = Workspace()
    a, b = ws.open(folders[0]), ws.open(folders[1])
    assert ws.open(tmp_path / "a" / ".." / "a") is a  # opened once
    labels = [ws.label(v) for v in ws.versions()]
    assert labels == ["fine-tuned v1 (a)", "fine-tuned v1 (b)"]
    assert a.versions[0].id != b.versions[0].id
    assert ws.find(b.versions[0].ref)[0] is b
    # a new image's round goes to its own project, not to the last one opened
    loose = ws.add_pair(segmented_pair())
    assert ws.adopt([loose], tmp_path / "c").folder == tmp_path / "c"
    assert ws.project_of(loose).folder == tmp_path / "c" and a.pairs[0] is not loose
    with pytest.raises(LoopError, match="different projects"):
        ws.adopt([a.pairs[0], b.pairs[0]], tmp_path / "d")


def test_a_format_1_project_is_read(tiny, tmp_path):
    model, path = tiny
    folder = tmp_path / "old"
    (folder / "pairs").mkdir(parents=True)
    (folder / "versions").mkdir()
    import tifffile

    tifffile.imwrite(folder / "pairs" / "00_cells_labels.tif", np.ones((48, 48), np.uint8))
    tifffile.imwrite(folder / "pairs" / "00_cells_image.tif", image())
    save_model(model, folder / "versions" / "fine-tuned_v1", name="fine-tuned v1")
    save_model(model, folder / "versions" / "fine-tuned_v2", name="fine-tuned v2")
    manifest = {"format": 1, "pairs": [
        {"name": "cells", "labels_name": "cells labels", "mode": "corrections",
         "labels_file": "pairs/00_cells_labels.tif", "image_file": "pairs/00_cells_image.tif"}],
        "versions": [
            {"name": f"fine-tuned v{i}", "file": f"versions/fine-tuned_v{i}.safetensors",
             "parent": parent, "steps": 5, "seconds": 1.0, "images": ["cells"],
             "corrected_pixels": 10, "heldout_dice": None, "created": "2026-12-01T10:00:00"}
            for i, parent in ((1, "em"), (2, "fine-tuned v1"))]}  # fmt: skip
    (folder / "project.json").write_text(json.dumps(manifest))
    project = LoopProject.open(folder)
    v1, v2 = project.versions
    assert v1.parent == "em" and v2.parent == v1.ref and v2.parent_name == "fine-tuned v1"
    (pair,) = project.pairs
    assert pair.model == v2.ref and pair.id in v2.pairs
    load_pixels(project, pair)
    assert pair.image.shape == (48, 48)
    pair.adopt(prob_of(image() > 128), pair.model)  # the opener re-derives the prediction
    assert pair.painted().sum() == (image() <= 128).sum()


# ---- a folder that is not what it claims ----------------------------------------------------
@pytest.mark.parametrize("manifest, message", [
    ("[]", "expected an object"),
    ("null", "expected an object"),
    ('{"format": 7}', "format 7"),
    ('{"format": 2, "pairs": "x"}', "'pairs' must be a list"),
    ('{"format": 2, "versions": [{"name": 3}]}', "versions[0].name must be str"),
    ('{"format": 2, "versions": [{"name": "v", "parent": "em", "id": "x", "file": '
     '"../../etc/passwd", "steps": 1, "seconds": 1}]}', "outside the project"),
    ('{"format": 2, "versions": [{"name": "v", "parent": "em", "id": "x", "file": '
     '"/etc/passwd"}]}', "outside the project"),
    ('{"format": 2, "versions": [{"name": "v", "parent": "em", "id": "x", "file": "f", '
     '"heldout_dice": "good"}]}', "heldout_dice must be int or float"),
    ("[" * 100000 + "]" * 100000, "not a napari-unet project"),
])  # fmt: skip
def test_a_bad_manifest_is_one_line_naming_the_field(tmp_path, manifest, message):
    (tmp_path / "project.json").write_text(manifest)
    with pytest.raises(ProjectError, match=message.replace("[", r"\[").replace("]", r"\]")) as e:
        LoopProject.open(tmp_path)
    assert "\n" not in str(e.value) and str(tmp_path) in str(e.value)


def test_links_and_fifos_are_refused(tmp_path):
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "project.json")
    with pytest.raises(ProjectError, match="not a regular file"):
        LoopProject.open(fifo)  # returns at once: a FIFO is never opened
    project = LoopProject(tmp_path / "p")
    project.add_pair(segmented_pair())
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pairs").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ProjectError, match="is a link"):
        save_job(project)()
    assert not any((tmp_path / "elsewhere").iterdir())


def test_saving_writes_only_what_changed(tmp_path):
    project = LoopProject(tmp_path / "p")
    pair = project.add_pair(segmented_pair())
    save_job(project)()
    prediction = tmp_path / "p" / "pairs" / pair.id / "prediction.npz"
    first = prediction.stat().st_mtime_ns
    os.utime(prediction, ns=(1, 1))
    save_job(project)()  # the same prediction: not written again
    assert prediction.stat().st_mtime_ns == 1 != first
    pair.record(prob_of(np.ones((48, 48))), "em")
    save_job(project)()
    assert prediction.stat().st_mtime_ns != 1


def test_a_reopened_project_writes_again_only_what_changed(tmp_path):
    """Read from its folder, a project's image and predictions are what is on disk: the next
    save writes neither again (a save after one stroke would rewrite them all), until a new
    prediction or other pixels replace them."""
    from unet_core.loop.storage import read_project

    project = LoopProject(tmp_path / "p")
    pair = project.add_pair(segmented_pair())
    save_job(project)()
    folder = tmp_path / "p" / "pairs" / pair.id
    for name in ("prediction.npz", "image.tif"):
        os.utime(folder / name, ns=(1, 1))
    reopened = read_project(tmp_path / "p")
    (again,) = reopened.pairs
    again.pixels = load_pixels(reopened, again)
    save_job(reopened)()
    assert [(folder / n).stat().st_mtime_ns for n in ("prediction.npz", "image.tif")] == [1, 1]
    again.record(prob_of(np.ones((48, 48))), "em")
    save_job(reopened)()
    assert (folder / "prediction.npz").stat().st_mtime_ns != 1


def test_a_version_record_reads_like_a_sentence():
    v = Version("fine-tuned v2", "version:x", "fine-tuned v1", steps=40, seconds=20.2,
                images=["cells"], heldout_dice=0.81234, created="2026-12-04T10:11:12")
    assert v.describe() == ("fine-tuned v2 (2026-12-04 10:11, from fine-tuned v1, 1 image(s), "
                            "40 steps, 20 s, held-out Dice 0.812)")  # fmt: skip


def test_restoring_keeps_the_strokes_apart_from_the_model_pixels(tiny, tmp_path):
    """Restore puts back the labels with the prediction they were painted over: the same 10
    pixels count as strokes as when the version was trained, not every pixel where two
    predictions differ; also after the project is reopened."""
    model, path = tiny
    project = LoopProject(tmp_path / "p")
    pair = project.add_pair(segmented_pair())
    pair.labels[0, 0:10] = 1
    v1, _ = round_on(project, pair, model, path, steps=3)
    pair.record(prob_of(np.ones((48, 48))), "em")  # a very different later prediction
    project.restore(v1)
    assert pair.painted().sum() == 10
    save_job(project)()
    again = LoopProject.open(project.folder)
    p = again.pair(pair.id)
    p.record(prob_of(np.ones((48, 48))), "em")
    again.restore(again.version(v1.ref))
    assert p.painted().sum() == 10 and p.prediction().model == "em"


def test_a_save_that_failed_is_written_whole_the_next_time(tmp_path, monkeypatch):
    import unet_core.loop.storage.write as storage

    project = LoopProject(tmp_path / "p")
    pair = project.add_pair(segmented_pair())
    real = storage.write_npz

    def full_disk(tmp, arrays):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "write_npz", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_job(project)()
    monkeypatch.setattr(storage, "write_npz", real)
    save_job(project)()  # the prediction is written this time
    assert LoopProject.open(project.folder).pair(pair.id).prediction() is not None


def test_a_threshold_does_not_move_the_base_of_the_next_round():
    pair = segmented_pair()
    pair.model = "version:abc"  # a round made the current version
    pair.rethreshold(0.7)
    assert pair.model == "version:abc"
