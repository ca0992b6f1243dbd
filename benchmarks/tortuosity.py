"""The tortuosity and curvature of one retina at several resolutions: DRIVE's manual vessel
labels as they are and enlarged (linear interpolation of the mask, cut at 0.5), so the vessel
tree is the same and only the pixel count changes, as a finer camera would give it. The
centreline smoothed over a share of the field of view's diameter
(``unet_core.retina.shape.shape_sigma``: 5 px on DRIVE) against the 5 px fixed in pixels used
before 2026-12-07; the shortest segment measured scales with it (20 px on DRIVE).

    python benchmarks/tortuosity.py [--data ../shared/data] [--ids 21 ... 40] [--factors 1 2.5 4]

Prints a markdown table: per factor and rule, the distance factor (arc over chord) and the
curvature in 1/mm (a 45-degree field of view), each the mean over the photographs, and the
curvature's ratio to its value at the photographs' own size.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from unet_core.base.arrays import resize
from unet_core.data.drive import load_drive
from unet_core.retina.biomarkers import Calibration, shaped, weighted
from unet_core.retina.segments import vessel_segments
from unet_core.retina.shape import CURVATURE_SIGMA, arc_chord, mean_curvature, shape_sigma

RULES = ("fixed 5 px", "share of the FOV")


def measured(mask: np.ndarray, fov: np.ndarray, rule: str) -> tuple[float, float]:
    """(distance factor, curvature in 1/mm) of a vessel mask under ``rule``."""
    across = 2 * np.sqrt(fov.sum() / np.pi)
    um = Calibration(fov_degrees=45).microns_per_pixel(across)
    sigma = CURVATURE_SIGMA if rule == RULES[0] else shape_sigma(across)
    segments = shaped(vessel_segments(mask & fov), sigma)
    factor = weighted(segments, lambda s: arc_chord(s.path, sigma))
    curvature = weighted(segments, lambda s: mean_curvature(s.path, sigma))
    return factor, curvature * 1000 / um


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--ids", type=int, nargs="+", default=list(range(21, 41)))
    parser.add_argument("--factors", type=float, nargs="+", default=[1, 2.5, 4])
    args = parser.parse_args()
    start = time.perf_counter()
    data = load_drive(Path(args.data) / "drive", tuple(args.ids))
    table = {}
    for f in args.factors:
        for d in data:
            size = (round(d.labels.shape[0] * f), round(d.labels.shape[1] * f))
            mask = resize((d.labels > 0).astype(np.float32), size) >= 0.5
            fov = resize(d.fov.astype(np.float32), size) >= 0.5
            for rule in RULES:
                table.setdefault((f, rule), []).append(measured(mask, fov, rule))
    print(f"DRIVE's manual labels, ids {args.ids[0]}-{args.ids[-1]} ({len(data)} photographs), "
          "means; curvature in 1/mm at 45 degrees\n")
    print("| enlarged | rule | distance factor | curvature 1/mm | curvature / at 1x |")
    print("|---|---|---|---|---|")
    for (f, rule), values in table.items():
        factor, curvature = np.mean(values, axis=0)
        base = np.mean(table[(args.factors[0], rule)], axis=0)[1]
        print(f"| {f:g}x | {rule} | {factor:.4f} | {curvature:.3f} | {curvature / base:.2f} |")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
