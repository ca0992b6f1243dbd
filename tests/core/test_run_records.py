"""One record per batch run: every row of the report names the run and the model that made it,
and every run into a folder is recorded (``segmentation_runs.jsonl``), the last one also in
``segmentation_run.json``, as scripts/demo.sh does with two models into ``results/``."""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest
import tifffile
import torch

from unet_core import ModelCard, Preprocessing, UNet, save_model
from unet_core.batch import REPORT_NAME, BatchRun
from unet_core.batch.report import read_report
from unet_core.batch.runs import model_label, new_run_id, read_runs


def _model_file(folder, name: str, seed: int):
    torch.manual_seed(seed)
    model = UNet(in_channels=1, base_channels=4, depth=2, padding="same", batch_norm=True)
    model.card = ModelCard(model.config, Preprocessing(channels="gray"),
                           ["background", "foreground"], name)  # fmt: skip
    return save_model(model.eval(), folder / f"{name}.safetensors")


@pytest.fixture
def two(tmp_path):
    """(input folder with a.tif and b.tif, model file alpha, model file beta, their labels)."""
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(0)
    for name in "ab":
        tifffile.imwrite(d / f"{name}.tif", rng.integers(0, 255, (40, 48), dtype=np.uint8))
    alpha, beta = _model_file(tmp_path, "alpha", 0), _model_file(tmp_path, "beta", 1)
    labels = [f"{m.stem}@{hashlib.sha256(m.read_bytes()).hexdigest()[:12]}" for m in (alpha, beta)]
    return d, alpha, beta, labels


def _rows(out) -> dict[str, dict]:
    return {r["file"].rsplit("/", 1)[-1]: r for r in read_report(out / REPORT_NAME)}


def test_two_runs_with_two_models_into_one_folder(tmp_path, two):
    d, alpha, beta, (label_a, label_b) = two
    out = tmp_path / "results"
    first = BatchRun(d / "a.tif", out, model=str(alpha), device="cpu")
    list(first)
    second = BatchRun(d / "b.tif", out, model=str(beta), device="cpu")
    list(second)

    rows = _rows(out)
    assert rows["a.tif"]["model"] == label_a and rows["a.tif"]["run"] == first.run_id
    assert rows["b.tif"]["model"] == label_b and rows["b.tif"]["run"] == second.run_id
    runs = read_runs(out)
    assert [r["run"] for r in runs] == [first.run_id, second.run_id]
    assert [r["model_label"] for r in runs] == [label_a, label_b]
    assert [r["model"]["name"] for r in runs] == ["alpha", "beta"]
    assert all("1 segmented" in r["summary"] for r in runs)
    last = json.loads((out / "segmentation_run.json").read_text())
    assert last["run"] == second.run_id and last["model"]["name"] == "beta"

    # a resume with beta skips both: each row keeps the model that made its mask
    third = BatchRun(d, out, model=str(beta), device="cpu")
    assert {r.path.name: r.status for r in third} == {"a.tif": "skipped", "b.tif": "skipped"}
    rows = _rows(out)
    assert (rows["a.tif"]["model"], rows["b.tif"]["model"]) == (label_a, label_b)
    assert {r["run"] for r in rows.values()} == {third.run_id}  # the run that reported them
    assert len(read_runs(out)) == 3


def test_a_report_of_an_earlier_release_resumes(tmp_path, two):
    """A report without the model and run columns: its rows are read, a skipped file keeps
    its measurements, with no model named (none was recorded)."""
    d, alpha, _, (label_a, _) = two
    out = tmp_path / "results"
    list(BatchRun(d / "a.tif", out, model=str(alpha), device="cpu"))
    old = [{k: v for k, v in r.items() if k not in ("model", "run")}
           for r in read_report(out / REPORT_NAME)]  # fmt: skip
    with (out / REPORT_NAME).open("w", newline="") as f:
        writer = csv.DictWriter(f, list(old[0]))
        writer.writeheader()
        writer.writerows(old)
    (out / "segmentation_runs.jsonl").unlink()

    rerun = BatchRun(d, out, model=str(alpha), device="cpu")
    assert {r.path.name: r.status for r in rerun} == {"a.tif": "skipped", "b.tif": "ok"}
    rows = _rows(out)
    assert rows["a.tif"]["foreground_fraction"] == old[0]["foreground_fraction"]
    assert rows["a.tif"]["model"] == "" and rows["b.tif"]["model"] == label_a
    assert [r["run"] for r in read_runs(out)] == [rerun.run_id]


def test_run_ids_and_model_labels():
    assert new_run_id() != new_run_id()
    assert model_label({"name": "drive", "sha256": "0123456789abcdef" * 4}) == "drive@0123456789ab"
    assert model_label({"name": "(in memory)"}) == "(in memory)"
