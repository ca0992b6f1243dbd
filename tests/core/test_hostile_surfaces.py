"""Hostile input on the newer surfaces, generated at test time: tampered checkpoints, crafted
bioimage.io packages (aliases, a zip that lies about its sizes, encrypted or unknown members),
cards that ask for absurd scales or percentiles, training and export options that cannot work,
label files that say nothing. Each gets one line naming the file or option, of the error type
the library documents (docs/development.md, "Errors"), before any work; the probes that could
eat memory run in a child process with a memory cap and a timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from unet_core import ModelCard, Preprocessing, UNet, save_model
from unet_core.cli import main
from unet_core.formats.checks import ModelFileError
from unet_core.formats.store import read_card
from unet_core.training.checkpoint import CheckpointError, load_checkpoint


def tiny(**card) -> UNet:
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same", batch_norm=True).eval()
    model.card = ModelCard(model.config, Preprocessing("gray"), ["bg", "fg"], "tiny", **card)
    return model


def one_line(text: str) -> bool:
    return bool(text) and "\n" not in text.strip() and "Traceback" not in text


# ---- checkpoints ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A real checkpoint of a two-step training of the tiny model."""
    from unet_core.data.datasets import make_sample
    from unet_core.training.config import TrainConfig
    from unet_core.training.trainer import Trainer

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (48, 48)).astype(np.uint8)
    sample = make_sample(image, (image > 128).astype(np.int64), Preprocessing("gray"))
    trainer = Trainer(tiny(), [sample], TrainConfig(steps=2, patch=32, val_every=1, ema=0.9),
                      device="cpu")  # fmt: skip
    for _ in trainer.fit():
        pass
    path = tmp_path_factory.mktemp("ckpt") / "run.ckpt"
    trainer.save(path)
    return path, torch.load(path, weights_only=True)


def tampered(path: Path, payload: dict, change) -> Path:
    state, info = dict(payload["state"]), json.loads(payload["info"])
    change(state, info)
    out = path.with_name("tampered.ckpt")
    torch.save({"state": state, "info": json.dumps(info)}, out)
    return out


CHECKPOINTS = [
    (lambda s, i: i.pop("architecture"), "'architecture' is missing"),
    (lambda s, i: i.update(step="x"), "'step' is missing or not of its kind"),
    (lambda s, i: i.update(best="good"), "best score is not a number"),
    (lambda s, i: i.update(architecture=5), "'architecture' is missing or not of its kind"),
    (lambda s, i: i.update(rng={"bit_generator": "PCG64", "state": "x"}), "does not fit"),
    (lambda s, i: i.update(step=-50), "negative"),
    (lambda s, i: i.update(history="a string"), "'history' is missing or not of its kind"),
    (lambda s, i: i.update(history=[1, 2]), "history is not a list of records"),
    (lambda s, i: i.update(seconds=float("inf")), "negative"),
    (lambda s, i: s.update(optimizer={"state": {}, "param_groups": [{"params": [0]}]}),
     "does not fit"),
    (lambda s, i: s.update(torch_rng=torch.zeros(3)), "random state is not a random state"),
    (lambda s, i: s.pop("model"), "has no 'model'"),
    (lambda s, i: s.update(model=[1, 2]), "'model' is not a state dict"),
    (lambda s, i: s.update(best_model={"x": torch.zeros(1)}), "does not fit"),
    (lambda s, i: s.update(ema_model={k: v[..., :1] if v.ndim else v
                                      for k, v in s["ema_model"].items()}), "does not fit"),
    (lambda s, i: i.update(history=[{"foo": 1}]), "history is not a list of records"),
    (lambda s, i: i.update(best=float("nan")), "best score is not a number"),
    (lambda s, i: s["optimizer"]["param_groups"][0].update(betas=[2]), "betas"),
    (lambda s, i: s["optimizer"]["param_groups"][0].update(lr=-1.0), "lr"),
]  # fmt: skip


@pytest.mark.parametrize("change, message", CHECKPOINTS)
def test_a_tampered_checkpoint_is_one_line_and_changes_nothing(checkpoint, change, message):
    from unet_core.data.datasets import make_sample
    from unet_core.training.config import TrainConfig
    from unet_core.training.trainer import Trainer

    path, payload = checkpoint
    bad = tampered(path, payload, change)
    image = np.zeros((48, 48), np.uint8)
    sample = make_sample(image, np.zeros((48, 48), np.int64), Preprocessing("gray"))
    trainer = Trainer(tiny(), [sample], TrainConfig(steps=2, patch=32, ema=0.9), device="cpu")
    for _ in trainer.fit():  # a state of its own, to see that nothing of the file is taken
        pass
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    ema = {k: v.clone() for k, v in trainer.ema_model.state_dict().items()}
    moments = [{k: (v.clone() if torch.is_tensor(v) else v) for k, v in st.items()}
               for st in trainer.optimizer.state_dict()["state"].values()]  # fmt: skip
    rng, np_rng = torch.get_rng_state(), trainer.rng.bit_generator.state
    with pytest.raises(CheckpointError, match=message) as info:
        trainer.resume(bad)
    assert one_line(str(info.value)) and "tampered.ckpt" in str(info.value)
    assert trainer.step == 2
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    for k, v in trainer.ema_model.state_dict().items():
        assert torch.equal(v, ema[k]), k
    after = list(trainer.optimizer.state_dict()["state"].values())
    for old, new in zip(moments, after):
        assert all(torch.equal(v, new[k]) if torch.is_tensor(v) else v == new[k]
                   for k, v in old.items())  # fmt: skip
    assert torch.equal(torch.get_rng_state(), rng) and trainer.rng.bit_generator.state == np_rng


def test_a_fifo_named_like_a_checkpoint_is_not_opened(tmp_path):
    os.mkfifo(tmp_path / "run.ckpt")
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(tmp_path / "run.ckpt")  # would block forever if it were opened


# ---- bioimage.io packages ------------------------------------------------------------------------
def package(path: Path, rdf: str, extra: dict | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("rdf.yaml", rdf)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


OURS = """type: model
format_version: 0.5.3
name: tiny
config: {napari_unet: {card: {architecture: {}}}}
"""


@pytest.mark.parametrize("weights", ["null", "'a string'", "[1, 2]"])
def test_a_package_whose_weights_are_not_a_description_is_one_line(tmp_path, weights, capsys):
    path = package(tmp_path / "p.zip", OURS + f"weights: {{pytorch_state_dict: {weights}}}\n")
    with pytest.raises(ModelFileError, match="pytorch_state_dict is not a description"):
        read_card(path)
    assert main(["info", str(path)]) == 2
    assert one_line(capsys.readouterr().err)


def run_capped(code: str, memory_mb: int = 1500, seconds: int = 60) -> subprocess.CompletedProcess:
    """``code`` in a child Python with its address space capped (importing torch takes about
    1.2 GB of it) and a timeout: a probe that would allocate gigabytes fails there instead of
    taking the machine."""
    prelude = textwrap.dedent(f"""
        import resource
        cap = {memory_mb} * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    """)  # fmt: skip
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=seconds)  # fmt: skip


def test_aliases_in_a_description_are_refused_without_expanding_them(tmp_path):
    laughs = ["a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']"]
    for k in "bcdefghi":
        prev = chr(ord(k) - 1)
        laughs.append(f"{k}: &{k} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},"
                      f"*{prev},*{prev}]")  # fmt: skip
    path = package(tmp_path / "laughs.zip", OURS + "\n".join(laughs) + "\nname2: *i\n")
    assert path.stat().st_size < 2000
    result = run_capped(f"""
        import time
        from unet_core.formats.checks import ModelFileError
        from unet_core.formats.store import read_card
        start = time.perf_counter()
        try:
            read_card({str(path)!r})
        except ModelFileError as exc:
            print(f"{{time.perf_counter() - start:.2f}}|{{exc}}")
    """)  # fmt: skip
    seconds, message = result.stdout.strip().split("|", 1)
    assert "uses an alias" in message and one_line(message) and float(seconds) < 5


def test_a_zip_that_lies_about_a_members_size_is_read_with_a_bound(tmp_path):
    big = b"type: model\n" + b"#" * 60_000_000  # 60 MB of comment: a few kB deflated
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("rdf.yaml", big)
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):  # declared sizes
        at = data.find(signature)
        data[at + offset : at + offset + 4] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    result = run_capped(f"""
        from unet_core.formats.checks import ModelFileError
        from unet_core.formats.store import read_card
        try:
            read_card({str(path)!r})
        except ModelFileError as exc:
            print(exc)
    """)  # fmt: skip
    assert "rdf.yaml" in result.stdout and one_line(result.stdout), result.stderr[-300:]


def test_encrypted_members_and_unknown_compressions_are_one_line(tmp_path):
    path = package(tmp_path / "p.zip", OURS + "weights: {pytorch_state_dict: {source: w.pt}}\n",
                   {"w.pt": b"0" * 100})  # fmt: skip
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02", data.find(b"w.pt") - 200)
    while at != -1 and data[at + 46 : at + 50] != b"w.pt":
        at = data.find(b"PK\x01\x02", at + 4)
    data[at + 8] |= 0x01  # the member's "encrypted" flag
    path.write_bytes(bytes(data))
    from unet_core.formats.bioimageio_read import package_weights

    with pytest.raises(ModelFileError) as info:
        package_weights(path)
    assert one_line(str(info.value))
    data[at + 8] &= 0xFE
    data[at + 10 : at + 12] = (99).to_bytes(2, "little")  # compression method 99
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as info:
        package_weights(path)
    assert one_line(str(info.value))


def test_a_deeply_nested_description_names_the_file(tmp_path):
    path = package(tmp_path / "deep.zip", "a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(ModelFileError, match="deep.zip") as info:
        read_card(path)
    assert one_line(str(info.value))


# ---- cards ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("diameter", [12000, 9.9e8])
def test_a_cards_automatic_scale_is_bounded(tmp_path, diameter, capsys):
    model = tiny(scale={"fov_diameter": diameter}, task="fundus")
    model.card = ModelCard(model.config, Preprocessing("green"), ["background", "vessel"],
                           "drive", scale={"fov_diameter": diameter}, task="fundus")
    path = save_model(model, tmp_path / "m")
    yy, xx = np.mgrid[:177, :177]
    eye = np.zeros((177, 177, 3), np.uint8)
    eye[(yy - 88) ** 2 + (xx - 88) ** 2 < 80**2] = (180, 90, 30)
    tifffile.imwrite(tmp_path / "eye.tif", eye)
    assert main(["segment", str(tmp_path / "eye.tif"), "--model", str(path), "--out",
                 str(tmp_path / "out"), "--device", "cpu"]) == 1  # fmt: skip
    rows = (tmp_path / "out" / "segmentation.csv").read_text()
    assert "outside 1/16-16" in rows and "eye.tif" in rows


def test_percentiles_that_are_not_two_are_refused_when_the_file_is_read(tmp_path):
    path = save_model(tiny(), tmp_path / "m")
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), "pt") as handle:
        header = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    card = json.loads(header["card"])
    card["preprocessing"]["percentiles"] = [1, 50, 99]
    header["card"] = json.dumps(card)
    save_file(tensors, str(path), metadata=header)
    with pytest.raises(ModelFileError, match="percentiles must be two numbers") as info:
        read_card(path)
    assert one_line(str(info.value))


# ---- the command line: options checked before any work -------------------------------------------
@pytest.fixture
def folders(tmp_path):
    for sub in ("images", "labels"):
        (tmp_path / sub).mkdir()
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (48, 48), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "images" / "a.tif", image)
    tifffile.imwrite(tmp_path / "labels" / "a.tif", ((image > 128) * 255).astype(np.uint8))
    return tmp_path


def train(folders, *extra) -> list[str]:
    return ["train", "--images", str(folders / "images"), "--labels", str(folders / "labels"),
            "--steps", "2", "--device", "cpu", *extra]  # fmt: skip


@pytest.mark.parametrize("extra, message", [
    (["--out", ""], "--out must name a model file"),
    (["--out", "."], "--out must name a model file"),
    (["--out", "m", "--minutes", "inf"], "--minutes must be"),
    (["--out", "m", "--minutes", "nan"], "--minutes must be"),
])  # fmt: skip
def test_train_options_are_checked_before_training(folders, extra, message, capsys,
                                                   monkeypatch):  # fmt: skip
    monkeypatch.chdir(folders)
    args = train(folders, *extra)
    if "--minutes" in extra:
        args.remove("--steps")
        args.remove("2")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and one_line(err.strip().splitlines()[-1])
    assert not list(folders.glob("*.safetensors")) and not list(folders.glob(".*.ckpt"))


def test_an_out_that_is_a_folder_is_refused_before_training(folders, capsys):
    (folders / "m.safetensors").mkdir()
    assert main(train(folders, "--out", str(folders / "m"), "--overwrite")) == 2
    assert "is a folder" in capsys.readouterr().err


def test_masks_with_nothing_but_255_train_nothing(folders, capsys):
    tifffile.imwrite(folders / "labels" / "a.tif", np.full((48, 48), 255, np.uint8))
    assert main(train(folders, "--out", str(folders / "m"))) == 2
    assert "every label pixel is 255" in capsys.readouterr().err
    assert not (folders / "m.safetensors").exists()


def test_a_full_disk_under_a_checkpoint_is_named(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from unet_core.training import checkpoint as module

    def full(payload, path):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(100, 100, 0))
    with pytest.raises(OSError, match="No space left on device writing run.ckpt"):
        module.save_checkpoint(tmp_path / "run.ckpt", {}, {})


def test_a_package_of_nan_tests_is_not_written(tmp_path, capsys):
    pytest.importorskip("yaml")
    path = save_model(tiny(), tmp_path / "m")
    tifffile.imwrite(tmp_path / "nan.tif", np.full((64, 64), np.nan, np.float32))
    out = tmp_path / "p.zip"
    assert main(["export", str(path), "--to", "bioimageio", "--out", str(out), "--sample",
                 str(tmp_path / "nan.tif")]) == 2  # fmt: skip
    assert "NaN" in capsys.readouterr().err and not out.exists()


def test_evaluate_refuses_nan_labels_and_says_when_a_score_is_undefined(tmp_path, capsys,
                                                                       caplog):  # fmt: skip
    path = save_model(tiny(), tmp_path / "m")
    for sub in ("images", "labels"):
        (tmp_path / sub).mkdir()
    tifffile.imwrite(tmp_path / "images" / "a.tif", np.zeros((48, 48), np.uint8))
    tifffile.imwrite(tmp_path / "labels" / "a.tif", np.full((48, 48), np.nan, np.float32))
    args = ["evaluate", str(tmp_path / "images"), str(tmp_path / "labels"), "--model", str(path),
            "--device", "cpu", "--json"]  # fmt: skip
    assert main(args) == 2
    assert "NaN or infinite" in capsys.readouterr().err
    tifffile.imwrite(tmp_path / "labels" / "a.tif", np.zeros((48, 48), np.uint8))  # all 0
    assert main(args) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)  # strict JSON: no bare NaN
    assert rows[0]["image"] == "a.tif" and "labels hold only the value 0" in caplog.text


# ---- library calls -------------------------------------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda m: __import__("unet_core").predict(m, None, device="cpu"), "expected an image"),
    (lambda m: __import__("unet_core").finetune(m, np.zeros((32, 32, 5)),
                                                np.zeros((32, 32), np.int64), steps=1),
     r"got shape \(32, 32, 5\)"),
    (lambda m: __import__("unet_core").finetune(m, np.zeros((32, 32)),
                                                np.zeros((32, 32), np.int64), steps=1,
                                                patch=100000), "patch must be"),
    (lambda m: __import__("unet_core").finetune(m, np.zeros((1, 1)), np.zeros((1, 1), np.int64),
                                                steps=1), "too small to learn from"),
])  # fmt: skip
def test_library_calls_raise_value_errors_of_one_line(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call(tiny())
    assert one_line(str(info.value))
