"""``benchmarks/volumes.py`` in its smoke mode (tiny volumes, seconds of training): both tables
are printed with sane values; without MONAI the speed table says so; the MONAI wrapper runs the
same network on the same tiles as the Predictor."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"  # as tests/conftest.py: absent, the ISBI rows are skipped


def _load():
    spec = importlib.util.spec_from_file_location("bench_volumes", ROOT / "benchmarks" /
                                                  "volumes.py")  # fmt: skip
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _load()


def table(text: str, header: str) -> list[list[str]]:
    """The rows (cells) of the markdown table whose header starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


@pytest.mark.slow
def test_smoke_prints_both_tables_with_sane_values(capsys):
    assert bench.main(["--smoke", "--data", str(DATA)]) == 0
    out = capsys.readouterr().out
    assert "SMOKE" in out and "threads" in out and "load average" in out
    assert "cells3d" in out  # trained from the cache, or skipped with the reason
    if not (DATA / "isbi2012").is_dir():
        assert f"no ISBI 2012 data in {DATA / 'isbi2012'}" in out
    rows = table(out, "| dataset | method |")
    datasets = {r[0] for r in rows}
    assert "nuclei" in datasets
    for dataset in datasets:
        methods = [r[1] for r in rows if r[0] == dataset]
        assert len(methods) == 3 and methods[0].startswith("Otsu")
        assert methods[1].startswith("2-D U-Net") and methods[2].startswith("3-D U-Net")
    for _, method, train_s, steps, iou, dice, segment_s in rows:
        iou, dice = float(iou), float(dice)
        assert 0 <= iou <= dice <= 1
        assert float(segment_s) >= 0 and float(train_s) >= 0
        if "U-Net" in method:
            assert int(steps) >= 1 and float(train_s) < 30  # a smoke budget: seconds
    speed = table(out, "| volume | tile (in) |")
    assert [r[0] for r in speed] == [" x ".join(map(str, s)) for s in bench.SMOKE.speed_shapes]
    for r in speed:
        assert float(r[3]) > 0  # Predictor Mvox/s
        ours, monai = r[2].split(" / ")
        if bench.monai_version() is None:
            assert r[4] == bench.NO_MONAI and monai == "-"
        else:
            assert ours == monai  # equal work: the same tiles
            assert float(r[4]) > 0 and float(r[5]) > 0 and r[6].endswith("x")
            assert 0 <= float(r[7]) < 0.5
        assert float(r[8].split()[0]) > 0  # Predictor defaults


def test_without_monai_the_speed_table_says_so(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "monai", None)  # import monai raises ImportError
    monkeypatch.setitem(sys.modules, "monai.inferers", None)
    assert bench.main(["--smoke", "--parts", "speed"]) == 0
    out = capsys.readouterr().out
    assert "MONAI not installed (pip install monai)" in out
    assert "| dataset |" not in out
    speed = table(out, "| volume | tile (in) |")
    assert len(speed) == 2 and all(r[4] == bench.NO_MONAI and float(r[3]) > 0 for r in speed)


def test_monai_runs_the_same_network_on_the_same_tiles():
    pytest.importorskip("monai")
    from monai.inferers import sliding_window_inference

    from unet_core.inference.predictor import Predictor

    model = bench.speed_model("small")
    volume = bench.nuclei((16, 32, 32), seed=5)[0]
    # one tile covering the volume, no context: the same probabilities
    ours = Predictor(model, device="cpu", precision="fp32", tile=32, context=0, overlap=8)
    grid = ours.plan(volume.shape)
    assert len(grid) == 1 and grid.tile_in == volume.shape
    net = bench.Probabilities(model)
    theirs = bench.monai_segment(sliding_window_inference, net, volume, volume.shape, 0.0, 1,
                                 "gaussian")  # fmt: skip
    np.testing.assert_allclose(theirs, ours(volume), atol=2e-4)
    # several tiles: the overlap fraction that gives MONAI the Predictor's steps, tile for tile
    shape = (24, 40, 56)
    tiled = Predictor(model, device="cpu", precision="fp32", tile=16, context=0, overlap=8)
    grid = tiled.plan(shape)
    steps = tuple(s[1] - s[0] for s in grid.starts)
    net = bench.Probabilities(model)
    bench.monai_segment(sliding_window_inference, net, np.zeros(shape, np.uint8), grid.tile_in,
                        bench.monai_overlap(grid.tile_in, steps), 2, "constant")  # fmt: skip
    assert len(grid) > 8 and net.tiles == len(grid) and net.calls == -(-len(grid) // 2)


@pytest.mark.parametrize("every", [5, 10])
def test_sparse_labels_and_the_scores(every):
    image, labels = bench.nuclei((20, 24, 24), seed=0)
    assert image.dtype == np.uint8 and set(np.unique(labels)) == {0, 1}
    marked = bench.sparse(labels, every)
    assert list(bench.volumes.annotated_slices(marked)) == list(range(0, 20, every))
    assert bench.scores(labels, labels) == (1.0, 1.0)
    iou, dice = bench.scores(labels, np.zeros_like(labels))
    assert iou == dice == 0.0
    half = labels.copy()
    half[:10] = 0
    iou, dice = bench.scores(half, labels)
    assert 0 < iou < dice < 1 and dice == pytest.approx(2 * iou / (1 + iou))


def test_cells3d_is_never_downloaded(monkeypatch):
    from skimage.data import _fetchers

    def refuse(*args, **kwargs):
        raise AssertionError("tried to download")

    if _fetchers._image_fetcher is not None:
        monkeypatch.setattr(_fetchers._image_fetcher, "fetch", refuse)
    path = bench.cells3d_file()
    assert path is None or path.is_file()
    cases, skipped = bench.make_cases(["cells3d"], DATA, bench.SMOKE)
    assert len(cases) + len(skipped) == 1
    if skipped:
        assert "needs a download" in skipped[0]
    # the case made of a cells3d-shaped stack (membranes, nuclei): halves along y, proxy truth
    image = bench.nuclei((20, 64, 64), seed=3)[0]
    case = bench.cells3d_case(np.stack([image // 2, image], axis=1), bench.SMOKE)
    assert case.train_image.shape == case.score_image.shape == (20, 32, 64)
    assert list(bench.volumes.annotated_slices(case.train_labels)) == [0, 10]
    assert 0 < case.score_truth.mean() < 0.5 and case.voxel_size == bench.CELLS3D_VOXEL
