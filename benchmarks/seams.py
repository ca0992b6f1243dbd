"""Tile seams of the padded U-Net: how far tiled probabilities move from one untiled pass, for
each context (input pixels around a tile whose output is discarded) and overlap (output pixels
blended between neighbours), and what that costs.

    python benchmarks/seams.py [--data ../shared/data] [--tiles 512 1280] [--threads 2]

Image: a 2048 x 2048 mosaic of ISBI 2012 slices with the bundled ``em`` model, fp32 (fundus
photographs are resampled to a 536-px field of view first, so at the default tile of 1280 px
on a CPU they are one tile and have no seams). The reference is the whole image as one tile.
"max" is the largest difference of the membrane probability more than 32 px from the image's
border, "mask" the share of mask pixels (at 0.5) that flip; time relative to the first row (the
predictor's defaults: context from the receptive field, capped by the tile).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from unet_core.data.io import read_image
from unet_core.formats.store import load_model
from unet_core.inference.predictor import Predictor

SETTINGS = [(16, 16), (32, 16), (32, 32), (64, 32), (64, 64), (96, 64), (128, 64), (256, 64)]
BORDER = 32


def mosaic(data: Path) -> np.ndarray:
    slices = [read_image(data / "isbi2012" / "train" / "images" / f"{i:02d}.png")
              for i in range(16)]  # fmt: skip
    return np.block([slices[4 * r : 4 * r + 4] for r in range(4)])[:2048, :2048]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    data = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--data", type=Path, default=data)
    parser.add_argument("--tiles", type=int, nargs="+", default=[512, 1280])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = mosaic(args.data)
    model = load_model("em", "cpu")
    # one tile, with 256 px of mirrored context on every side like the widest setting below
    ref = Predictor(model, device="cpu", tile=4096, context=256, scale=1.0,
                    precision="fp32")(image)[1]  # fmt: skip
    inner = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
    print(
        f"em on {image.shape[0]} x {image.shape[1]}, fp32, {args.threads} threads; the "
        "reference is one tile\n"
    )
    print("| tile | context | overlap | tiles | max diff | mean diff | mask flips | time |")
    print("|---|---|---|---|---|---|---|---|")
    for tile in args.tiles:
        base = None
        for context, overlap in [(None, None), *SETTINGS]:
            if context is not None and tile - 2 * context - overlap < tile // 4:
                continue  # tiles of mostly context: skipped
            p = Predictor(model, device="cpu", tile=tile, context=context, overlap=overlap,
                          scale=1.0, precision="fp32")  # fmt: skip
            start = time.perf_counter()
            prob = p(image)[1]
            seconds = time.perf_counter() - start
            base = base or seconds
            diff = np.abs(prob - ref)[inner]
            flips = np.mean((prob >= 0.5) != (ref >= 0.5))
            tiles = len(p.plan(image.shape[:2]).origins())
            what = "default " if context is None else ""
            print(f"| {p.tile} | {what}{p.margin // 2} | {p.overlap} | {tiles} | "
                  f"{diff.max():.3f} | {diff.mean():.5f} | {100 * flips:.3f} % | "
                  f"{seconds / base:.2f}x |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
