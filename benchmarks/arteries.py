"""Arteries and veins under simulated camera shifts, and what the measurements of a photograph
give: DRIVE's validation photographs (ids 37-40) with RITE's artery/vein labels, through the
shifts of ``benchmarks/cameras.py`` (white balance, casts, gamma, gray, blur, noise, JPEG, other
resolutions), each model at the defaults.

    python benchmarks/arteries.py --models NAME=FILE [NAME=VESSELS+TYPES ...]
        [--data ../shared/data] [--fov-degrees 45]

``VESSELS+TYPES`` (e.g. ``drive+drive-av``): the vessel map of a two-class model with each
vessel pixel typed by the artery/vein model (both bundled models saw 37-40: give models
trained with ``--split val`` to judge anything). ``FILE@pixel``: the model with each pixel's own
type, not its segment's (``Fundus.one_type_per_segment`` off: the rule before 2026-12-06);
``FILE@tta``: averaged over the 8 flips and rotations (``--tta``); ``FILE@pixel,tta``: both.

Per shift and model: vessel F1 (either class), artery F1, vein F1, and the artery/vein accuracy
on the vessel pixels found and labelled (uncertain pixels and crossings not scored). Then, per
photograph as it is, the measurements (``unet_core.retina``) in microns from DRIVE's 45-degree
field of view. Give models that did not train on ids 37-40 (``--split val``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from cameras import shifts  # benchmarks/cameras.py

SHOWN = ("crae_um", "crve_um", "avr", "fractal_dimension", "artery_calibre_um",
         "vein_calibre_um", "tortuosity", "disc_diameter_px")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True, metavar="NAME=FILE")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--fov-degrees", type=float, default=45.0)
    parser.add_argument("--shifts", type=int, default=None, help="only the first N shifts")
    args = parser.parse_args()
    import torch

    from unet_core.data import drive
    from unet_core.scoring import av_scores
    from unet_core.tasks.fundus import Fundus

    torch.set_num_threads(args.threads)
    predictors = {n: predictor_of(f) for n, f in (m.split("=", 1) for m in args.models)}
    root = f"{args.data}/drive"
    data = [dataclasses.replace(d, labels=drive.av_labels(root, d.id))
            for d in drive.load_drive(root, drive.VAL_IDS)]  # fmt: skip
    cases = [shifts(d) for d in data]
    names = list(cases[0])[: args.shifts]
    truth = Fundus().truth
    start = time.perf_counter()
    print(f"DRIVE ids {', '.join(map(str, drive.VAL_IDS))} with RITE's labels, mean over "
          "images, inside the FOV, defaults\n")
    print("| shift | model | vessel F1 | artery F1 | vein F1 | A/V accuracy on found vessels |")
    print("|---|---|---|---|---|---|")
    probs = {}
    for name in names:
        for model, predictor in predictors.items():
            rows = []
            for i, case in enumerate(cases):
                image, labels, fov = case[name]
                prob = predictor(image)
                if name == names[0]:
                    probs[model, i] = prob
                rows.append(av_scores(prob, truth(labels, 3), fov))
            mean = {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}
            print(f"| {name} | {model} | {mean['f1']:.3f} | {mean['f1_artery']:.3f} | "
                  f"{mean['f1_vein']:.3f} | {mean['av_accuracy']:.3f} |", flush=True)
    measured(predictors, data, probs, args.fov_degrees)
    print(f"\n{time.perf_counter() - start:.0f} s")


def predictor_of(spec: str):
    """``FILE``: the model's own probabilities; ``VESSELS+TYPES``: the vessel map of the
    first (a two-class model, e.g. ``drive``), each vessel pixel given the type the second
    (an artery/vein model) finds likelier: a study of what a camera-robust vessel map adds."""
    from unet_core.formats.store import load_model
    from unet_core.inference.predictor import Predictor

    def load(name):
        name, _, how = name.partition("@")
        how = set(how.split(",")) - {""}
        if how - {"pixel", "tta"}:
            raise SystemExit(f"unknown {how - {'pixel', 'tta'}} in {spec}: pixel, tta")
        predictor = Predictor(load_model(name, device="cpu"), device="cpu", tta="tta" in how)
        if "pixel" in how:
            predictor.task = type(predictor.task)()
            predictor.task.one_type_per_segment = False
        return predictor

    if "+" not in spec:
        return load(spec)
    vessels, types = (load(n) for n in spec.split("+", 1))

    def both(image):
        found, kinds = vessels(image)[1] >= 0.5, types(image)
        artery = kinds[1] >= kinds[2]
        return np.stack([~found, found & artery, found & ~artery]).astype(np.float32)

    return both


def measured(predictors, data, probs, degrees: float) -> None:
    """The measurements of each photograph as it is, per model, and of RITE's own labels."""
    from unet_core.postprocess import probabilities_to_labels
    from unet_core.retina.biomarkers import Calibration, measure_photograph

    calibration = Calibration(fov_degrees=degrees)
    print(f"\nMeasurements, field of view {degrees:g} degrees "
          f"(microns per pixel from it; 'labels': RITE's own map, uncertain pixels as vessel)\n")
    print("| image | map | " + " | ".join(SHOWN) + " | not measured |")
    print("|---" * (len(SHOWN) + 3) + "|")
    for i, d in enumerate(data):
        maps = {"labels": np.where(d.labels == 3, 1, d.labels)}
        maps.update({m: probabilities_to_labels(probs[m, i]) for m in predictors})
        for name, labels in maps.items():
            v = measure_photograph(labels, d.fov, d.image, calibration, typed=True)
            cells = ["" if v[k] is None else f"{v[k]:.3g}" for k in SHOWN]
            print(f"| {d.id} | {name} | " + " | ".join(cells) + f" | {v['not_measured']} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
