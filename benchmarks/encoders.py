"""The networks a user's training can make, side by side on this CPU: parameters, the work of
one forward pass (GFLOP, counted by torch's FlopCounterMode), training steps a second at the
own-data recipe's batch (8 patches of 128 px, Adam, cross-entropy, fp32 and bf16 autocast), and
prediction throughput (GFLOP/s and seconds for a 1024 x 1024 image through the Predictor).

    python benchmarks/encoders.py [--networks small medium large resnet18 resnet34 resnet50]
        [--steps 12] [--threads 2]

Run it on an idle machine: the load average at the start is printed with the table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from unet_core.base.precision import autocast
from unet_core.inference.predictor import Predictor
from unet_core.model.build import build_model
from unet_core.model.card import ModelCard, Preprocessing
from unet_core.training.recipe import architecture


def gflop(model, size: int) -> float:
    """GFLOP of one forward pass over a (1, C, size, size) input."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, model.in_channels, size, size))
    return counter.get_total_flops() / 1e9


def steps_per_second(model, steps: int, precision: str) -> float:
    """Training steps a second at batch 8 x 128 px (the first two not timed)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(8, model.in_channels, 128, 128)
    y = torch.randint(0, model.num_classes, (8, 128, 128))
    model.train()
    times = []
    for _ in range(steps + 2):
        start = time.perf_counter()
        with autocast(torch.device("cpu"), precision):
            out = model(x)
        loss = torch.nn.functional.cross_entropy(out.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return 1.0 / float(np.median(times[2:]))


def predict_seconds(model) -> float:
    """Median of three predictions of a 1024 x 1024 image (the first not timed)."""
    model.eval()
    model.card = ModelCard(model.config, Preprocessing("gray"), ["background", "object"])
    predictor = Predictor(model, device="cpu")
    image = (np.random.default_rng(0).random((1024, 1024)) * 255).astype(np.uint8)
    times = []
    for _ in range(4):
        start = time.perf_counter()
        predictor(image)
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", nargs="+",
                    default=["small", "medium", "large", "resnet18", "resnet34", "resnet50"])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = Path("/proc/loadavg").read_text().split()[0]
    print(f"torch {torch.__version__}, {args.threads} threads, load average at start {load}")
    print("| network | parameters (M) | GFLOP / 128 px patch | steps/s fp32 | steps/s bf16 | "
          "predict 1024 px (s) | predict GFLOP/s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name in args.networks:
        torch.manual_seed(0)
        model = build_model(architecture(name, 1, 2))
        params = sum(p.numel() for p in model.parameters()) / 1e6
        patch = gflop(model, 128)
        fp32 = steps_per_second(model, args.steps, "fp32")
        bf16 = steps_per_second(model, args.steps, "bf16")
        seconds = predict_seconds(model)
        rate = gflop(model, 1024) / seconds
        print(f"| {name} | {params:.1f} | {patch:.2f} | {fp32:.2f} | {bf16:.2f} | "
              f"{seconds:.2f} | {rate:.0f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
