"""Vessel segmentation across simulated cameras: DRIVE validation images (ids 37-40) and their
labels resized so that the field of view (FOV) is 300, 540 (DRIVE's own), 800 or 1500 px
across, with and without JPEG compression, segmented with automatic scale on and off.

    python benchmarks/resolution.py [--model drive] [--data ../shared/data] [--quality 75]

Use a model that did not train on ids 37-40 (``napari-unet train --preset drive --split val``)
for honest figures; the bundled ``drive`` model trained on them. Prints a markdown table of
mean F1 and AUC inside the FOV at each resolution.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np

DIAMETERS = (300, None, 800, 1500)  # None: DRIVE as it is (FOV about 540 px)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def simulate(d, diameter: float, quality: int | None):
    """(image, labels, fov) of a DRIVE image as another camera with that FOV would see it
    (vessel labels as bool; artery/vein labels as their classes)."""
    from unet_core.base.arrays import resize
    from unet_core.tasks.fov import fov_diameter

    typed = d.labels.max() > 1  # artery/vein labels: kept as classes
    if diameter is None:
        image = jpeg(d.image, quality) if quality else d.image
        return image, d.labels if typed else d.labels > 0, d.fov
    f = diameter / fov_diameter(d.fov)
    H, W = d.labels.shape
    size = (round(H * f), round(W * f))
    image = np.clip(resize(d.image, size) + 0.5, 0, 255).astype(np.uint8)
    if typed:
        labels = resize(d.labels.astype(np.float32), size, order=0).astype(d.labels.dtype)
    else:
        labels = resize(d.labels.astype(np.float32), size) >= 0.5
    fov = resize(d.fov.astype(np.float32), size) >= 0.5
    if quality:
        image = jpeg(image, quality)
    return image, labels, fov


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="drive")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--quality", type=int, default=75, help="JPEG quality of the JPEG rows")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    from unet_core.data import drive
    from unet_core.formats.store import load_model
    from unet_core.inference.predictor import Predictor
    from unet_core.metrics import binary_metrics

    torch.set_num_threads(args.threads)
    model = load_model(args.model, device="cpu")
    data = drive.load_drive(f"{args.data}/drive", drive.VAL_IDS)
    auto = Predictor(model, device="cpu", scale="auto")
    fixed = Predictor(model, device="cpu", scale=1.0)
    start = time.perf_counter()
    print(f"model {args.model} (trained at FOV {model.card.scale.get('fov_diameter')} px), "
          f"DRIVE ids {', '.join(map(str, drive.VAL_IDS))}, mean over images:\n")  # fmt: skip
    print("| FOV diameter | JPEG | F1 auto scale | F1 native | AUC auto scale | AUC native | "
          "scale used |\n|---|---|---|---|---|---|---|")  # fmt: skip
    for diameter in DIAMETERS:
        for quality in (None, args.quality):
            rows = {"auto": [], "native": []}
            factors = []
            for d in data:
                image, labels, fov = simulate(d, diameter, quality)
                for name, predictor in (("auto", auto), ("native", fixed)):
                    prob = predictor(image)[1]
                    rows[name].append(binary_metrics(prob >= 0.5, labels, prob=prob, roi=fov))
                    if name == "auto":
                        factors.append(predictor.scale_for(image))
            mean = {k: {m: np.mean([r[m] for r in v]) for m in ("f1", "auc")}
                    for k, v in rows.items()}  # fmt: skip
            q = f"q{quality}" if quality else "no"
            size = diameter or "DRIVE (540)"
            print(f"| {size} | {q} | {mean['auto']['f1']:.3f} | {mean['native']['f1']:.3f} | "
                  f"{mean['auto']['auc']:.3f} | {mean['native']['auc']:.3f} | "
                  f"{np.mean(factors):.2f} |", flush=True)  # fmt: skip
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
