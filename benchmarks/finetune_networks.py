"""Fine-tuning rounds per network: the plain U-Net against the ResNet encoders, in the same run.

Each network is first trained from scratch on simulated fluorescence nuclei (the own-data
recipe, ``--minutes`` on 2 threads, as ``napari-unet train --size NETWORK`` does), then
fine-tuned, as the paint-and-retrain loop does, on an image it never saw: nuclei half as large
with another seed. The left half carries scribbles (``finetune.scribbles``: a few strokes on
nuclei and on background), the right half is scored (foreground IoU) before the round and
after rounds of ``--budgets`` seconds, each run as the loop runs a scribbles round
(``unet_core.loop.rounds.round_job``: the strokes completed by the live head where it is sure)
and, beside it, on the strokes alone (``finetune``); the steps each round made are the
network's speed.

    python benchmarks/finetune_networks.py [--networks medium resnet18 resnet34]
        [--minutes 2] [--budgets 10 30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile
import torch

sys.path.insert(0, str(Path(__file__).parent))
from finetune import iou, nuclei_image, recipe, scribbles  # noqa: E402

from unet_core.base.jobs import drain  # noqa: E402
from unet_core.base.labels import IGNORE_LABEL  # noqa: E402
from unet_core.data.folders import load_folders  # noqa: E402
from unet_core.loop.rounds import RoundData, round_job  # noqa: E402
from unet_core.training.own_data import train  # noqa: E402


def trained(network: str, root: Path, minutes: float):
    image, labels = nuclei_image(512, seed=3)
    for sub, array in (("images", image), ("labels", labels.astype(np.uint8))):
        (root / sub).mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(root / sub / "n.tif", array)
    data = load_folders(root / "images", root / "labels", ["background", "nucleus"])
    result = train(data, root / network, minutes=minutes, device="cpu", size=network, threads=2)
    return result.model, result.steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", nargs="+", default=["medium", "resnet18", "resnet34"])
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--budgets", type=float, nargs="+", default=[10, 30])
    args = ap.parse_args()
    torch.set_num_threads(2)
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"torch {torch.__version__}, 2 threads, load average at start {load}; no ImageNet "
          "file (none on this machine, nothing downloaded)\n")
    image, truth = nuclei_image(512, seed=11, scale=0.5)
    left = np.zeros(truth.shape, bool)
    left[:, :256] = True
    strokes = scribbles(truth, left, np.random.default_rng(0))
    print("| network | training steps | IoU before | round (s) | loop round: steps | IoU after "
          "| strokes alone: steps | IoU after |")
    print("|---|---|---|---|---|---|---|---|")
    for network in args.networks:
        with tempfile.TemporaryDirectory() as tmp:
            model, steps = trained(network, Path(tmp), args.minutes)
        before, _ = iou(model, image, truth, ~left)
        for seconds in args.budgets:
            data = RoundData("p", image, strokes, strokes != IGNORE_LABEL, strokes, sparse=True)
            looped = drain(round_job(model, [data], parent="base", seconds=seconds,
                                     device="cpu", threads=2))  # fmt: skip
            guided, _ = iou(looped.model, image, truth, ~left)
            new, made, _ = recipe(model, image, strokes, seconds)
            after, _ = iou(new, image, truth, ~left)
            print(f"| {network} | {steps} | {before:.3f} | {seconds:g} | {looped.steps} | "
                  f"**{guided:.3f}** | {made} | {after:.3f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
