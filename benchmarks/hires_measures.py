"""What the finer pass does to the measurements of a finer camera's photographs: the coarse
model of ``benchmarks/hires.py`` (trained at a 214 px FOV) on DRIVE 37-40 as they are (2.5x
its scale), its map made at its own scale and as the tool makes it (fused with the finer
pass), measured like the manual labels (``unet_core.retina.biomarkers``).

    python benchmarks/hires_measures.py --coarse FILE [--data ../shared/data]

Prints a markdown table: mean calibre (px), fractal dimension (skeleton), tortuosity and
segment count, mean over the four photographs.
"""

from __future__ import annotations

import argparse

import numpy as np

KEYS = ("calibre_px", "fractal_dimension", "tortuosity", "segments")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coarse", required=True, help="the coarse model (benchmarks/hires.py)")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    from unet_core.data import drive
    from unet_core.formats.store import load_model
    from unet_core.inference.predictor import Predictor
    from unet_core.retina.biomarkers import measure_photograph

    torch.set_num_threads(args.threads)
    model = load_model(args.coarse, device="cpu")
    auto = Predictor(model, device="cpu")
    rows: dict[str, list] = {}
    for d in drive.load_drive(f"{args.data}/drive", drive.VAL_IDS):
        own = Predictor(model, device="cpu", scale=auto.scale_for(d.image))
        maps = {"manual labels": d.labels > 0, "model's own scale": own(d.image)[1] >= 0.5,
                "fused with the finer pass (default)": auto(d.image)[1] >= 0.5}  # fmt: skip
        for name, mask in maps.items():
            values = measure_photograph(mask.astype(np.uint8), d.fov, d.image, None)
            rows.setdefault(name, []).append([values[k] for k in KEYS])
    print("| map | " + " | ".join(KEYS) + " |\n|---|" + "---|" * len(KEYS))
    for name, values in rows.items():
        mean = np.mean(values, axis=0)
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in mean) + " |")


if __name__ == "__main__":
    main()
