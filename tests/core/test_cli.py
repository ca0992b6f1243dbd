"""The command line end to end on a temporary folder."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from unet_core import Preprocessing, UNet, read_image, save_model
from unet_core.cli import main


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    model = UNet(in_channels=1, base_channels=4, depth=2, padding="same", batch_norm=True)
    return save_model(
        model,
        tmp_path / "tiny",
        name="tiny",
        preprocessing=Preprocessing(channels="gray"),
        provenance={"epochs": 0},
    )


@pytest.fixture
def folder(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    tifffile.imwrite(
        inputs / "a.tif", rng.integers(0, 255, (70, 90), dtype=np.uint8), compression="lzw"
    )
    tifffile.imwrite(inputs / "b.tif", rng.integers(0, 4095, (33, 41), dtype=np.uint16))
    from PIL import Image

    Image.fromarray(rng.integers(0, 255, (50, 40, 3), dtype=np.uint8)).save(inputs / "c.png")
    (inputs / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (inputs / "readme.txt").write_text("not an image, and not picked up from a folder")
    return inputs


def test_segment_folder_with_a_corrupt_file(tmp_path, folder, model_file, capsys):
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code = main(
        [
            "segment",
            str(folder),
            "--out",
            str(out),
            "--model",
            str(model_file),
            "--device",
            "cpu",
            "--save-prob",
            "--overlay",
            "--threshold",
            "0.4",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "corrupt.png" in captured.err and "FAILED" in captured.err
    assert "5 file(s): 3 segmented, 1 skipped, 1 failed" in captured.out  # readme.txt skipped
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [f"{s}_{k}" for s in "abc" for k in ("mask.tif", "prob.tif", "overlay.png")]
        + ["segmentation.csv", "segmentation_run.json", "segmentation_runs.jsonl"]
    )
    mask, prob = read_image(out / "a_mask.tif"), read_image(out / "a_prob.tif")
    assert mask.shape == (70, 90) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    assert prob.shape == (2, 70, 90) and prob.dtype == np.float32
    np.testing.assert_array_equal(mask == 1, prob[1] >= 0.4)
    over = read_image(out / "c_overlay.png")
    assert over.shape == (50, 40, 3) and over.dtype == np.uint8
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # inputs untouched

    # a second run skips what exists; --overwrite redoes it
    assert (
        main(
            [
                "segment",
                str(folder / "a.tif"),
                "--out",
                str(out),
                "--model",
                str(model_file),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "1 file(s): 0 segmented, 1 skipped" in capsys.readouterr().out
    assert (
        main(
            [
                "segment",
                str(folder / "a.tif"),
                "--out",
                str(out),
                "--model",
                str(model_file),
                "--device",
                "cpu",
                "--overwrite",
            ]
        )
        == 0
    )
    assert "1 file(s): 1 segmented" in capsys.readouterr().out


def test_output_names_never_overwrite_inputs_or_each_other(tmp_path, folder, model_file, capsys):
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "a.png").write_bytes((folder / "c.png").read_bytes())
    code = main(
        [
            "segment",
            str(folder / "a.tif"),
            str(twin / "a.png"),
            "--out",
            str(tmp_path / "o"),
            "--model",
            str(model_file),
            "--device",
            "cpu",
        ]
    )
    assert code == 1
    assert "same output name" in capsys.readouterr().err
    victim = (
        folder / "x_mask.tif"
    )  # an input named like the output of x.png, written into its folder
    victim.write_bytes((folder / "a.tif").read_bytes())
    (folder / "x.png").write_bytes((folder / "c.png").read_bytes())
    code = main(
        [
            "segment",
            str(folder / "x.png"),
            str(victim),
            "--out",
            str(folder),
            "--model",
            str(model_file),
            "--device",
            "cpu",
        ]
    )
    assert code == 1
    assert victim.read_bytes() == (folder / "a.tif").read_bytes()


def test_usage_errors_exit_2(tmp_path, model_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["segment", "x.tif"])  # no --out
    assert exit_info.value.code == 2
    capsys.readouterr()
    for args, said in ((["segment", "x.tif"], "required: --out"),
                       (["segment", "x.tif", "--out", "o", "--threshold", "2"],
                        "--threshold: must be between 0 and 1, got 2.0")):  # fmt: skip
        with pytest.raises(SystemExit):
            main(args)
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err  # one line, no usage block
        assert err.endswith("(see napari-unet segment --help)\n")
    assert (
        main(["segment", str(tmp_path), "--out", str(tmp_path / "o"), "--model", str(model_file)])
        == 2
    )
    assert "no image files found" in capsys.readouterr().err
    tifffile.imwrite(tmp_path / "img.tif", np.zeros((8, 8), np.uint8))
    assert (
        main(["segment", str(tmp_path), "--out", str(tmp_path / "o"), "--model", "nonexistent"])
        == 2
    )
    assert "no bundled model" in capsys.readouterr().err


def test_info_prints_the_card(model_file, capsys):
    assert main(["info", str(model_file)]) == 0
    text = capsys.readouterr().out
    assert "model: tiny" in text and "base_channels=4" in text and "channels=gray" in text


def test_python_dash_m_entry_point(model_file):
    result = subprocess.run(
        [sys.executable, "-m", "unet_core", "info", str(model_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "model: tiny" in result.stdout


def test_the_command_ends_with_its_code_and_every_output_written(tmp_path):
    """The command exits without unloading its modules: its code, its printed summary and
    its files must all be there (a segmentation that writes a mask, a report and prints)."""
    from unet_core.tasks import sample_path

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "unet_core", "segment", str(sample_path("em")), "--model", "em",
           "--out", str(out), "--precision", "fp32"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "1 segmented" in result.stdout and str(out / "segmentation.csv") in result.stdout
    rows = (out / "segmentation.csv").read_text().splitlines()
    assert len(rows) == 3 and ",ok," in rows[1] and rows[2].startswith("# 1 file(s): 1 segmented")
    assert (out / "segmentation_run.json").exists()
    assert (out / f"{sample_path('em').stem}_mask.tif").stat().st_size > 0
    result = subprocess.run([*cmd[:4], str(tmp_path / "missing.png"), *cmd[5:]],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 2 and "error: no such file or folder" in result.stderr


def test_train_command_writes_model_card_curve_and_resumes(shared_data, tmp_path, capsys):
    out = tmp_path / "em_tiny.safetensors"
    args = ["train", "--preset", "em", "--data", str(shared_data), "--out", str(out), "--threads",
            "2", "--set", "patch=64", "--set", "batch_size=2", "--set", "val_every=2",
            "--set", "augmentation.blur_p=0.5", "--set", "augmentation.dihedral=false",
            "--arch", "base_channels=8"]  # fmt: skip
    assert main([*args, "--steps", "2"]) == 0
    from unet_core import read_card

    card = read_card(out)
    assert card.provenance["steps"] == 2 and card.provenance["validation_ids"] == [
        20,
        21,
        22,
        23,
        24,
    ]
    assert "rand_error" in card.provenance["validation"]
    # epochs: passes over the 20 training slices of 512 x 512; one validation per 2 steps
    assert card.provenance["epochs"] == pytest.approx(2 * 2 * 64**2 / (20 * 512**2), rel=1e-3)
    assert card.provenance["validations"] == 1
    assert card.provenance["recipe"]["patch"] == 64 and card.architecture["base_channels"] == 8
    aug = card.provenance["recipe"]["augmentation"]
    assert aug["blur_p"] == 0.5 and aug["dihedral"] is False and aug["elastic_p"] == 0.5
    assert (tmp_path / "em_tiny_curve.png").stat().st_size > 1000
    assert main([*args, "--steps", "4", "--resume"]) == 0
    assert read_card(out).provenance["steps"] == 4
    assert main([*args, "--set", "colour=blue"]) == 2
    assert "--set expects KEY=VALUE" in capsys.readouterr().err
    assert main([*args, "--set", "augmentation.colour=blue"]) == 2
    assert "--set augmentation.colour: expected a number, got 'blue'" in capsys.readouterr().err
    assert main([*args, "--set", "augmentation.hue=0.5"]) == 2
    assert "got 'augmentation.hue=0.5'" in capsys.readouterr().err


def test_segment_spreads_files_over_local_dask_workers(tmp_path, folder, model_file, capsys):
    pytest.importorskip("dask.distributed")
    args = ["segment", str(folder), "--model", str(model_file), "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "local")]) == 1  # corrupt.png fails
    assert main([*args, "--out", str(tmp_path / "dask"), "--workers", "2", "--threads", "1"]) == 1
    out = capsys.readouterr().out
    assert "5 file(s): 3 segmented, 1 skipped, 1 failed" in out
    for name in ("a", "b", "c"):
        local, remote = (read_image(tmp_path / d / f"{name}_mask.tif") for d in ("local", "dask"))
        np.testing.assert_array_equal(local, remote)


def test_segment_says_what_a_user_should_know_of_each_photograph(tmp_path, capsys):
    """The task's notes reach the terminal and the CSV's reason column: a gray photograph
    given to an artery/vein model, a picture that is no fundus photograph (its vessels not
    measured); a colour photograph has nothing to say."""
    import csv

    from PIL import Image

    torch.manual_seed(0)
    model = UNet(in_channels=3, num_classes=3, base_channels=4, depth=2, padding="same",
                 batch_norm=True)  # fmt: skip
    model_path = save_model(model, tmp_path / "av", name="av", preprocessing=Preprocessing("rgb"),
                            classes=["background", "artery", "vein"], task="fundus",
                            scale={"fov_diameter": 150})  # fmt: skip
    yy, xx = np.mgrid[:200, :200]
    eye = np.zeros((200, 200, 3), np.uint8)
    eye[np.hypot(yy - 100, xx - 100) < 80] = (150, 80, 30)
    eye[np.hypot(yy - 100, xx - 60) < 12] = (240, 210, 150)  # the disc: not a scaled copy
    eye[96:100, 40:170] = (110, 35, 20)  # a vessel, dark in green
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(eye).save(inputs / "colour.png")
    Image.fromarray(eye[..., 1]).save(inputs / "red_free.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 120, 3), np.uint8)).save(
        inputs / "noise.png")  # fmt: skip
    out = tmp_path / "out"
    assert main(["segment", str(inputs), "--out", str(out), "--model", str(model_path),
                 "--device", "cpu"]) == 0  # fmt: skip
    err = capsys.readouterr().err
    with open(out / "segmentation.csv", newline="") as f:
        reason = {Path(r["file"]).name: r["reason"] for r in csv.DictReader(f)}
    assert reason["colour.png"] == ""
    assert reason["red_free.png"].startswith("no colour in this photograph")
    assert "does not look like a fundus photograph" in reason["noise.png"]
    assert f"note: {inputs / 'red_free.png'}: no colour in this photograph" in err
    assert f"note: {inputs / 'noise.png'}: no field of view found" in err
    assert "colour.png" not in err


def test_segment_with_model_auto_takes_the_bundled_model_for_the_images_kind(tmp_path, capsys):
    """--model auto (the widgets' default) takes em for an EM slice and says why; a fundus
    photograph given to em says it is one; a folder with nothing to segment: one line."""
    import csv
    import shutil

    samples = Path(__file__).resolve().parents[2] / "sample_data"
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(samples / "em_isbi2012_test00_crop.png", inputs / "slice.png")
    out = tmp_path / "out"
    assert main(["segment", str(inputs), "--out", str(out), "--model", "auto",
                 "--device", "cpu"]) == 0  # fmt: skip
    assert "auto: em (slice.png is a grayscale image that is not a fundus photograph)" in \
        capsys.readouterr().err  # fmt: skip
    assert (out / "slice_mask.tif").is_file()
    shutil.copy(samples / "fundus_retina.jpg", inputs / "zz_eye.jpg")
    assert main(["segment", str(inputs), "--out", str(out), "--model", "em",
                 "--device", "cpu"]) == 0  # fmt: skip
    assert "note: " in capsys.readouterr().err
    with open(out / "segmentation.csv", newline="") as f:
        reason = {Path(r["file"]).name: r["reason"] for r in csv.DictReader(f)}
    assert reason["zz_eye.jpg"].startswith("a fundus photograph, and this model learned cell "
                                           "membranes")  # fmt: skip
    (tmp_path / "empty").mkdir()
    assert main(["segment", str(tmp_path / "empty"), "--out", str(out), "--model", "auto"]) == 2
    assert capsys.readouterr().err.strip().endswith(f"no file to segment in {tmp_path / 'empty'}")
    assert main(["segment", str(tmp_path / "gone"), "--out", str(out), "--model", "auto"]) == 2
    assert capsys.readouterr().err.strip().endswith(f"no such file or folder: {tmp_path / 'gone'}")
    gone_and_one = [str(tmp_path / "gone"), str(inputs / "slice.png")]  # the batch names the one
    assert main(["segment", *gone_and_one, "--out", str(tmp_path / "o2"), "--model", "auto",
                 "--device", "cpu"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "auto: em (slice.png is" in err and f"FAILED {tmp_path / 'gone'}" in err
