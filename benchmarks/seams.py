"""Tile seams of the padded U-Net: how far tiled probabilities move from one untiled pass, for
each context (input pixels around a tile whose output is discarded) and overlap (output pixels
blended between neighbours), and what that costs.

    python benchmarks/seams.py [--data ../shared/data] [--tile 256] [--threads 2]

Images: a DRIVE photograph's green channel with the bundled ``drive`` model, a 1024 x 1024
mosaic of ISBI 2012 slices with ``em``; both at their own scale, fp32. The reference is the
whole image as one tile. "max" is the largest difference of the foreground probability more
than 32 px from the image's border, "mask" the share of mask pixels (at 0.5) that flip.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from unet_core.data.io import read_image
from unet_core.inference.predictor import Predictor
from unet_core.model.store import load_model

SETTINGS = [(16, 16), (32, 16), (32, 32), (48, 32), (64, 32), (64, 64), (96, 64), (128, 64)]
BORDER = 32


def images(data: Path) -> list[tuple[str, np.ndarray]]:
    photo = read_image(data / "drive" / "training" / "images" / "37_training.tif")
    slices = [read_image(data / "isbi2012" / "train" / "images" / f"{i:02d}.png")
              for i in range(4)]  # fmt: skip
    mosaic = np.block([slices[:2], slices[2:]])[:1024, :1024]
    return [("drive", photo), ("em", mosaic)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data")  # fmt: skip
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"tile {args.tile} px, fp32, {args.threads} threads; the reference is one tile\n")
    print("| model | context | overlap | tiles | max diff | mean diff | mask flips | time |")
    print("|---|---|---|---|---|---|---|---|")
    for name, image in images(args.data):
        model = load_model(name, "cpu")
        whole = Predictor(model, device="cpu", tile=4096, scale=1.0, precision="fp32")
        ref = whole(image)[1]
        inner = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
        base = None
        for context, overlap in SETTINGS:
            p = Predictor(model, device="cpu", tile=args.tile, context=context, overlap=overlap,
                          scale=1.0, precision="fp32")  # fmt: skip
            p(image)  # warm-up
            start = time.perf_counter()
            prob = p(image)[1]
            seconds = time.perf_counter() - start
            base = base or seconds
            diff = np.abs(prob - ref)[inner]
            flips = np.mean((prob >= 0.5) != (ref >= 0.5))
            tiles = len(p.plan(image.shape[:2]).origins())
            print(f"| {name} | {p.margin // 2} | {p.overlap} | {tiles} | {diff.max():.3f} | "
                  f"{diff.mean():.5f} | {100 * flips:.3f} % | {seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
