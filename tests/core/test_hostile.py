"""Hostile input and faults, generated at test time: names no UTF-8 file can hold, crafted model
files, two runs into one folder, link loops, SIGTERM and SIGKILL mid-run, a full disk, bad
evaluation and fine-tuning inputs. Each case: a one-line reason naming the file, the other files
processed, the report complete, the inputs untouched and nothing temporary left behind."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from unet_core import ModelCard, Preprocessing, UNet, save_model
from unet_core.batch import REPORT_NAME, BatchError, BatchRun
from unet_core.batch.report import read_report
from unet_core.cli import main
from unet_core.formats.checks import ModelFileError
from unet_core.formats.store import load_model, read_card, weight_problems

NAPARI_UNET = [sys.executable, "-m", "unet_core"]


def tiny(in_channels=1, channels="gray"):
    torch.manual_seed(0)
    model = UNet(in_channels=in_channels, base_channels=4, depth=2, padding="same",
                 batch_norm=True)  # fmt: skip
    model.card = ModelCard(model.config, Preprocessing(channels=channels), [], "tiny")
    return model.eval()


@pytest.fixture
def model_file(tmp_path):
    return save_model(tiny(), tmp_path / "models" / "tiny.safetensors")


def images(folder: Path, names, size=(48, 56), seed=0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        path = folder / (name if isinstance(name, str) else os.fsdecode(name))
        tifffile.imwrite(path, rng.integers(0, 255, size, dtype=np.uint8))
    return folder


def digests(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()
            if p.is_file() and not p.is_symlink()}  # fmt: skip


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".part"))


def rows_of(out: Path) -> dict[str, dict]:
    return {r["file"]: r for r in read_report(out / REPORT_NAME)}


# ---- names -------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses names that are not UTF-8")
def test_a_name_that_is_not_utf8_is_segmented_and_reported_as_text(tmp_path, model_file, capsys):
    d = images(tmp_path / "in", ["a.tif", b"caf\xe9.tif", "z.tif"])
    before = digests(d)
    out = tmp_path / "out"
    assert main(["segment", str(d), "--out", str(out), "--model", str(model_file)]) == 0
    assert "3 file(s): 3 segmented" in capsys.readouterr().out
    text = (out / REPORT_NAME).read_bytes().decode("utf-8")  # valid UTF-8, a text file
    assert "caf\\xe9.tif,ok" in text
    assert (out / os.fsdecode(b"caf\xe9_mask.tif")).exists()  # the mask keeps the bytes
    assert main(["segment", str(d), "--out", str(out), "--model", str(model_file)]) == 0
    assert "3 skipped" in capsys.readouterr().out  # a re-run resumes instead of failing
    row = rows_of(out)[str(d) + "/caf\\xe9.tif"]
    assert row["status"] == "skipped" and row["foreground_fraction"]  # measurements carried
    assert digests(d) == before and not leftovers(out)


def test_a_newline_and_hash_in_a_name_do_not_corrupt_the_report(tmp_path, model_file):
    d = images(tmp_path / "in", ["a.tif", "two\n# lines.tif", "b.tif"])
    out = tmp_path / "out"
    list(BatchRun(d, out, model=str(model_file), device="cpu"))
    first = rows_of(out)
    assert len(first) == 3 and first[str(d / "two\n# lines.tif")]["status"] == "ok"
    list(BatchRun(d, out, model=str(model_file), device="cpu"))  # resume reads it back
    again = rows_of(out)
    assert list(again) == list(first) and all(r["status"] == "skipped" for r in again.values())
    assert again[str(d / "two\n# lines.tif")]["foreground_fraction"] == first[
        str(d / "two\n# lines.tif")]["foreground_fraction"]  # fmt: skip
    lines = (out / REPORT_NAME).read_text().splitlines()
    assert lines[-1].startswith("# 3 file(s)") and sum(x.startswith("# 3 f") for x in lines) == 1


# ---- model files -------------------------------------------------------------------------


def crafted(tmp_path, name, change=None, tensors=None, raw_card=None) -> Path:
    """A copy of a model file with its card (or weights) changed."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    source = save_model(tiny(), tmp_path / "source.safetensors")
    with safe_open(str(source), "pt") as handle:
        header, state = handle.metadata(), {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    card = json.loads(header["card"])
    if change:
        change(card)
    header["card"] = raw_card if raw_card is not None else json.dumps(card)
    path = tmp_path / f"{name}.safetensors"
    save_file(tensors(state) if tensors else state, str(path), metadata=header)
    return path


def arch(**values):
    return lambda card: card["architecture"].update(values)


@pytest.mark.parametrize(
    "change, message",
    [
        (arch(base_channels=2000), "base_channels must be at most 512, got 2000"),
        (arch(depth=30), "depth must be at most 8, got 30"),
        (arch(depth="4"), "depth must be an integer >= 1, got '4'"),
        (arch(batch_norm="yes"), "batch_norm must be true or false"),
        (arch(base_channels=256, depth=5), "parameters, more than the 250 M"),
        (arch(base_channels=8), "the weights do not match the card's architecture"),
        (lambda c: c.update(architecture="unet"), "'architecture' must be an object, got str"),
        (lambda c: c.update(preprocessing=["rgb"]), "'preprocessing' must be an object"),
        (lambda c: c.update(scale="2"), "'scale' must be an object, got str"),
        (lambda c: c.update(scale={"fov_diameter": "big"}), "scale 'fov_diameter' must be a pos"),
        (lambda c: c.update(provenance=[1, 2]), "'provenance' must be an object, got list"),
        (lambda c: c.update(classes="ab"), "'classes' must be a list"),
    ],
)
def test_a_crafted_model_card_is_refused_before_anything_is_built(tmp_path, change, message):
    path = crafted(tmp_path, "bad", change)
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match="^bad.safetensors: ") as caught:
        load_model(path, device="cpu")
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert time.perf_counter() - start < 5  # nothing of the card's size was allocated
    with pytest.raises(BatchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BatchRun(tmp_path / "source.safetensors", tmp_path / "out", model=str(path))


def test_deeply_nested_json_and_nan_weights(tmp_path, capsys):
    nested = crafted(tmp_path, "nested", raw_card='{"architecture": ' + "[" * 100000 + "]" * 100000
                     + "}")  # fmt: skip
    assert main(["info", str(nested)]) == 2
    assert "nested too deeply" in capsys.readouterr().err

    def poison(state):
        key = next(k for k, v in state.items() if v.is_floating_point())
        state[key] = state[key].clone()
        state[key].view(-1)[:3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
        return state

    nan = crafted(tmp_path, "nan", tensors=poison)
    assert main(["info", str(nan)]) == 1  # the card is shown, with a warning
    err = capsys.readouterr().err
    assert "warning: 3 weight(s) are NaN or infinite" in err
    assert weight_problems(nan) and not weight_problems(tmp_path / "source.safetensors")
    images(tmp_path / "in", ["a.tif"])
    assert main(["segment", str(tmp_path / "in"), "--out", str(tmp_path / "o"),
                 "--model", str(nan)]) == 2  # fmt: skip
    assert "NaN or infinite" in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert read_card(tmp_path / "source.safetensors").classes == ["background", "foreground"]


# ---- folders, links and odd files ---------------------------------------------------------


def test_a_messy_folder_gets_every_entry_segmented_or_listed(tmp_path, model_file):
    d = images(tmp_path / "in", [f"img{i:02d}.tif" for i in range(12)])
    rng = np.random.default_rng(1)
    tifffile.imwrite(d / "five.tif", rng.integers(0, 255, (64, 64, 5), dtype=np.uint8))
    (d / "empty.tif").write_bytes(b"")
    (d / "notes.txt").write_text("x")
    (d / "x.tif").mkdir()  # a folder named like an image
    (d / "sub").mkdir()
    (d / "dangling.tif").symlink_to(d / "gone.tif")
    (d / "dangling").symlink_to("nowhere")
    (d / "loop.tif").symlink_to("loop.tif")
    (d / "link.png").symlink_to(d / "img00.tif")  # the same file twice: once
    os.mkfifo(d / "pipe.tif")  # never opened: reading it would block
    (d / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (d / "._img01.tif").write_bytes(b"\0\5\26\7")
    tifffile.imwrite(d / "old_mask.tif", np.zeros((8, 8), np.uint8))
    (d / "truncated.tif").write_bytes((d / "img02.tif").read_bytes()[:300])
    (d / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n nope")
    entries = sorted(os.listdir(d))
    before = digests(d)
    out = tmp_path / "out"
    run = BatchRun(d, out, model=str(model_file), device="cpu")
    results = {r.path.name: r for r in run}
    assert sorted(results) == entries
    reason = {k: (r.status, r.reason) for k, r in results.items()}
    assert reason["link.png"] == ("skipped", f"the same file as {d / 'img00.tif'}")
    assert reason["x.tif"][0] == "skipped" and "a folder" in reason["x.tif"][1]
    assert reason["sub"][0] == "skipped" and "a folder" in reason["sub"][1]
    assert reason["dangling.tif"] == ("failed", f"a broken symbolic link (to {d / 'gone.tif'})")
    assert reason["dangling"] == ("failed", "a broken symbolic link (to nowhere)")
    assert reason["loop.tif"] == ("failed", "a symbolic link loop")
    assert reason["pipe.tif"] == ("failed", "not a regular file (a pipe, socket or device)")
    assert reason[".DS_Store"] == ("skipped", "a hidden file")
    assert reason["old_mask.tif"][0] == "skipped" and "output" in reason["old_mask.tif"][1]
    assert reason["five.tif"][0] == "failed" and "5 channels" in reason["five.tif"][1]
    assert reason["notes.txt"] == ("skipped", "not an image file (.txt)")
    for name in ("empty.tif", "truncated.tif", "bad.png"):
        assert reason[name][0] == "failed" and reason[name][1]
    assert all(reason[f"img{i:02d}.tif"] == ("ok", "") for i in range(12))
    assert all(r.reason for r in results.values() if r.status != "ok")
    rows = rows_of(out)
    assert {Path(f).name for f in rows} == set(results) and len(rows) == len(results)
    assert digests(d) == before and not leftovers(out)


def test_a_link_loop_or_missing_file_among_named_inputs_fails_alone(tmp_path, model_file):
    d = images(tmp_path / "in", ["a.tif"])
    (tmp_path / "loop").symlink_to("loop")
    named = [str(d / "a.tif"), str(tmp_path / "loop"), str(tmp_path / "missing.tif"), str(d)]
    results = {r.path.name: (r.status, r.reason) for r in
               BatchRun(named, tmp_path / "out", model=str(model_file), device="cpu")}  # fmt: skip
    assert results == {"a.tif": ("ok", ""), "loop": ("failed", "a symbolic link loop"),
                       "missing.tif": ("failed", "no such file")}  # fmt: skip


def test_a_64x64x5_array_is_not_taken_for_64_slices(tmp_path):
    rng = np.random.default_rng(2)
    tifffile.imwrite(tmp_path / "five.tif", rng.integers(0, 255, (64, 64, 5), dtype=np.uint8))
    tifffile.imwrite(tmp_path / "stack.tif", rng.integers(0, 255, (5, 64, 64), dtype=np.uint8))
    gray = BatchRun(tmp_path, tmp_path / "o", model=tiny(), device="cpu", pattern="*.tif")
    result = {r.path.name: r for r in gray}
    assert result["five.tif"].status == "failed"
    assert "either 64 slices of 64 x 5 pixels or one 64 x 64 image with 5 channels" in result[
        "five.tif"].reason  # fmt: skip
    assert result["stack.tif"].status == "ok" and result["stack.tif"].shape == (5, 64, 64)
    assert not (tmp_path / "o" / "five_mask.tif").exists()


# ---- two runs, signals, a full disk -------------------------------------------------------


def test_two_runs_into_one_folder_lose_no_row(tmp_path, model_file):
    a = images(tmp_path / "a", [f"a{i}.tif" for i in range(4)])
    b = images(tmp_path / "b", [f"b{i}.tif" for i in range(4)], seed=1)
    out = tmp_path / "out"
    first = BatchRun(a, out, model=str(model_file), device="cpu").events()
    second = BatchRun(b, out, model=str(model_file), device="cpu").events()
    pending = [first, second]
    while pending:  # interleaved: each appends while the other's report is open
        for events in list(pending):
            if next(events, None) is None:
                pending.remove(events)
    rows = rows_of(out)
    assert sorted(Path(f).name for f in rows) == [f"{x}{i}.tif" for x in "ab" for i in range(4)]
    assert all(r["status"] == "ok" for r in rows.values()) and not leftovers(out)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no lock file left


def _cli(*args, **kwargs):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1"}
    return subprocess.Popen([*NAPARI_UNET, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)  # fmt: skip


def _wait_for_rows(out: Path, n: int, process, timeout=60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and process.poll() is None:
        if len(read_report(out / REPORT_NAME)) >= n:
            return
        time.sleep(0.01)
    raise AssertionError(f"no {n} rows in time (rc {process.poll()})")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_run_leaves_a_report_of_what_it_finished(tmp_path, model_file, sig):
    d = images(tmp_path / "in", [f"f{i:02d}.tif" for i in range(40)], size=(256, 256))
    out = tmp_path / "out"
    process = _cli("segment", str(d), "--out", str(out), "--model", str(model_file),
                   "--device", "cpu", "--tile", "32", "--save-prob")  # fmt: skip
    _wait_for_rows(out, 2, process)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    rows = rows_of(out)
    finished = {Path(f).name for f, r in rows.items() if r["status"] == "ok"}
    assert 2 <= len(finished) < 40
    masks = {p.name.replace("_mask.tif", ".tif") for p in out.glob("*_mask.tif")}
    assert finished <= masks and len(masks - finished) <= 1  # at most the file being recorded
    if sig == signal.SIGTERM:
        assert process.returncode == 143 and "stopped (SIGTERM)" in err
        summary = (out / REPORT_NAME).read_text().splitlines()[-1]
        assert summary.startswith("# 40 file(s)") and "cancelled with" in summary
        assert not leftovers(out)
    else:
        assert process.returncode == -signal.SIGKILL
    rerun = _cli("segment", str(d), "--out", str(out), "--model", str(model_file),
                 "--device", "cpu", "--tile", "32", "--save-prob")  # fmt: skip
    rerun.communicate(timeout=120)
    assert rerun.returncode == 0 and not leftovers(out)  # a killed run's temporaries go too
    after = rows_of(out)
    assert len(after) == 40 and all(r["status"] in ("ok", "skipped") for r in after.values())
    for name in finished:  # skipped now, with the measurements of the run that was killed
        row = after[str(d / name)]
        assert row["status"] == "skipped" and row["foreground_fraction"] == rows[
            str(d / name)]["foreground_fraction"]  # fmt: skip


def _small_disk() -> bool:
    if not shutil.which("unshare") or sys.platform != "linux":
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True)  # fmt: skip
    return probe.returncode == 0


@pytest.mark.skipif(not _small_disk(), reason="needs unshare to mount a small tmpfs")
def test_a_full_disk_fails_the_file_not_the_process(tmp_path, model_file):
    d = images(tmp_path / "in", ["small.tif"], size=(40, 40))
    tifffile.imwrite(d / "huge.tif", np.random.default_rng(3).integers(0, 255, (1200, 1200),
                                                                      dtype=np.uint8))  # fmt: skip
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (f"mount -t tmpfs -o size=400k tmpfs {disk} && cd {os.getcwd()} && "
              f"{sys.executable} -m unet_core segment {d} --out {disk}/out --model {model_file} "
              f"--device cpu --stream-above 1 --save-prob; echo rc=$?")  # fmt: skip
    result = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                             script], capture_output=True, text=True, timeout=120)  # fmt: skip
    # the run's report, read inside the namespace, came back on stdout: print it there too
    assert "rc=1" in result.stdout, result.stderr  # not a signal: a per-file failure
    assert f"FAILED {d / 'huge.tif'}: cannot write its outputs (No space left on device)" in (
        result.stderr)  # fmt: skip
    assert "2 file(s): 1 segmented, 0 skipped, 1 failed" in result.stdout


# ---- evaluate and fine-tuning inputs -------------------------------------------------------


def test_evaluate_names_a_field_of_view_mask_of_another_size_or_an_empty_one(tmp_path, capsys):
    from PIL import Image

    model = save_model(tiny(), tmp_path / "m.safetensors", classes=["background", "vessel"])
    for sub in ("images", "labels", "fov"):
        (tmp_path / sub).mkdir()
    rng = np.random.default_rng(4)
    Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(tmp_path / "images/1.png")
    Image.fromarray((rng.random((40, 40)) > 0.8).astype(np.uint8) * 255).save(
        tmp_path / "labels/1.png")  # fmt: skip
    Image.fromarray(np.full((30, 40), 255, np.uint8)).save(tmp_path / "fov/1.png")
    args = ["evaluate", str(tmp_path / "images"), str(tmp_path / "labels"), "--model", str(model),
            "--fov", str(tmp_path / "fov")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("1.png: the field-of-view mask is 30 x 40 pixels but 1.png is 40 x 40")
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "fov/1.png")
    assert main(args) == 2
    assert "the field-of-view mask is empty" in capsys.readouterr().err
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(tmp_path / "fov/1.png")
    assert main(args) == 0 and "nan" not in capsys.readouterr().out.lower()
    # a colour photograph given as the labels (the folders swapped): refused in one line; a
    # gray label image saved as RGB (three equal channels) is labels
    rgb = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "labels/1.png")
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == ("napari-unet evaluate: error: 1.png: the label image is a picture in colour; "
                   "labels hold one class per pixel (were the images and the labels "
                   "swapped?)"), err
    gray = (rng.random((40, 40)) > 0.8).astype(np.uint8) * 255
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(tmp_path / "labels/1.png")
    assert main(args) == 0
    palette = Image.fromarray((gray > 0).astype(np.uint8), mode="P")  # 0 black, 1 red: a mask
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)  # that reads as RGB (two colours)
    palette.save(tmp_path / "labels/1.png")  # is no picture: left to the task (a fundus task
    main(args)  # reads it; a generic one asks for one channel)
    assert "picture in colour" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "value, message",
    [(np.nan, "NaN or infinite"), (0.5, "fractional values such as 0.5"), (7, "0..1")],
)
def test_fine_tuning_labels_that_are_not_class_indices_are_refused(value, message):
    from unet_core.training.finetune import finetune

    labels = np.zeros((32, 32), np.float32)
    labels[:4] = value
    with pytest.raises(ValueError, match=message):
        finetune(tiny(), np.zeros((32, 32), np.float32), labels, steps=1, device="cpu")


# ---- messages ------------------------------------------------------------------------------


def test_messages_are_ours_and_one_line(tmp_path, model_file):
    d = images(tmp_path / "in", ["good.tif"])
    (d / "trunc.tif").write_bytes((d / "good.tif").read_bytes()[:200])
    (d / "bad.gif").write_bytes(b"GIF89a" + b"\0" * 20)
    process = _cli("segment", str(d), "--out", str(tmp_path / "out"), "--model", str(model_file))
    out, err = process.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert process.returncode == 1 and len(lines) == 2, err  # no decoder's own log lines
    assert all(x.startswith("FAILED ") for x in lines)
    for reason in (x.split(": ", 1)[1] for x in lines):
        assert "cannot be read as an image (" in reason and "IndexError 0" not in reason
    process = _cli("segment", str(d), "--out", "", "--model", str(model_file))
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "--out: must name a folder" in err
    assert not (Path.cwd() / REPORT_NAME).exists()


def test_report_reader_keeps_hash_inside_quoted_names():
    text = 'file,status\n"a\n#b.tif",ok\n# 1 file(s)\nc.tif,failed\n'
    from unet_core.batch.report import _records

    rows = list(csv.DictReader(_records(io.StringIO(text, newline=""))))
    assert [r["file"] for r in rows] == ["a\n#b.tif", "c.tif"]


# ---- found by an independent probe --------------------------------------------------------


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses names that are not UTF-8")
def test_a_name_holding_backslash_x_text_and_one_holding_the_byte_stay_apart(tmp_path,
                                                                          model_file):  # fmt: skip
    d = images(tmp_path / "in", [b"caf\xe9.tif", "caf\\xe9.tif"])
    list(BatchRun(d, tmp_path / "out", model=str(model_file), device="cpu"))
    assert sorted(Path(f).name for f in rows_of(tmp_path / "out")) == ["caf\\\\xe9.tif",
                                                                      "caf\\xe9.tif"]  # fmt: skip


def test_a_file_named_with_a_leading_hash_keeps_its_row(tmp_path, model_file, monkeypatch):
    images(tmp_path / "in", ["#a.tif"])
    monkeypatch.chdir(tmp_path / "in")
    for _ in range(2):
        list(BatchRun("#a.tif", tmp_path / "out", model=str(model_file), device="cpu"))
    (row,) = rows_of(tmp_path / "out").values()
    assert row["file"] == "#a.tif" and row["status"] == "skipped" and row["foreground_fraction"]


def test_a_full_disk_while_appending_a_row_loses_no_row(tmp_path, model_file, monkeypatch):
    from unet_core.batch import report

    d = images(tmp_path / "in", [f"f{i}.tif" for i in range(4)])
    real = report.Report._append
    calls = []

    def full_once(self, row):
        calls.append(row["file"])
        if len(calls) == 2:  # the second row meets a full disk
            raise OSError(28, "No space left on device")
        real(self, row)

    monkeypatch.setattr(report.Report, "_append", full_once)
    results = list(BatchRun(d, tmp_path / "out", model=str(model_file), device="cpu"))
    assert [r.status for r in results] == ["ok"] * 4
    names = sorted(Path(f).name for f in rows_of(tmp_path / "out"))
    assert names == [f"f{i}.tif" for i in range(4)]


def _append_through(file_class, tmp_path, model_file, monkeypatch) -> tuple[bytes, bytes]:
    """The report before and after appending a row through ``file_class`` (a file that meets
    a full disk), which must raise OSError."""
    from unet_core.batch.report import Report

    d = images(tmp_path / "in", ["a.tif", "b.tif"])
    out = tmp_path / "out"
    list(BatchRun(d / "a.tif", out, model=str(model_file), device="cpu"))
    before = (out / REPORT_NAME).read_bytes()
    report = Report(out)
    real_open = Path.open

    def opened(path, mode="r", *args, **kwargs):
        return file_class(path, "r+") if mode == "rb+" else real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", opened)
    with pytest.raises(OSError):
        report._append({"file": str(d / "b.tif"), "status": "ok"})
    monkeypatch.setattr(Path, "open", real_open)
    return before, (out / REPORT_NAME).read_bytes()


def test_a_half_row_left_by_a_full_disk_is_cut_off(tmp_path, model_file, monkeypatch):
    """The append itself meets the full disk part way: the file is cut back to whole rows."""

    class Full(io.FileIO):
        def write(self, data):
            super().write(data[:7])  # part of the row reaches the disk, then it is full
            raise OSError(28, "No space left on device")

    before, after = _append_through(Full, tmp_path, model_file, monkeypatch)
    assert after == before  # no half row


def test_a_damaged_report_is_kept_aside_and_a_new_one_started(tmp_path, model_file, caplog):
    d = images(tmp_path / "in", ["a.tif"])
    out = tmp_path / "out"
    out.mkdir()
    junk = b'file,status\n"unclosed' + b"x" * 200_000 + b"\n"
    (out / REPORT_NAME).write_bytes(junk)
    (result,) = list(BatchRun(d, out, model=str(model_file), device="cpu"))
    assert result.status == "ok" and len(rows_of(out)) == 1
    assert (out / "segmentation.unreadable.csv").read_bytes() == junk  # nothing lost
    assert "could not be read" in caplog.text


def test_an_output_folder_inside_out_the_same_as_the_input_folder_resumes(tmp_path, model_file,
                                                                           capsys):  # fmt: skip
    d = images(tmp_path / "in", ["a.tif", "b.tif"])
    args = ["segment", str(d), "--out", str(d), "--model", str(model_file)]
    assert main(args) == 0
    first = rows_of(d)
    assert main(args) == 0  # the masks beside the images are not inputs to protect
    again = rows_of(d)
    assert again[str(d / "a.tif")]["status"] == "skipped"
    assert again[str(d / "a.tif")]["foreground_fraction"] == first[str(d / "a.tif")][
        "foreground_fraction"]  # fmt: skip
    assert again[str(d / "a_mask.tif")]["status"] == "skipped"  # listed, with its reason


def test_a_mask_of_another_file_of_the_same_name_is_not_taken_for_this_ones(tmp_path,
                                                                          model_file):  # fmt: skip
    a = images(tmp_path / "a", ["same.tif"], size=(40, 40))
    b = images(tmp_path / "b", ["same.tif"], size=(30, 50), seed=1)
    out = tmp_path / "out"
    (first,) = list(BatchRun(a, out, model=str(model_file), device="cpu"))
    (second,) = list(BatchRun(b, out, model=str(model_file), device="cpu"))
    assert first.status == "ok" and second.status == "failed"
    assert second.reason.startswith(f"same_mask.tif is the mask of another file, {a}/same.tif")
    (again,) = list(BatchRun(a, out, model=str(model_file), device="cpu"))
    assert again.status == "skipped"  # its own mask: resumed as before
    (replaced,) = list(BatchRun(b, out, model=str(model_file), device="cpu", overwrite=True))
    rows = rows_of(out)  # the report lists the mask once, as the file that made it now
    assert replaced.status == "ok" and str(b / "same.tif") in rows
    assert str(a / "same.tif") not in rows and [r["mask"] for r in rows.values()] == \
        [str(out / "same_mask.tif")]  # fmt: skip
    assert int(rows[str(b / "same.tif")]["width"]) == 50
    (out / "x_mask.tif").mkdir()  # something that is not a mask where one would go
    images(tmp_path / "c", ["x.tif"])
    (blocked,) = list(BatchRun(tmp_path / "c", out, model=str(model_file), device="cpu"))
    assert (blocked.status, blocked.reason) == ("failed", "x_mask.tif is in the way: it exists "
                                                "and is not a file")  # fmt: skip
    summary = (out / REPORT_NAME).read_text().splitlines()[-1]  # this run's, and the others
    assert summary.startswith("# 1 file(s): 0 segmented, 0 skipped, 1 failed in ") and \
        summary.endswith(" (this run); 1 row(s) of earlier runs"), summary  # fmt: skip


def test_weights_of_an_integer_type_are_refused(tmp_path, capsys):
    cast = crafted(
        tmp_path,
        "ints",
        tensors=lambda state: {
            k: (v * 1000).to(torch.int32) if v.is_floating_point() else v for k, v in state.items()
        },
    )
    with pytest.raises(ModelFileError, match="are not floating point"):
        load_model(cast, device="cpu")
    assert main(["info", str(cast)]) == 1
    assert "segment refuses this file" in capsys.readouterr().err


def test_odd_options_and_inputs_answer_in_one_line(tmp_path, model_file, capsys):
    d = images(tmp_path / "in", ["a.tif"])
    for value in ("inf", "nan", "0"):
        with pytest.raises(SystemExit) as stop:
            main(["segment", str(d), "--out", str(tmp_path / "o"), "--stream-above", value])
        assert stop.value.code == 2
        assert "--stream-above: must be a number of megapixels" in capsys.readouterr().err
    tifffile.imwrite(d / "huge_values.tif", np.full((20, 20), 2.5e302))
    results = {r.path.name: r for r in BatchRun(d, tmp_path / "o", model=str(model_file))}
    assert results["huge_values.tif"].status == "failed"
    assert "beyond the float32 range" in results["huge_values.tif"].reason
    link = tmp_path / "in" / "elsewhere"
    link.symlink_to(tmp_path, target_is_directory=True)  # --recursive does not follow it
    run = BatchRun(d, tmp_path / "r", model=str(model_file), recursive=True)
    listed = {r.path.name: r for r in run}
    assert listed["elsewhere"].status == "skipped" and "folder" in listed["elsewhere"].reason
    assert len(listed) == 3


def test_evaluate_says_which_masks_are_missing(tmp_path, capsys):
    from PIL import Image

    model = save_model(tiny(), tmp_path / "m.safetensors", classes=["background", "vessel"])
    for sub in ("images", "labels", "fov"):
        (tmp_path / sub).mkdir()
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "images/1.png")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "labels/1.png")
    args = ["evaluate", str(tmp_path / "images"), str(tmp_path / "labels"), "--model", str(model),
            "--fov", str(tmp_path / "fov")]  # fmt: skip
    assert main(args) == 2
    assert f"no field-of-view masks found in {tmp_path / 'fov'}" in capsys.readouterr().err
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "fov/7.png")
    assert main(args) == 2
    assert "no field-of-view mask for 1.png" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to run as another user")  # fmt: skip
def test_paths_this_user_may_not_read_fail_alone(model_file):
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="napari-unet-perm-"))  # pytest's tmp_path is private
    try:
        images(base / "in", ["good.tif"])
        images(base / "in" / "secret", ["s.tif"])
        model = base / "tiny.safetensors"
        shutil.copy(model_file, model)
        os.chmod(base, 0o777)
        for p in (base / "in", model, base / "in" / "good.tif"):
            os.chmod(p, 0o777 if p.is_dir() else 0o644)
        os.chmod(base / "in" / "secret", 0)
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *NAPARI_UNET,
             "segment", "in/good.tif", "in/secret/s.tif", "in/secret", "--out", "out",
             "--model", str(model)],
            cwd=base, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip
        assert result.returncode == 1, result.stderr
        rows = {
            r["file"]: (r["status"], r["reason"]) for r in read_report(base / "out" / REPORT_NAME)
        }
        denied = "(Permission denied)"
        assert rows == {"in/good.tif": ("ok", ""),
                        "in/secret/s.tif": ("failed", f"cannot be opened {denied}"),
                        "in/secret": ("failed", f"cannot be listed {denied}")}  # fmt: skip
    finally:
        os.chmod(base / "in" / "secret", 0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_a_short_write_on_a_full_disk_is_cut_off_too(tmp_path, model_file, monkeypatch):
    """A full disk may take part of a row without an error: the append checks what was written."""

    class Short(io.FileIO):
        def write(self, data):
            return super().write(data[:5])  # no error, 5 bytes taken

    before, after = _append_through(Short, tmp_path, model_file, monkeypatch)
    assert after == before


def test_a_moved_input_folder_resumes_and_junk_at_a_mask_name_is_not_done(tmp_path, model_file):
    a = images(tmp_path / "a", ["x.tif", "y.tif"])
    out = tmp_path / "out"
    list(BatchRun(a, out, model=str(model_file), device="cpu"))
    moved = a.rename(tmp_path / "a2")
    results = {r.path.name: r.status for r in BatchRun(moved, out, model=str(model_file))}
    assert results == {"x.tif": "skipped", "y.tif": "skipped"}  # the recorded source is gone
    (out / "y_mask.tif").write_bytes(b"")
    (result,) = [r for r in BatchRun(moved, out, model=str(model_file)) if r.path.name == "y.tif"]
    assert (result.status, result.reason) == (
        "failed",
        "y_mask.tif exists but is not a mask (empty or not a TIFF): remove it, or overwrite it "
        "(--overwrite)",
    )


def test_evaluate_names_a_missing_fov_folder_and_the_image_without_a_mask(tmp_path, capsys):
    from PIL import Image

    model = save_model(tiny(), tmp_path / "m.safetensors", classes=["background", "vessel"])
    for sub in ("images", "labels", "fov"):
        (tmp_path / sub).mkdir()
    for i in (1, 2):
        Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / f"images/0{i}_test.png")
        Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / f"labels/0{i}_manual1.png")
    Image.fromarray(np.full((20, 20), 255, np.uint8)).save(tmp_path / "fov/01_mask.png")
    base = ["evaluate", str(tmp_path / "images"), str(tmp_path / "labels"), "--model", str(model)]
    assert main([*base, "--fov", str(tmp_path / "nowhere")]) == 2
    assert "no such file or folder for the field-of-view masks" in capsys.readouterr().err
    assert main([*base, "--fov", str(tmp_path / "fov")]) == 2
    assert capsys.readouterr().err.strip().endswith("no field-of-view mask for 02_test.png")
