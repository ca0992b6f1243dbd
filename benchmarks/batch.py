"""Batch segmentation on this machine: files per minute with the bundled models, and peak
memory when a huge TIFF is streamed band by band.

    python benchmarks/batch.py [--copies 4] [--huge 16384] [--threads 2]

The throughput part segments copies of the bundled sample images (the fundus photograph at
its automatic scale with vessel measurements, the EM crop). The memory part writes a synthetic
``--huge`` x ``--huge`` uint8 TIFF (tiled, zlib) tile by tile, then segments it with the EM
model in a fresh process and reports that process's peak resident memory, next to what the
in-memory path would need for the probabilities alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = {"drive": ROOT / "sample_data" / "fundus_retina.jpg",
           "em": ROOT / "sample_data" / "em_isbi2012_test00_crop.png"}  # fmt: skip


def throughput(model: str, copies: int, workdir: Path) -> dict:
    from unet_core.batch import BatchRun

    folder = workdir / model
    folder.mkdir()
    sample = SAMPLES[model]
    for i in range(copies):
        shutil.copy(sample, folder / f"{i:03d}{sample.suffix}")
    run = BatchRun(folder, workdir / f"{model}_out", model=model, device="cpu")
    start = time.perf_counter()
    results = list(run)
    seconds = time.perf_counter() - start
    ok = [r for r in results if r.status == "ok"]
    from unet_core.data.io import read_image

    shape = read_image(sample).shape
    return {"model": model, "image": f"{sample.name} {shape[1]}x{shape[0]}", "files": len(ok),
            "seconds": seconds, "per_minute": 60 * len(ok) / seconds}  # fmt: skip


def write_huge(path: Path, size: int, tile: int = 512) -> None:
    """A synthetic EM-like texture, written tile by tile (never whole in memory)."""
    import tifffile
    from scipy import ndimage

    rng = np.random.default_rng(0)

    def tiles():
        for _ in range(0, size, tile):
            for _ in range(0, size, tile):
                noise = ndimage.gaussian_filter(rng.random((tile, tile), np.float32), 3)
                yield (np.clip((noise - 0.5) * 1500 + 128, 0, 255)).astype(np.uint8)

    tifffile.imwrite(path, tiles(), shape=(size, size), dtype=np.uint8, tile=(tile, tile),
                     compression="zlib", bigtiff=True)  # fmt: skip


def huge_child(path: str, out: str, threads: int) -> None:
    """Runs in a fresh process: segment ``path`` and print the peak RSS as JSON."""
    import resource

    import torch

    from unet_core.batch import BatchRun

    torch.set_num_threads(threads)
    run = BatchRun(path, out, model="em", device="cpu")
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    (result,) = list(run)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"status": result.status, "reason": result.reason, "seconds": seconds,
                      "peak": peak, "baseline": baseline}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--huge", type=int, default=16384, help="edge of the huge image (0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        huge_child(*args.child, args.threads)
        return
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="napari-unet-bench-") as tmp:
        work = Path(tmp)
        rows = [throughput(m, args.copies, work) for m in ("drive", "em")]
        print(f"Batch throughput, CPU, {args.threads} threads, {args.copies} copies per model:\n")
        print("| model | image | files | seconds | files / minute |\n|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['model']} | {r['image']} | {r['files']} | {r['seconds']:.1f} | "
                  f"{r['per_minute']:.1f} |")  # fmt: skip
        if not args.huge:
            return
        huge = work / "huge.tif"
        t = time.perf_counter()
        write_huge(huge, args.huge)
        print(
            f"\nwrote a {args.huge} x {args.huge} uint8 TIFF "
            f"({huge.stat().st_size / 2**20:.0f} MiB on disk) in {time.perf_counter() - t:.0f} s"
        )
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(huge), str(work / "huge_out"),
             "--threads", str(args.threads)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        r = json.loads(out.stdout.strip().splitlines()[-1])
        mask = work / "huge_out" / "huge_mask.tif"
        gib = 2**30
        prob_bytes = 2 * 4 * args.huge**2
        print(f"\n| {args.huge} x {args.huge} (EM model) | value |\n|---|---|")
        print(f"| status | {r['status']} ({r['reason']}) |")
        print(f"| seconds | {r['seconds']:.0f} ({args.huge**2 / r['seconds'] / 1e6:.2f} MPix/s) |")
        print(f"| peak RSS of the process | {r['peak'] / gib:.2f} GiB |")
        print(
            f"| of which before segmenting (Python, torch, model) | {r['baseline'] / gib:.2f} GiB |"
        )
        print(f"| image, uint8, if loaded | {args.huge**2 / gib:.2f} GiB |")
        print(f"| probabilities, float32, if held in memory | {prob_bytes / gib:.2f} GiB |")
        print(f"| mask written | {mask.stat().st_size / gib:.2f} GiB |")


if __name__ == "__main__":
    main()
