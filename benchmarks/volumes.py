"""Volumes from sparse annotation: a 2-D U-Net slice by slice against a 3-D U-Net, trained from
the same few labelled slices for the same wall-clock budget; and the speed of this project's
3-D overlap-tile inference against MONAI's ``sliding_window_inference``.

    python benchmarks/volumes.py --minutes 8 [--datasets isbi nuclei cells3d] [--threads 2]
        [--data ../shared/data] [--parts train speed] [--tile 64] [--overlap 16] [--repeats 3]
    python benchmarks/volumes.py --smoke      # seconds: tiny volumes and budgets (the test's)

Run the real thing on an idle machine (the load average is printed at the start and the end of
each part); the training part takes about 2 x ``--minutes`` per data set (40 minutes for isbi
and nuclei at 8), the speed part a few minutes more. Everything runs on the CPU with
``--threads`` torch threads (default 2).

Part 1, "train": for each data set one volume is labelled on every Nth slice only (the rest is
``IGNORE_LABEL``, 255) and trained with the own-data recipe (``own_data.train``) twice, from
the same sparse slices and for the same ``--minutes``: ``dims=2`` (a 2-D U-Net on the labelled
slices) and ``dims=3`` (a 3-D U-Net, pools and kernels planned from the voxel size). Each model
then segments another volume (or another part of the stack) that training never saw, every
slice of it, and the foreground IoU and Dice over all its voxels are printed with the training
seconds and steps and the seconds to segment. A global Otsu threshold (no training; which side
is foreground is read from the labelled slices) gives the floor in the same run.

- ``isbi``: the ISBI 2012 training stack (``isbi2012/train``, 25 labelled slices of 512 x 512
  here: the challenge's other 5 are held back), treated as one volume of 50 x 4 x 4 nm voxels
  (z, y, x), membrane = foreground (label 0 in the files). Trained on the left half
  (x < 256) with labels on every 5th slice (0, 5, ..., 20); scored on the right half, all 25
  slices. Skipped, saying so, when ``--data`` has no ``isbi2012`` folder.
- ``nuclei``: two independently generated 96^3 volumes of blurred ellipsoids (radii 4-8 voxels,
  brightness varying by nucleus) in noise, isotropic voxels; one labelled on every 10th slice,
  the other scored.
- ``cells3d``: scikit-image's ``cells3d`` nuclei channel (60 x 256 x 256, voxel 0.29 x 0.26 x
  0.26 um) when it is already in scikit-image's cache: it is not shipped with the package and
  ``skimage.data.cells3d()`` downloads it, which this benchmark never does (it says so and
  skips). It has no manual labels: the "truth" is a proxy, the Otsu mask of the smoothed
  channel with small objects removed, so its scores say how well sparse labels propagate, not
  how good the segmentation is. Trained on the top half (y < 128), every 10th slice; scored
  on the bottom half.

Part 2, "speed": voxels per second of 3-D inference on a 100^3 and a 128 x 256 x 256 volume,
best of ``--repeats`` runs, fp32, batch ``--batch``, by (a) this project's ``Predictor`` with
tiles of ``--tile`` voxels, no discarded context and ``--overlap`` voxels of blended overlap,
(b) MONAI's ``sliding_window_inference`` over the same network weights wrapped in a plain
``torch.nn.Module`` (the U-Net as built, then softmax), with the same ROI as the Predictor's
tiles and the overlap fraction that gives the same tile steps (the tile counts are printed:
equal work; MONAI puts its last tile flush with the border where the Predictor mirrors past
it), Gaussian blending (``--monai-mode``); (c) the same MONAI call over the Predictor's own
network form (batch norm folded, convolution + ReLU fused, channels-last), which separates
what the network form gains from what the tiling loop costs; and (d) the Predictor at its
defaults (tile from the memory budget, context from the receptive field discarded around each
tile: fewer seams), what a user gets, not equal work. The network is a fresh 3-D U-Net of
``--speed-size`` (default medium, the own-data default), isotropic, untrained (speed only);
each timing follows one untimed warm-up run; both sides normalise the volume (z-score) inside
the timing. MONAI is imported only here; without it the MONAI columns say "MONAI not installed
(pip install monai)".
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from unet_core.base.labels import IGNORE_LABEL
from unet_core.data.folders import check_arrays
from unet_core.data.io import read_image
from unet_core.formats.store import load_model
from unet_core.inference.predictor import Predictor
from unet_core.model.build import build_model
from unet_core.model.card import ModelCard, Preprocessing
from unet_core.model.fused import inference_form
from unet_core.training import volumes
from unet_core.training.own_data import train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NO_MONAI = "MONAI not installed (pip install monai)"
ISBI_VOXEL = (50.0, 4.0, 4.0)  # nm, z y x: serial-section TEM
CELLS3D_VOXEL = (0.29, 0.26, 0.26)  # um, skimage.data.cells3d's docstring


@dataclasses.dataclass
class Case:
    """One data set: a volume with sparse labels to train on and a volume with full labels to
    score, both (D, H, W)."""

    name: str
    train_image: np.ndarray
    train_labels: np.ndarray  # class indices on the labelled slices, IGNORE_LABEL elsewhere
    score_image: np.ndarray
    score_truth: np.ndarray  # 0/1 on every voxel
    voxel_size: tuple[float, float, float]
    what: str


@dataclasses.dataclass
class Settings:
    """Sizes that differ between the real run and ``--smoke``."""

    nuclei_shape: tuple[int, int, int] = (96, 96, 96)
    nuclei_every: int = 10
    isbi_slices: int = 25
    isbi_side: int = 512  # the stack is cut to side x side, then in two halves along x
    isbi_every: int = 5
    cells_every: int = 10
    speed_shapes: tuple = ((100, 100, 100), (128, 256, 256))


SMOKE = Settings(nuclei_shape=(20, 32, 32), nuclei_every=10, isbi_slices=10, isbi_side=64,
                 isbi_every=5, cells_every=10,
                 speed_shapes=((16, 24, 24), (16, 32, 40)))  # fmt: skip


# ---- data -------------------------------------------------------------------------------------
def sparse(labels: np.ndarray, every: int) -> np.ndarray:
    """``labels`` on every ``every``-th slice (from the first), ``IGNORE_LABEL`` elsewhere."""
    out = np.full(labels.shape, IGNORE_LABEL, np.uint8)
    out[::every] = labels[::every]
    return out


def nuclei(shape: tuple[int, int, int], seed: int, density: float = 0.15):
    """(image uint8, labels 0/1) of blurred ellipsoids of radii 4-8 voxels covering about
    ``density`` of the volume (before overlaps), each of its own brightness, in noise."""
    rng = np.random.default_rng(seed)
    shape_a = np.array(shape)
    signal = np.zeros(shape, np.float32)
    lab = np.zeros(shape, bool)
    n = max(2, round(density * np.prod(shape_a) / (4 / 3 * np.pi * 6.0**3)))
    for _ in range(n):
        c = rng.uniform(0, 1, 3) * shape_a
        r = rng.uniform(4, 8, 3)
        lo = np.maximum(0, np.floor(c - r)).astype(int)
        hi = np.minimum(shape_a, np.ceil(c + r) + 1).astype(int)
        if np.any(hi <= lo):
            continue
        zz, yy, xx = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
        inside = ((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + \
            ((xx - c[2]) / r[2]) ** 2 < 1  # fmt: skip
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        lab[box] |= inside
        signal[box] = np.maximum(signal[box], inside * rng.uniform(0.6, 1.0))
    img = ndimage.gaussian_filter(signal, 1.0) + rng.normal(0, 0.25, shape)
    return (np.clip(img, -1, 2) * 80 + 60).astype(np.uint8), lab.astype(np.uint8)


def nuclei_case(s: Settings) -> Case:
    image, labels = nuclei(s.nuclei_shape, seed=0)
    other, truth = nuclei(s.nuclei_shape, seed=1)
    shape = " x ".join(map(str, s.nuclei_shape))
    return Case("nuclei", image, sparse(labels, s.nuclei_every), other, truth, (1.0, 1.0, 1.0),
                f"synthetic nuclei, two {shape} volumes (seeds 0 and 1), every "
                f"{s.nuclei_every}th slice labelled, isotropic")  # fmt: skip


def isbi_case(data: Path, s: Settings) -> Case | str:
    """The ISBI 2012 stack cut in two halves along x, or why not."""
    root = data / "isbi2012" / "train"
    if not (root / "images").is_dir() or not (root / "labels").is_dir():
        return f"isbi skipped: no ISBI 2012 data in {data / 'isbi2012'} (give --data)"
    images = np.stack([read_image(root / "images" / f"{i:02d}.png")
                       for i in range(s.isbi_slices)])[:, : s.isbi_side, : s.isbi_side]  # fmt: skip
    membrane = np.stack([read_image(root / "labels" / f"{i:02d}.png") < 128
                         for i in range(s.isbi_slices)])[:, : s.isbi_side, : s.isbi_side]
    membrane = membrane.astype(np.uint8)  # the files: 0 membrane, 255 cell interior
    half = s.isbi_side // 2
    left, right = np.s_[:, :, :half], np.s_[:, :, half:]
    shape = f"{len(images)} x {s.isbi_side} x {half}"
    return Case("isbi", images[left], sparse(membrane[left], s.isbi_every), images[right],
                membrane[right], ISBI_VOXEL,
                f"ISBI 2012 membranes, {shape} halves (x < {half} trained, every "
                f"{s.isbi_every}th slice labelled; x >= {half} scored), voxel 50 x 4 x 4 nm")


def cells3d_file() -> Path | None:
    """skimage's ``cells3d.tif`` where it is already on this machine (never downloaded)."""
    try:
        from skimage.data import _fetchers
    except ImportError:
        return None
    name = "data/cells3d.tif"
    places = [Path(_fetchers._DISTRIBUTION_DIR) / name]
    fetcher = getattr(_fetchers, "_image_fetcher", None)
    if fetcher is not None:
        places.insert(0, Path(fetcher.abspath) / name)
    for path in places:
        if _fetchers._has_hash(str(path), _fetchers.registry[name]):
            return path
    return None


def cells3d_case(volume: np.ndarray, s: Settings) -> Case:
    """``volume``: (D, 2, H, W) cells3d (membranes, nuclei); the nuclei channel with a proxy
    truth (Otsu of the smoothed channel, objects under 64 voxels removed), cut along y."""
    from skimage.filters import threshold_otsu

    nucl = volume[:, 1]
    smooth = ndimage.gaussian_filter(nucl.astype(np.float32), 1.0)
    objects, _ = ndimage.label(smooth > threshold_otsu(smooth))
    sizes = np.bincount(objects.ravel())
    proxy = ((sizes >= 64)[objects] & (objects > 0)).astype(np.uint8)
    half = nucl.shape[1] // 2
    top, bottom = np.s_[:, :half], np.s_[:, half:]
    return Case("cells3d", nucl[top], sparse(proxy[top], s.cells_every), nucl[bottom],
                proxy[bottom], CELLS3D_VOXEL,
                f"skimage cells3d nuclei, {nucl.shape[0]} x {half} x {nucl.shape[2]} halves "
                f"(y < {half} trained, every {s.cells_every}th slice; proxy truth: Otsu of the "
                "smoothed channel)")  # fmt: skip


def make_cases(names: list[str], data: Path, s: Settings) -> tuple[list[Case], list[str]]:
    cases, skipped = [], []
    for name in names:
        if name == "nuclei":
            cases.append(nuclei_case(s))
        elif name == "isbi":
            case = isbi_case(data, s)
            (skipped if isinstance(case, str) else cases).append(case)
        elif name == "cells3d":
            path = cells3d_file()
            if path is None:
                skipped.append("cells3d skipped: skimage.data.cells3d is not shipped with "
                               "scikit-image and needs a download (not in its cache here); "
                               "this benchmark downloads nothing")  # fmt: skip
                continue
            import tifffile

            volume = tifffile.imread(path)
            if s is SMOKE:
                volume = volume[:20, :, :64, :64]
            cases.append(cells3d_case(volume, s))
        else:
            raise ValueError(f"unknown data set {name!r} (isbi, nuclei, cells3d)")
    return cases, skipped


# ---- part 1: 2-D against 3-D from sparse slices -------------------------------------------------
def scores(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(IoU, Dice) of the foreground."""
    p, t = pred.astype(bool), truth.astype(bool)
    inter, union = np.count_nonzero(p & t), np.count_nonzero(p | t)
    total = np.count_nonzero(p) + np.count_nonzero(t)
    return inter / max(1, union), 2 * inter / max(1, total)


def segment(model, volume: np.ndarray, precision: str) -> np.ndarray:
    """Foreground mask of ``volume``: a 3-D model over the volume, a 2-D one slice by slice."""
    if model.spatial_dims == 3:
        return Predictor(model, device="cpu", precision=precision)(volume).argmax(0) == 1
    p = Predictor(model, device="cpu", precision=precision, scale=1.0)
    return np.stack([p(plane).argmax(0) == 1 for plane in volume])


def otsu(case: Case) -> np.ndarray:
    """The floor: one global Otsu threshold, foreground on the side the labelled slices say."""
    from skimage.filters import threshold_otsu

    t = threshold_otsu(case.train_image)
    marked = case.train_labels != IGNORE_LABEL
    fg = case.train_labels[marked] == 1
    brighter = case.train_image[marked][fg].mean() > case.train_image[marked][~fg].mean()
    return case.score_image > t if brighter else case.score_image <= t


def train_part(cases: list[Case], args, out: Path) -> list[dict]:
    rows = []
    for case in cases:
        data = check_arrays([case.train_image], [case.train_labels], [case.name])
        start = time.perf_counter()
        mask = otsu(case)
        seconds = time.perf_counter() - start
        rows.append(dict(dataset=case.name, method="Otsu threshold (no training)", train_s=0.0,
                         steps=0, scores=scores(mask, case.score_truth), segment_s=seconds))
        for dims in (2, 3):
            result = train(data, out / f"{case.name}-{dims}d", minutes=args.minutes,
                           size=args.size, dims=dims, voxel_size=case.voxel_size,
                           device="cpu", precision=args.precision, seed=args.seed)  # fmt: skip
            model = load_model(result.path, device="cpu")
            start = time.perf_counter()
            mask = segment(model, case.score_image, args.precision)
            seconds = time.perf_counter() - start
            method = (f"2-D U-Net, slice by slice ({args.size})" if dims == 2 else
                      f"3-D U-Net ({args.size}, pools {pools_text(model)})")  # fmt: skip
            rows.append(dict(dataset=case.name, method=method, train_s=result.seconds,
                             steps=result.steps, scores=scores(mask, case.score_truth),
                             segment_s=seconds,
                             precision=model.card.provenance.get("precision", "?")))  # fmt: skip
            print(f"  {case.name}, {dims}-D: {result.steps} steps in {result.seconds:.0f} s, "
                  f"IoU {rows[-1]['scores'][0]:.3f}", file=sys.stderr, flush=True)  # fmt: skip
    return rows


def pools_text(model) -> str:
    return " ".join("".join(map(str, p)) for p in model.pools)


def print_train_table(cases: list[Case], rows: list[dict], args) -> None:
    print(f"\n### 2-D slice by slice against 3-D, from the same labelled slices, "
          f"{args.minutes:g} min each\n")  # fmt: skip
    for case in cases:
        marked = len(volumes.annotated_slices(case.train_labels))
        print(f"- {case.name}: {case.what}; {marked} labelled slice(s) of "
              f"{len(case.train_labels)}, scored on all {case.score_image.size:,} voxels of the "
              f"other volume ({100 * case.score_truth.mean():.1f} % foreground)")  # fmt: skip
    precisions = sorted({r["precision"] for r in rows if "precision" in r})
    print(f"- training precision: {', '.join(precisions) or '-'}; the recipe holds out the last "
          "fifth of the labelled slices (3-D) or of the labelled images (2-D) for validation "
          "and keeps the best validated weights\n")  # fmt: skip
    print("| dataset | method | training s | steps | IoU | Dice | segment s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        iou, dice = r["scores"]
        print(f"| {r['dataset']} | {r['method']} | {r['train_s']:.0f} | {r['steps']} | "
              f"{iou:.3f} | {dice:.3f} | {r['segment_s']:.2f} |")  # fmt: skip


# ---- part 2: inference speed against MONAI ----------------------------------------------------
def speed_model(size: str) -> torch.nn.Module:
    """A fresh, isotropic 3-D U-Net of the own-data recipe's ``size``, with a card."""
    arch, _ = volumes.architecture(size, 1, 2, None)
    torch.manual_seed(0)
    model = build_model(arch)
    model.card = ModelCard(model.config, Preprocessing(channels="gray", normalize="zscore"),
                           ["background", "foreground"], task="generic")  # fmt: skip
    return model.eval()


class Probabilities(torch.nn.Module):
    """A network as MONAI calls it: (B, 1, D, H, W) -> softmax probabilities, optionally with
    the input in ``memory_format`` (what the network's weights are in)."""

    def __init__(self, net: torch.nn.Module, memory_format=torch.contiguous_format):
        super().__init__()
        self.net, self.memory_format, self.calls, self.tiles = net, memory_format, 0, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.tiles += len(x)
        return torch.softmax(self.net(x.contiguous(memory_format=self.memory_format)), dim=1)


def zscore(volume: np.ndarray) -> np.ndarray:
    v = volume.astype(np.float32)
    return (v - v.mean()) / max(float(v.std()), 1e-8)


def monai_overlap(roi: tuple[int, ...], steps: tuple[int, ...]) -> tuple[float, ...]:
    """The overlap fractions for which MONAI steps by ``steps`` (its interval is
    ``int(roi * (1 - overlap))``): half a voxel over, against rounding."""
    return tuple(min(0.99, max(0.0, (r - s - 0.5) / r)) for r, s in zip(roi, steps))


def monai_segment(infer, net: Probabilities, volume: np.ndarray, roi, overlap, batch: int,
                  mode: str) -> np.ndarray:  # fmt: skip
    """(K, D, H, W) probabilities of ``volume`` by MONAI's sliding window over ``net``."""
    x = torch.from_numpy(zscore(volume))[None, None]
    with torch.inference_mode():
        out = infer(x, roi_size=roi, sw_batch_size=batch, predictor=net, overlap=overlap,
                    mode=mode)  # fmt: skip
    return out[0].numpy()


def best_of(repeats: int, fn) -> float:
    """The best of ``repeats`` timed calls of ``fn``, after one untimed call (which builds the
    Predictor's network form and warms oneDNN's primitive cache, for either side)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def speed_part(shapes, args) -> list[dict]:
    try:
        from monai.inferers import sliding_window_inference
    except ImportError:
        sliding_window_inference = None
    model = speed_model(args.speed_size)
    rows = []
    for shape in shapes:
        rows.append(speed_row(tuple(shape), model, sliding_window_inference, args))
        print(f"  speed {shape}: done", file=sys.stderr, flush=True)
    return rows


def speed_row(shape: tuple[int, int, int], model, infer, args) -> dict:
    """Timings of one volume; ``infer``: MONAI's sliding_window_inference, or None."""
    volume = nuclei(shape, seed=2)[0]
    ours = Predictor(model, device="cpu", precision="fp32", tile=args.tile, context=0,
                     overlap=args.overlap, batch_size=args.batch)  # fmt: skip
    grid = ours.plan(shape)
    steps = tuple(s[1] - s[0] if len(s) > 1 else t for s, t in zip(grid.starts, grid.tile_out))
    roi = tuple(grid.tile_in)
    row = dict(shape=shape, roi=roi, tiles=len(grid),
               ours=best_of(args.repeats, lambda: ours(volume)))  # fmt: skip
    default = Predictor(model, device="cpu", precision="fp32")
    plan = default.plan(shape)
    row.update(default=best_of(args.repeats, lambda: default(volume)), default_tiles=len(plan),
               default_tile=plan.tile_in, default_margin=plan.contexts)  # fmt: skip
    if infer is None:
        return row
    overlap = monai_overlap(roi, steps)

    def monai(net: Probabilities) -> np.ndarray:
        return monai_segment(infer, net, volume, roi, overlap, args.batch, args.monai_mode)

    plain = Probabilities(model)
    row["monai"] = best_of(args.repeats, lambda: monai(plain))
    fmt = torch.channels_last_3d
    formed = Probabilities(inference_form(model, memory_format=fmt), fmt)
    row["monai_form"] = best_of(args.repeats, lambda: monai(formed))
    plain.tiles = 0
    p_monai = monai(plain)[1]
    row["monai_tiles"] = plain.tiles
    row["diff"] = float(np.abs(ours(volume)[1] - p_monai).mean())
    return row


def monai_version() -> str | None:
    try:
        import monai
    except ImportError:
        return None
    return monai.__version__


def print_speed_table(rows: list[dict], args) -> None:
    version = monai_version()
    print(f"\n### 3-D inference speed: Predictor against MONAI sliding_window_inference, "
          f"best of {args.repeats}\n")  # fmt: skip
    print(f"- network: fresh 3-D U-Net '{args.speed_size}' (isotropic, untrained: speed only), "
          f"fp32, batch {args.batch}; tiles of {args.tile} voxels with {args.overlap} voxels of "
          "overlap, no discarded context, tile steps matched (tile counts below)")  # fmt: skip
    print(f"- MONAI: {'MONAI ' + version if version else NO_MONAI}; mode '{args.monai_mode}', "
          "ROI = the Predictor's tile, overlap fraction giving the same steps; 'plain net' is the "
          "U-Net module as built (eval), 'net form' the Predictor's inference form "
          "(folded batch norm, fused conv+ReLU, channels-last)")  # fmt: skip
    print("- Predictor defaults: what a user gets, not equal work: the tile from the memory "
          "budget, batch 1 on a CPU, context from the receptive field discarded around each "
          "tile's output (tiles and context per side shown)")  # fmt: skip
    print("- Mvox/s = voxels of the volume / best seconds (after one untimed warm-up run), "
          "z-scoring included; mean abs dp = mean absolute difference of the foreground "
          "probability, Predictor vs MONAI plain net (blending, border padding and the last "
          "tile's position differ)\n")  # fmt: skip
    cols = ["volume", "tile (in)", "tiles ours / MONAI", "Predictor Mvox/s", "MONAI plain net",
            "MONAI net form", "Predictor speed-up vs MONAI plain", "mean abs dp",
            "Predictor defaults Mvox/s (tile, tiles, context)"]  # fmt: skip
    print("| " + " | ".join(cols) + " |")
    print("|---" * len(cols) + "|")
    for r in rows:
        voxels = float(np.prod(r["shape"])) / 1e6
        ours = f"{voxels / r['ours']:.3f}"
        default = (f"{voxels / r['default']:.3f} ({' x '.join(map(str, r['default_tile']))}, "
                   f"{r['default_tiles']}, {' x '.join(map(str, r['default_margin']))})")
        if "monai" in r:
            monai = [f"{r['tiles']} / {r['monai_tiles']}", ours,
                     f"{voxels / r['monai']:.3f}", f"{voxels / r['monai_form']:.3f}",
                     f"{r['monai'] / r['ours']:.2f}x", f"{r['diff']:.4f}"]  # fmt: skip
        else:
            monai = [f"{r['tiles']} / -", ours, NO_MONAI, "-", "-", "-"]
        print(f"| {' x '.join(map(str, r['shape']))} | {' x '.join(map(str, r['roi']))} | "
              + " | ".join(monai) + f" | {default} |")  # fmt: skip


# ---- main -------------------------------------------------------------------------------------
def load_line() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=8.0,
                        help="training budget of each model (wall clock)")  # fmt: skip
    parser.add_argument("--datasets", nargs="+", default=["isbi", "nuclei", "cells3d"])
    parser.add_argument("--parts", nargs="+", default=["train", "speed"],
                        choices=["train", "speed"])  # fmt: skip
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", default="medium", choices=list(volumes.SIZES))
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                        help="training and segmenting in part 1 (part 2 is fp32)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tile", type=int, default=64)
    parser.add_argument("--overlap", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--speed-size", default="medium", choices=list(volumes.SIZES))
    parser.add_argument("--monai-mode", default="gaussian", choices=["gaussian", "constant"])
    parser.add_argument("--smoke", action="store_true",
                        help="tiny volumes, a couple of seconds per model, one repeat: proves "
                             "the script runs, measures nothing")  # fmt: skip
    args = parser.parse_args(argv)
    settings = Settings()
    if args.smoke:
        settings = SMOKE
        args.minutes, args.repeats, args.size, args.speed_size = 0.03, 1, "small", "small"
        args.tile, args.overlap = 16, 8
    torch.set_num_threads(args.threads)
    cpu = platform.processor() or platform.machine()
    print(f"## Volumes from sparse annotation{' (SMOKE: tiny, measures nothing)' if args.smoke else ''}")  # noqa: E501
    print(f"\n{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads, CPU only; {load_line()} at the start")
    if "train" in args.parts:
        cases, skipped = make_cases(args.datasets, args.data, settings)
        for line in skipped:
            print(f"\n{line}")
        with tempfile.TemporaryDirectory() as tmp:
            rows = train_part(cases, args, Path(tmp))
        if cases:
            print_train_table(cases, rows, args)
        print(f"\n{load_line()} after training")
    if "speed" in args.parts:
        rows = speed_part(settings.speed_shapes, args)
        print_speed_table(rows, args)
        print(f"\n{load_line()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
