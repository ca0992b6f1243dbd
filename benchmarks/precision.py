"""fp32 against bf16 (the predictor's bf16 inference form; autocast in training): the metrics
on real validation images and the time of a ``predict``, contenders interleaved in one process
(medians).

    python benchmarks/precision.py [--data ../shared/data] [--drive MODEL] [--em MODEL]
                                   [--threads 2] [--repeats 5]

Training: steps per second of the trainer's step in fp32 and in bf16 mixed precision.
Quality: DRIVE ids 37-40 (F1 and AUC inside the FOV, first observer) with ``--drive`` (give
the validation model of the shipped recipe, trained on 21-36; default the bundled ``drive``),
ISBI 2012 slices 20-24 (adapted Rand error, pixel error, variation of information) with
``--em`` (default the bundled ``em``). Speed: ``predict`` on a DRIVE photograph and on a
2048 x 2048 EM mosaic, fp32 and bf16 in turn. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from unet_core.base.precision import cpu_flags, native_bf16
from unet_core.data.io import read_image
from unet_core.evaluate import evaluate_model
from unet_core.formats.store import load_model
from unet_core.inference.predictor import Predictor

PRECISIONS = ("fp32", "bf16")


def quality(args) -> list[str]:
    data = Path(args.data)
    drive, isbi = data / "drive" / "training", data / "isbi2012" / "train"
    cases = [
        ("DRIVE 37-40", args.drive, (drive / "images", drive / "1st_manual", drive / "mask"),
         [37, 38, 39, 40], ("f1", "auc")),
        ("ISBI 20-24", args.em, (isbi / "images", isbi / "labels", None), [20, 21, 22, 23, 24],
         ("rand_error", "pixel_error", "vi")),
    ]  # fmt: skip
    rows = ["| data | model | metric | fp32 | bf16 | bf16 - fp32 |", "|---|---|---|---|---|---|"]
    for name, model_name, (images, labels, fov), ids, metrics in cases:
        model = load_model(model_name, "cpu")
        means = {}
        for precision in PRECISIONS:
            table = evaluate_model(model, images, labels, fov, ids=ids, device="cpu",
                                   precision=precision)  # fmt: skip
            means[precision] = table[-1]
        for m in metrics:
            a, b = means["fp32"][m], means["bf16"][m]
            rows.append(f"| {name} | {model_name} | {m} | {a:.4f} | {b:.4f} | {b - a:+.4f} |")
    return rows


def speed(args) -> list[str]:
    data = Path(args.data)
    photo = read_image(data / "drive" / "training" / "images" / "37_training.tif")
    slices = [read_image(data / "isbi2012" / "train" / "images" / f"{i:02d}.png")
              for i in range(16)]  # fmt: skip
    mosaic = np.block([slices[4 * r : 4 * r + 4] for r in range(4)])[:2048, :2048]
    cases = [("drive", photo, "DRIVE photograph 565 x 584"), ("em", mosaic, "EM 2048 x 2048")]
    rows = ["| input | model | fp32 s | bf16 s | speed-up | mask pixels changed |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for model_name, image, what in cases:
        model = load_model(model_name, "cpu")
        predictors = {p: Predictor(model, device="cpu", precision=p) for p in PRECISIONS}
        probs = {p: predictors[p](image) for p in PRECISIONS}  # warm-up, and the masks
        times = {p: [] for p in PRECISIONS}
        for _ in range(args.repeats):
            for p in PRECISIONS:
                start = time.perf_counter()
                predictors[p](image)
                times[p].append(time.perf_counter() - start)
        t32, t16 = (statistics.median(times[p]) for p in PRECISIONS)
        changed = np.mean((probs["fp32"][1] >= 0.5) != (probs["bf16"][1] >= 0.5))
        rows.append(f"| {what} | {model_name} | {t32:.2f} | {t16:.2f} | {t32 / t16:.2f}x | "
                    f"{100 * changed:.3f} % |")  # fmt: skip
    return rows


def training(args) -> list[str]:
    """Steps per second of the trainer's own step (batch 8, 128 x 128 patches), both bundled
    architectures, fp32 and bf16 mixed precision in turn."""
    from unet_core.data.datasets import make_sample
    from unet_core.training.config import TrainConfig
    from unet_core.training.trainer import Trainer

    rng = np.random.default_rng(0)
    images = rng.random((8, 1, 128, 128), dtype=np.float32)
    labels = (rng.random((8, 128, 128)) > 0.8).astype(np.int64)
    rows = ["| network | fp32 steps/s | bf16 steps/s | speed-up |", "|---|---|---|---|"]
    for name in ("drive", "em"):
        model = load_model(name, "cpu")
        sample = make_sample(images[0, 0], labels[0], model.card.preprocessing)
        trainers = {}
        for p in PRECISIONS:
            config = TrainConfig(steps=10**6, patch=128, loss="ce", precision=p)
            net = type(model)(**model.config)
            net.load_state_dict(model.state_dict())
            trainers[p] = Trainer(net, [sample], config, device="cpu")
            trainers[p].train_step(images, labels)  # warm-up
        times = {p: [] for p in PRECISIONS}
        for _ in range(args.repeats + 3):
            for p in PRECISIONS:
                start = time.perf_counter()
                trainers[p].train_step(images, labels)
                times[p].append(time.perf_counter() - start)
        t32, t16 = (statistics.median(times[p]) for p in PRECISIONS)
        rows.append(f"| {name} ({model.num_parameters() / 1e6:.2f} M) | {1 / t32:.2f} | "
                    f"{1 / t16:.2f} | {t32 / t16:.2f}x |")  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared"
                                              / "data"))  # fmt: skip
    parser.add_argument("--drive", default="drive", help="vessel model (name or file)")
    parser.add_argument("--em", default="em", help="membrane model (name or file)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    bf16 = sorted({"avx512_bf16", "amx_bf16"} & cpu_flags())
    print(
        f"torch {torch.__version__}, {args.threads} threads, native bf16 on this CPU: "
        f"{native_bf16(cpu)} ({', '.join(bf16) or 'no avx512_bf16/amx_bf16'})",
        file=sys.stderr,
    )
    print("\n".join(quality(args)) + "\n")
    print("\n".join(speed(args)) + "\n")
    print("\n".join(training(args)))


if __name__ == "__main__":
    main()
