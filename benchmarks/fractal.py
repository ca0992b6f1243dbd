"""The fractal dimension of one retina at several resolutions: DRIVE's manual vessel labels
(ids 37-40) as they are and enlarged 2.5x and 6x (linear interpolation of the mask, cut at
0.5), so the vessel tree is the same and only the pixel count changes. Box counting on the
skeleton and on the mask, with the boxes of ``unet_core.retina.shape`` (1/128 to 1/4 of the
field of view's diameter) against the boxes fixed in pixels used before 2026-12-06 (2, 4,
8, ... px up to a fifth of the image's shorter side).

    python benchmarks/fractal.py [--data ../shared/data] [--factors 1 2.5 6]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from skimage.transform import resize

from unet_core.data.drive import VAL_IDS, load_drive
from unet_core.retina.segments import skeleton_of
from unet_core.retina.shape import box_counts, fractal_dimension


def fixed_pixel_boxes(mask: np.ndarray) -> float:
    """The earlier rule: boxes of 2, 4, 8, ... px up to a fifth of the shorter side."""
    top = max(8, int(min(mask.shape) * 0.2))
    sizes, counts = box_counts(mask, [int(s) for s in 2 ** np.arange(1, 16) if 2 <= s <= top])
    return float(-np.polyfit(np.log(sizes), np.log(counts), 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).parents[1] / "../shared/data")
    ap.add_argument("--factors", nargs="+", type=float, default=[1, 2.5, 6])
    args = ap.parse_args()
    print("| image | enlarged | px across the FOV | skeleton, fixed px boxes | "
          "**skeleton, FOV-relative boxes** | mask, fixed px boxes | mask, FOV-relative boxes |")
    print("|---|---|---|---|---|---|---|")
    rows = {f: [] for f in args.factors}
    for d in load_drive(args.data / "drive", VAL_IDS):
        vessels = d.labels.astype(bool) & d.fov
        for f in args.factors:
            shape = tuple(round(v * f) for v in vessels.shape)
            mask = vessels if f == 1 else resize(vessels.astype(float), shape, order=1) > 0.5
            fov = d.fov if f == 1 else resize(d.fov.astype(float), shape, order=0) > 0.5
            across = 2 * np.sqrt(fov.sum() / np.pi)
            skeleton = skeleton_of(mask)
            values = (fixed_pixel_boxes(skeleton), fractal_dimension(skeleton, across),
                      fixed_pixel_boxes(mask), fractal_dimension(mask, across))  # fmt: skip
            rows[f].append(values)
            print(f"| {d.id} | {f:g}x | {across:.0f} | {values[0]:.3f} | **{values[1]:.3f}** | "
                  f"{values[2]:.3f} | {values[3]:.3f} |", flush=True)  # fmt: skip
    for f, values in rows.items():
        mean = np.mean(values, axis=0)
        print(f"| mean | {f:g}x | | {mean[0]:.3f} | **{mean[1]:.3f}** | {mean[2]:.3f} | "
              f"{mean[3]:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
