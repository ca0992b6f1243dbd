"""Inference near this CPU's limit, in one run: the measured GEMM peaks (fp32, bf16), each
bundled model's forward GFLOP/s and its share of the fp32 peak, ``predict`` in fp32 and bf16
(effective GFLOP/s: the network's FLOPs per pixel times the image's pixels, over the time),
MONAI's ``sliding_window_inference`` at our tile and overlap and at its defaults, the seams of
the default tiling, and the end-to-end time of ``napari-unet segment`` on both samples against
``import torch``. Contenders are interleaved; medians of ``--repeats``. MONAI is needed for its
rows only (``pip install monai``); ``--big N`` adds the peak memory of an N x N image.

    python benchmarks/tiling.py [--repeats 5] [--big 0]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from unet_core import Predictor, UNet
from unet_core.base.precision import autocast
from unet_core.data.io import read_image
from unet_core.data.preprocess import preprocess
from unet_core.formats.store import load_model
from unet_core.model.fused import inference_form
from unet_core.tasks import sample_path

ROOT = Path(__file__).resolve().parents[1]


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def median_of(contenders: dict, repeats: int) -> dict:
    """Seconds of each contender (name -> callable), run in turn ``repeats`` times: medians."""
    times = {k: [] for k in contenders}
    for fn in contenders.values():
        fn()  # warm-up: oneDNN builds its kernels on the first call of a shape
    for _ in range(repeats):
        for k, fn in contenders.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def gemm_peaks(repeats: int, n: int = 2048) -> dict:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a16, b16 = a.bfloat16(), b.bfloat16()
    t = median_of({"fp32": lambda: torch.mm(a, b), "bf16": lambda: torch.mm(a16, b16)}, repeats)
    return {k: 2 * n**3 / v / 1e9 for k, v in t.items()}


def flops_per_pixel(model: UNet, edge: int = 512) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, model.in_channels, edge, edge)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops() / model.output_size(edge) ** 2


def monai(model: UNet, x: torch.Tensor, tile: int, overlap: float, precision: str):
    from monai.inferers import sliding_window_inference

    def network(t):
        with autocast(torch.device("cpu"), precision):
            return torch.softmax(model(t).float(), 1)

    def run():
        with torch.inference_mode():
            return sliding_window_inference(x, (tile, tile), 1, network, overlap=overlap)

    return run


def tile_forwards(model: UNet) -> dict:
    """One 1024 x 1024 tile's forward, in fp32 and bf16: the model as trained (eager, bf16 by
    autocast; what ``predict`` ran before), its inference form (what it runs now), and that
    form unfused, traced and frozen by ``torch.jit`` (freezing folds and fuses on its own)."""
    x = torch.zeros(1, model.in_channels, 1024, 1024).contiguous(memory_format=torch.channels_last)
    net = model.to(memory_format=torch.channels_last).eval()
    out = {}
    for p in ("fp32", "bf16"):
        dtype = torch.bfloat16 if p == "bf16" else torch.float32
        form, xd = inference_form(net, dtype), x.to(dtype)
        with torch.no_grad():
            frozen = torch.jit.freeze(torch.jit.trace(inference_form(net, dtype, fuse=False), xd,
                                                      check_trace=False))  # fmt: skip

        def eager(p=p):
            with torch.inference_mode(), autocast(torch.device("cpu"), p):
                return net(x)

        def run(f=form, xd=xd):
            with torch.inference_mode():
                return f(xd)

        out[f"forward {p}, as trained (eager{', autocast' if p == 'bf16' else ''})"] = eager
        out[f"forward {p}, inference form"] = run
        out[f"forward {p}, traced + frozen"] = lambda f=frozen, xd=xd: run(f, xd)
    return out


def images() -> dict:
    em = read_image(sample_path("em"))
    return {"em": np.tile(em, (8, 8)), "drive": read_image(sample_path("fundus"))}


def model_rows(peaks: dict, repeats: int) -> list[str]:
    rows = ["| model | image | contender | s | GFLOP/s | of fp32 peak | mask pixels changed |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, image in images().items():
        model = load_model(name, "cpu")
        fpp = flops_per_pixel(model)
        ps = {p: Predictor(model, device="cpu", scale=1.0, precision=p) for p in ("fp32", "bf16")}
        masks = {p: ps[p](image)[1] >= 0.5 for p in ps}
        contenders = {f"predict {p}": (lambda p=ps[p], im=image: p(im)) for p in ps}
        tile = ps["fp32"].tile
        try:  # MONAI gets the normalised image
            x = torch.from_numpy(preprocess(image, model.card.preprocessing))[None]
            ov = ps["fp32"].overlap / tile
            contenders["MONAI, our tile and overlap, fp32"] = monai(model, x, tile, ov, "fp32")
            contenders["MONAI defaults (overlap 0.25), fp32"] = monai(model, x, tile, 0.25, "fp32")
        except ImportError:
            pass
        seconds = median_of(contenders, repeats)
        pixels = image.shape[0] * image.shape[1]
        what = f"{image.shape[0]} x {image.shape[1]}"
        changed = f"{100 * np.mean(masks['fp32'] != masks['bf16']):.3f} %"
        for k, t in seconds.items():
            gflops = fpp * pixels / t / 1e9
            note = changed if "bf16" in k else ""
            rows.append(f"| {name} | {what} | {k} | {t:.2f} | {gflops:.0f} | "
                        f"{gflops / peaks['fp32']:.2f} | {note} |")  # fmt: skip
        forward = median_of(tile_forwards(model), repeats)
        for k, t in forward.items():  # one tile's forward alone, no tiling around it
            g = fpp * model.output_size(1024) ** 2 / t / 1e9
            rows.append(f"| {name} | one 1024 x 1024 tile | {k} | {t:.3f} | {g:.0f} | "
                        f"{g / peaks['fp32']:.2f} | |")  # fmt: skip
    return rows


def seam_rows() -> list[str]:
    model, image = load_model("em", "cpu"), images()["em"]
    ref = Predictor(model, device="cpu", tile=4096, context=256, scale=1.0, precision="fp32")
    ref = ref(image)[1]
    rows = ["| tiling (em, 2048 x 2048, tile 1280) | max difference from one pass |", "|---|---|"]
    for what, kw in (("default", {}), ("previous default (16/16)", dict(context=16, overlap=16))):
        p = Predictor(model, device="cpu", tile=1280, scale=1.0, precision="fp32", **kw)
        diff = np.abs(p(image)[1] - ref)[32:-32, 32:-32].max()
        rows.append(f"| {what} | {diff:.3f} |")
    return rows


def end_to_end(repeats: int) -> list[str]:
    cli = [sys.executable, "-m", "unet_core", "segment", "--out", "/tmp/napari-unet-bench",
           "--overwrite"]  # fmt: skip
    runs = {"import torch": [sys.executable, "-c", "import torch"],
            "segment fundus sample": [*cli, str(sample_path("fundus")), "--model", "drive"],
            "segment EM sample": [*cli, str(sample_path("em")), "--model", "em"]}  # fmt: skip
    t = median_of({k: (lambda c=c: subprocess.run(c, capture_output=True, check=True))
                   for k, c in runs.items()}, repeats)  # fmt: skip
    rows = ["| command | s | x import torch |", "|---|---|---|"]
    rows += [f"| {k} | {v:.2f} | {v / t['import torch']:.2f} |" for k, v in t.items()]
    return rows


def peak_memory(base: int, size: int) -> dict:
    """Run a prediction of a size x size uint8 image in a fresh process; report its peak RSS."""
    code = f"""
import json, time, numpy as np, torch
from unet_core import UNet, Predictor
torch.manual_seed(0)
model = UNet(base_channels={base}, depth=4).eval()
image = np.zeros(({size}, {size}), np.uint8)
rng = np.random.default_rng(0)
for y in range(0, {size}, 256):
    image[y : y + 256] = rng.integers(0, 255, image[y : y + 256].shape, dtype=np.uint8)
def status(key):  # this process's own memory in bytes (ru_maxrss would include the parent's)
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
base_rss = status("VmRSS")
p = Predictor(model, device="cpu")
t = time.perf_counter()
out = p(image)
print(json.dumps(dict(seconds=time.perf_counter() - t, base=base_rss,
    peak=status("VmHWM"), out=out.nbytes,
    image=image.nbytes, tiles=len(p.plan(image.shape)), tile=p.tile)))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="medians of this many runs")
    ap.add_argument("--big", type=int, default=0, help="edge of a memory test image (0: skip)")
    args = ap.parse_args()
    torch.manual_seed(0)
    peaks = gemm_peaks(args.repeats)
    print(f"CPU, {torch.get_num_threads()} threads; torch.mm 2048^2: fp32 {peaks['fp32']:.0f} "
          f"GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s\n")  # fmt: skip
    for rows in (model_rows(peaks, args.repeats), seam_rows(), end_to_end(args.repeats)):
        print("\n".join(rows) + "\n", flush=True)
    if args.big:
        m = peak_memory(16, args.big)
        gib = 1 << 30
        print(f"{args.big}x{args.big} uint8 image, {m['tiles']} tiles of {m['tile']}: "
              f"{m['seconds']:.0f} s; peak RSS {m['peak'] / gib:.2f} GiB (baseline "
              f"{m['base'] / gib:.2f}, output {m['out'] / gib:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
