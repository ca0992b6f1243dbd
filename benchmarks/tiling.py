"""Overlap-tile inference throughput and memory on this machine.

Prints one table: untiled forward throughput, tiled throughput at the defaults, their ratio, the
ratio against MONAI's ``sliding_window_inference`` (same model, tile, overlap; MONAI is needed for
this benchmark only), and peak memory when segmenting a large image in a subprocess.

    python benchmarks/tiling.py [--size 2048] [--big 8192] [--base 16] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import torch

from unet_core import Predictor, UNet
from unet_core.base.arrays import read_window


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def untiled(model: UNet, image: np.ndarray, repeats: int) -> float:
    """Seconds for one forward pass over the whole mirror-padded image (plus softmax)."""
    H, W = image.shape
    size = [model.valid_input_size(n + model.margin) for n in (H, W)]
    x = read_window(image, -model.margin // 2, -model.margin // 2, *size).astype(np.float32)
    x = torch.from_numpy((x - x.mean()) / x.std())[None, None]
    with torch.inference_mode():
        return best_of(lambda: torch.softmax(model(x), 1)[..., :H, :W].numpy(), repeats)


def monai_time(
    model: UNet, image: np.ndarray, predictor: Predictor, repeats: int, overlap: float | None = None
) -> float | None:
    """MONAI's sliding window over the same model and tile; ``overlap`` None: the same as ours."""
    try:
        from monai.inferers import sliding_window_inference
    except ImportError:
        return None
    grid = predictor.plan(image.shape)
    roi = grid.tile_out
    half = model.margin // 2

    def network(x: torch.Tensor) -> torch.Tensor:  # MONAI needs output size = input size
        x = torch.nn.functional.pad(x, (half, half, half, half), mode="reflect")
        return torch.softmax(model(x), 1)

    x = image.astype(np.float32)
    x = torch.from_numpy((x - x.mean()) / x.std())[None, None]
    mode = "constant" if overlap is None else "gaussian"
    overlap = predictor.overlap / roi[0] if overlap is None else overlap
    with torch.inference_mode():
        return best_of(
            lambda: sliding_window_inference(
                x, roi, predictor.batch_size, network, overlap=overlap, mode=mode
            ).numpy(),
            repeats,
        )


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
    ap.add_argument("--size", type=int, default=2048, help="edge of the throughput image")
    ap.add_argument("--big", type=int, default=8192, help="edge of the memory image (0: skip)")
    ap.add_argument("--base", type=int, default=16, help="base channels of the U-Net")
    ap.add_argument("--repeats", type=int, default=2, help="best of this many runs")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(torch.get_num_threads())
    model = UNet(base_channels=args.base, depth=4, padding="valid").eval()
    image = np.random.default_rng(0).integers(0, 255, (args.size, args.size), dtype=np.uint8)
    mpix = args.size**2 / 1e6
    predictor = Predictor(model, device="cpu")
    grid = predictor.plan(image.shape)
    predictor(image[:300, :300])  # warm-up: the first forward pass builds oneDNN kernels
    t_tiled = best_of(lambda: predictor(image), args.repeats)
    t_whole = untiled(model, image, args.repeats)
    # the default tile's own forward pass, output pixels per second
    x = torch.zeros(predictor.batch_size, 1, *grid.tile_in)
    with torch.inference_mode():
        t_tile = best_of(lambda: torch.softmax(model(x), 1).numpy(), args.repeats)
    tile_rate = predictor.batch_size * grid.tile_out[0] * grid.tile_out[1] / 1e6 / t_tile
    t_monai = monai_time(model, image, predictor, args.repeats)
    t_monai_default = monai_time(model, image, predictor, args.repeats, overlap=0.25)

    print(
        f"U-Net valid padding, depth 4, base {args.base}; {args.size}x{args.size} uint8 image; "
        f"CPU, {torch.get_num_threads()} threads; default tile {grid.tile_in} -> {grid.tile_out},"
        f" {len(grid)} tiles, batch {predictor.batch_size}"
    )
    print()
    print("| measure | MPix/s | ratio |")
    print("|---|---|---|")
    print(f"| untiled: one forward over the whole image | {mpix / t_whole:.3f} | 1.00 |")
    print(
        f"| one default tile, forward only | {tile_rate:.3f} | {tile_rate * t_whole / mpix:.2f} |"
    )
    print(f"| tiled predict() at the defaults | {mpix / t_tiled:.3f} | {t_whole / t_tiled:.2f} |")
    if t_monai is not None:
        print(
            f"| MONAI sliding_window_inference, same tile | {mpix / t_monai:.3f} | "
            f"{t_whole / t_monai:.2f} |"
        )
        print(
            f"| MONAI, same tile, its default overlap 0.25, gaussian | "
            f"{mpix / t_monai_default:.3f}"
            f" | {t_whole / t_monai_default:.2f} |"
        )
        print(
            f"\ntiled / MONAI (same tile and overlap): {t_monai / t_tiled:.2f}x; "
            "tiled / MONAI at "
            f"overlap 0.25: {t_monai_default / t_tiled:.2f}x; tiled / one-tile forward: "
            f"{mpix / t_tiled / tile_rate:.2f}x"
        )
    if args.big:
        m = peak_memory(args.base, args.big)
        gib = 1 << 30
        extra = m["peak"] - m["base"] - m["out"]
        print(
            f"\n{args.big}x{args.big} uint8 image, {m['tiles']} tiles of {m['tile']}: "
            f"{m['seconds']:.0f} s; peak RSS {m['peak'] / gib:.2f} GiB = baseline "
            f"{m['base'] / gib:.2f} + output {m['out'] / gib:.2f} + {extra / gib:.2f} GiB "
            f"(tile batch and buffers; the image itself is {m['image'] / gib:.2f} GiB)"
        )


if __name__ == "__main__":
    main()
