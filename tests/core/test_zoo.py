"""bioimage.io packages: written by ``napari-unet export --to bioimageio``, passed by
bioimageio.core's own test (offline), and run here as ``--model FILE.zip`` with the same mask as
the model they came from; a package of another tool is named in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

from unet_core import save_model
from unet_core.cli import main
from unet_core.formats.checks import ModelFileError
from unet_core.formats.store import load_model, read_card
from unet_core.model.build import build_model
from unet_core.tasks import sample_path

bioimageio_core = pytest.importorskip(
    "bioimageio.core", reason="bioimageio.core is in the testing extra: pip install -e .[testing]"
)


@pytest.fixture(autouse=True)
def _bioimageio_cache(tmp_path, monkeypatch):
    # bioimageio.core caches downloads; nothing is downloaded here, and nothing lands in ~
    monkeypatch.setenv("BIOIMAGEIO_CACHE_PATH", str(tmp_path / "bioimageio-cache"))


def _export(model: str, out: Path, *extra: str) -> Path:
    assert main(["export", model, "--to", "bioimageio", "--out", str(out), *extra]) == 0
    assert out.is_file()
    return out


def _passes(package: Path) -> None:
    summary = bioimageio_core.test_model(package)
    failed = [d for d in summary.details if d.status == "failed"]
    assert summary.status == "passed", [(d.name, d.errors) for d in failed]
    tested = {d.name for d in summary.details if "Reproduce test outputs" in d.name}
    assert len(tested) == 3, tested  # pytorch_state_dict, torchscript and onnx all reproduced


def _segment(model: str, image: Path, out: Path) -> np.ndarray:
    assert main(["segment", str(image), "--model", model, "--out", str(out)]) == 0
    return tifffile.imread(next(out.glob("*_mask.tif")))


@pytest.mark.parametrize("name", ["em", "drive"])
def test_bundled_package_passes_bioimageio_test_and_runs_here_as_the_model(name, tmp_path):
    package = _export(name, tmp_path / f"{name}.zip", "--author", "A. Tester")
    with zipfile.ZipFile(package) as zf:
        names = set(zf.namelist())
    assert {"rdf.yaml", "README.md", "cover.png", "unet.py", "weights.pt",
            "weights_torchscript.pt", "weights.onnx", "test_input.npy",
            "test_output.npy"} <= names  # fmt: skip
    _passes(package)
    assert read_card(package) == read_card(name)  # the whole card travels in the package
    sample = sample_path(load_model(name, "cpu").card.task)
    ours = _segment(name, sample, tmp_path / "from-model")
    theirs = _segment(str(package), sample, tmp_path / "from-package")
    assert ours.any() and np.array_equal(ours, theirs)


def test_bioimageio_cli_passes_offline_and_fails_a_package_whose_outputs_are_wrong(tmp_path):
    package = _export("em", tmp_path / "em.zip")
    env = {**os.environ, "BIOIMAGEIO_CACHE_PATH": str(tmp_path / "cache"), "NO_PROXY": "*",
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}  # fmt: skip
    run = [sys.executable, "-m", "bioimageio.core", "test", str(package)]
    done = subprocess.run(run, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    # the same package with a wrong expected output (checksum updated) must fail the test
    wrong = tmp_path / "wrong.zip"
    _rewrite(package, wrong, "test_output.npy", lambda a: 1.0 - a)
    done = subprocess.run(run[:-1] + [str(wrong)], capture_output=True, text=True, env=env,
                          cwd=tmp_path)  # fmt: skip
    assert done.returncode != 0


def _rewrite(package: Path, out: Path, member: str, change) -> None:
    import hashlib
    import io
    import re

    with zipfile.ZipFile(package) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    buf = io.BytesIO()
    np.save(buf, change(np.load(io.BytesIO(files[member]))))
    files[member] = buf.getvalue()
    digest = hashlib.sha256(files[member]).hexdigest()
    rdf = files["rdf.yaml"].decode()
    rdf = re.sub(rf"(source: {re.escape(member)}\n\s+sha256: )\w+", rf"\g<1>{digest}", rdf)
    files["rdf.yaml"] = rdf.encode()
    with zipfile.ZipFile(out, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)


@pytest.mark.parametrize(
    "arch, pre, classes",
    [
        (dict(padding="valid", base_channels=4, depth=3), {"channels": "gray"}, None),
        (dict(padding="same", batch_norm=True, base_channels=4, depth=2, refine=4,
              in_channels=3, num_classes=3),
         {"channels": "rgb", "normalize": "percentile"}, ["background", "cell body", "edge"]),
    ],
)  # fmt: skip
def test_a_users_model_exports_with_its_own_sample(arch, pre, classes, tmp_path, capsys):
    """A model trained here (the paper's unpadded variant; a 3-class colour cascade) exports
    with the user's own image as its test input, and the package gives its mask here."""
    import torch

    torch.manual_seed(0)
    net = build_model(arch)
    for p in net.parameters():  # an untrained net's output is near uniform: make it decide
        p.data.mul_(3.0)
    model = save_model(net, tmp_path / "mine.safetensors", preprocessing=pre,
                       **({"classes": classes} if classes else {}))  # fmt: skip
    rng = np.random.default_rng(0)
    image = (rng.random((300, 280, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "cells.tif", image)
    assert main(["export", str(model), "--to", "bioimageio", "--out",
                 str(tmp_path / "no-sample.zip")]) == 2  # fmt: skip
    assert "give --sample IMAGE" in capsys.readouterr().err
    assert not (tmp_path / "no-sample.zip").exists()
    package = _export(str(model), tmp_path / "mine.zip", "--sample", str(tmp_path / "cells.tif"))
    _passes(package)
    ours = _segment(str(model), tmp_path / "cells.tif", tmp_path / "a")
    theirs = _segment(str(package), tmp_path / "cells.tif", tmp_path / "b")
    assert np.array_equal(ours, theirs) and len(np.unique(ours)) > 1


def _foreign(path: Path, rdf: str | None, extra: dict | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        if rdf is not None:
            zf.writestr("rdf.yaml", rdf)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


FOREIGN = """
type: model
format_version: 0.5.4
name: StarDist nuclei (fluorescence)
weights:
  tensorflow_saved_model_bundle: {source: tf.zip}
  pytorch_state_dict:
    source: w.pt
    architecture: {callable: StarDist2D, source: stardist.py}
"""


def test_a_package_of_another_tool_is_named_in_one_line(tmp_path, capsys):
    package = _foreign(tmp_path / "nuclei.zip", FOREIGN)
    with pytest.raises(ModelFileError) as info:
        load_model(package, "cpu")
    text = str(info.value)
    assert "\n" not in text
    for part in ("StarDist nuclei", "StarDist2D", "pytorch_state_dict",
                 "tensorflow_saved_model_bundle", "not a U-Net of this tool", "bioimageio.core",
                 "deepImageJ"):  # fmt: skip
        assert part in text, text
    image = tmp_path / "x.tif"
    tifffile.imwrite(image, np.zeros((64, 64), np.uint8))
    assert main(["segment", str(image), "--model", str(package), "--out",
                 str(tmp_path / "o")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a U-Net of this tool" in err


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"), "not a readable zip"),
        (lambda p: _foreign(p, None, {"notes.txt": "hi"}), "not a bioimage.io package"),
        (lambda p: _foreign(p, "type: dataset\nname: cells\n"), "bioimage.io dataset, not a model"),
        (lambda p: _foreign(p, "type: model\nname: [unclosed\n"), "not valid YAML"),
    ],
)  # fmt: skip
def test_a_zip_that_is_not_a_model_package_is_refused_in_one_line(make, words, tmp_path):
    path = tmp_path / "thing.zip"
    make(path)
    with pytest.raises(ModelFileError, match=words):
        load_model(path, "cpu")


def test_a_package_with_damaged_weights_or_an_impossible_card_is_refused(tmp_path):
    import yaml

    package = _export("em", tmp_path / "em.zip")
    with zipfile.ZipFile(package) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    rdf = files.pop("rdf.yaml").decode()
    damaged = dict(files, **{"weights.pt": files["weights.pt"][:-100] + b"\0" * 100})
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(_foreign(tmp_path / "damaged.zip", rdf, damaged), "cpu")
    huge = yaml.safe_load(rdf)
    huge["config"]["napari_unet"]["card"]["architecture"]["base_channels"] = 100_000
    with pytest.raises(ModelFileError, match="base_channels must be at most"):
        read_card(_foreign(tmp_path / "huge.zip", yaml.safe_dump(huge), files))
