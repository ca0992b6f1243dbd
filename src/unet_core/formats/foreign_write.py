"""A fine-tuned foreign network written back as a bioimage.io package: the package it came from,
file for file, with its TorchScript weights replaced (sha256 updated), the weights that no
longer match dropped (ONNX, a state dict: this tool cannot re-export another tool's network to
them), the test output recomputed with the new weights, and a note naming the original in
``description`` and ``config.napari_unet.finetuned_from``."""

from __future__ import annotations

import copy
import hashlib
import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
import yaml

from ..base.files import atomic_write
from . import bioimageio_read as package
from .foreign_model import ForeignModel

WEIGHTS_NAME = "weights_finetuned_torchscript.pt"
TEST_OUTPUT = "test_output_finetuned.npy"


def export_foreign(model: ForeignModel, out: str | os.PathLike, name: str = "") -> Path:
    """Write ``model`` (a :class:`ForeignModel` with TorchScript weights, fine-tuned or not)
    as a bioimage.io package at ``out``, atomically, named ``name`` (default: the original's
    name and "(fine-tuned)"); a one-line ValueError for other weights."""
    if model.kind != "torchscript":
        raise ValueError(f"{model.card.name}: only TorchScript weights are written back to a "
                         f"package, and this network's are {model.kind}")  # fmt: skip
    buffer = io.BytesIO()
    net = copy.deepcopy(model).cpu().eval()
    torch.jit.save(net.net, buffer)
    weights = buffer.getvalue()
    rdf = copy.deepcopy(model.rdf)
    with zipfile.ZipFile(model.path) as zf:
        names = [n for n in zf.namelist() if n not in _dropped(rdf)]
        files = {n: package.read_member(model.path, n) for n in names}
    test_out = _test_output(net, rdf, files)
    _describe(rdf, model, weights, test_out, name)
    files = {**files, WEIGHTS_NAME: weights}
    if test_out is not None:
        files[TEST_OUTPUT] = _npy(test_out)

    def write(part: Path) -> None:
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("rdf.yaml", yaml.safe_dump(rdf, sort_keys=False))
            for name, data in files.items():
                if name not in package.RDF_NAMES and not name.endswith("bioimageio.yaml"):
                    zf.writestr(name, data)

    return atomic_write(out, write)


def _dropped(rdf: dict) -> set[str]:
    """The files of the weights that are no longer the network's."""
    weights = rdf.get("weights") or {}
    return {str(e.get("source")) for e in weights.values() if isinstance(e, dict)}


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _describe(rdf: dict, model: ForeignModel, weights: bytes, test_out, name: str) -> None:
    entry = {k: v for k, v in rdf["weights"]["torchscript"].items() if k != "parent"}
    entry.update(source=WEIGHTS_NAME, sha256=hashlib.sha256(weights).hexdigest())
    rdf["weights"] = {"torchscript": entry}
    original = str(model.rdf.get("name", model.path.stem))
    done = model.card.provenance.get("finetune", {})
    note = f"Fine-tuned with napari-unet from the bioimage.io model {original!r}."
    rdf["description"] = f"{note} {rdf.get('description', '')}".strip()[:1000]
    if name:
        rdf["name"] = re.sub(r"[^\w +\-()]", " ", f"{original[:60]} {name}").strip()[:128]
    elif not original.endswith("(fine-tuned)"):
        rdf["name"] = f"{original[:114]} (fine-tuned)"
    config = rdf["config"] = dict(rdf.get("config") or {})
    config["napari_unet"] = {"finetuned_from": {"name": original, "file": model.path.name},
                             "finetune": done}  # fmt: skip
    if test_out is None:
        return
    if str(rdf.get("format_version", "")).startswith("0.4"):
        rdf["test_outputs"] = [TEST_OUTPUT, *rdf.get("test_outputs", [])[1:]]
    else:
        tensor = {"source": TEST_OUTPUT, "sha256": hashlib.sha256(_npy(test_out)).hexdigest()}
        rdf["outputs"][0]["test_tensor"] = tensor


def _test_output(net: ForeignModel, rdf: dict, files: dict[str, bytes]) -> np.ndarray | None:
    """The package's first output for its test input, with the network's weights now: the
    input in its axes, preprocessed over the whole of it, the output in the output's axes."""
    v04 = str(rdf.get("format_version", "")).startswith("0.4")
    inp = rdf["inputs"][0]
    name = (rdf.get("test_inputs") or [None])[0] if v04 else (inp.get("test_tensor") or {}).get(
        "source")  # fmt: skip
    if name not in files:
        return None
    x = np.load(io.BytesIO(files[name]), allow_pickle=False).astype(np.float32)
    axes = net.spec.in_axes
    for a in "bc":  # the axes the test input lacks, in front
        if a not in axes:
            x, axes = x[None], a + axes
    x = np.transpose(x, [axes.index(a) for a in "bcyx"])[0]  # (c, y, x) of the first sample
    norm = net.normalizer().fit(np.moveaxis(x, 0, -1) if x.shape[0] > 1 else x[0])
    with torch.no_grad():
        y = net.post(net.raw(torch.from_numpy(norm(x))[None])).numpy()  # b, c, y, x
    order = net.spec.out_axes
    y = y[tuple(slice(None) if a in order else 0 for a in "bcyx")]  # drop the axes it lacks
    have = "".join(a for a in "bcyx" if a in order)
    return np.ascontiguousarray(np.transpose(y, [have.index(a) for a in order]))
