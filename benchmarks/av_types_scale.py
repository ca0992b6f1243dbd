"""One type per vessel segment on a large photograph, its segments found at full size, at the
model's scale, or at the finest pass's scale (``unet_core.retina.types.consistent_types``'s
``scale``; the fundus task uses the finest pass's, the live answer the model's), against each
pixel's own type: DRIVE 37-40 with RITE's artery/vein labels, as they are and enlarged.

    python benchmarks/av_types_scale.py [--model drive-av] [--fovs 0 1000 1400 2000]
        [--data ../shared/data]

The bundled ``drive-av`` saw 37-40: only the columns' differences count (give a model trained
with ``--split val`` for figures that do). Prints a markdown table: artery F1, vein F1, the
artery/vein accuracy on found vessels, and the seconds a map's types take, means over the
photographs.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from resolution import simulate  # benchmarks/resolution.py

RULES = ("each pixel's own", "full size", "model's scale", "finest pass")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="drive-av")
    parser.add_argument("--fovs", type=float, nargs="+", default=[0, 1000, 1400, 2000],
                        help="field-of-view diameters in px (0: DRIVE as it is)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", default="../shared/data")
    args = parser.parse_args()
    import torch

    from unet_core.data import drive
    from unet_core.formats.store import load_model
    from unet_core.inference.predictor import Predictor
    from unet_core.retina.types import consistent_types
    from unet_core.scoring import av_scores
    from unet_core.tasks.fundus import Fundus

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    root = f"{args.data}/drive"
    data = [dataclasses.replace(d, labels=drive.av_labels(root, d.id))
            for d in drive.load_drive(root, drive.VAL_IDS)]  # fmt: skip
    predictor = Predictor(load_model(args.model, device="cpu"), device="cpu")
    predictor.task = type(predictor.task)()
    predictor.task.one_type_per_segment = False  # each pixel's own type: the rules apply it
    truth = Fundus().truth
    print("| photograph | types | artery F1 | vein F1 | A/V accuracy on found vessels | "
          "seconds a map |")
    print("|---|---|---|---|---|---|")
    for fov in args.fovs:
        rows = {rule: [] for rule in RULES}
        for d in data:
            image, labels, roi = simulate(d, fov or None, None)
            context = predictor.prepare(image)
            prob = predictor(image)
            scales = {"full size": 1.0, "model's scale": context.scale,
                      "finest pass": max([context.scale, *context.finer])}  # fmt: skip
            for rule in RULES:
                t = time.perf_counter()
                typed = prob if rule == RULES[0] else consistent_types(prob, scale=scales[rule])
                seconds = time.perf_counter() - t
                rows[rule].append({**av_scores(typed, truth(labels, 3), roi), "s": seconds})
        shape = f"{image.shape[0]} x {image.shape[1]}, scale {context.scale:.2f}" + \
            "".join(f", finer {f:.2f}" for f in context.finer)  # fmt: skip
        for rule, values in rows.items():
            m = {k: float(np.nanmean([v[k] for v in values])) for k in values[0]}
            print(f"| {f'{fov:g} px' if fov else 'DRIVE'} ({shape}) | {rule} | "
                  f"{m['f1_artery']:.4f} | {m['f1_vein']:.4f} | {m['av_accuracy']:.4f} | "
                  f"{m['s']:.2f} |", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
