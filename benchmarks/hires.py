"""Which scale should a photograph that is larger than a model's training photographs be
segmented at? Large photographs come in two kinds: those whose camera resolves finer vessels
than the training set's (their labels mark capillaries that vanish at the training scale) and
those that are merely larger (an enlarged or soft image: nothing finer to find).

Neither kind is in ``../shared/data``, so both are simulated with a *coarse* model, one trained
on DRIVE's training photographs shrunk by ``--shrink`` (the field of view about 215 px across
instead of 540: DRIVE's thinnest vessels vanish, as a high-resolution set's capillaries vanish
at DRIVE's scale):

* **finer camera**: DRIVE's validation photographs (ids 37-40) as they are, with DRIVE's labels,
  are to the coarse model what a high-resolution set is to the DRIVE model (2.5x its scale);
  also shrunk to 1.6x its scale, and JPEG-compressed;
* **enlarged camera**: the same photographs shrunk to the coarse scale and enlarged back (no
  detail the training photographs lacked), labelled with what is left of the labels there;
* and the bundled ``drive`` model on DRIVE enlarged to an 800 and a 1500 px field of view.

Each row is segmented at the model's own scale (the field of view brought to the training
size), at ``c`` times it (never above the photograph's own size), with the two fused
(per pixel the pass that sees a vessel most surely; ``mean``: averaged), and as the tool does
by default (``unet_core.tasks.fundus.FINER``). F1 and AUC inside the field of view, mean over
the four photographs.

    python benchmarks/hires.py --coarse FILE [--train] [--data ../shared/data]

``--train`` first trains the coarse model into FILE (about 10 minutes on 2 CPU threads).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from resolution import jpeg, simulate  # benchmarks/resolution.py

FACTORS = (1.5, 2.0, 2.5, 3.0)


def shrunk(d, diameter: float):
    """(image, labels, fov) of photograph ``d`` at a field of view ``diameter`` px across,
    labels by area (a vessel thinner than half a pixel is gone)."""
    from unet_core.base.arrays import resize
    from unet_core.tasks.fov import fov_diameter

    f = diameter / fov_diameter(d.fov)
    H, W = d.labels.shape
    size = (round(H * f), round(W * f))
    image = np.clip(resize(d.image, size) + 0.5, 0, 255).astype(np.uint8)
    labels = resize((d.labels > 0).astype(np.float32), size) >= 0.5
    fov = resize(d.fov.astype(np.float32), size) >= 0.5
    return image, labels, fov


def enlarged(d, diameter: float):
    """Photograph ``d`` shrunk to ``diameter`` and enlarged back: its own size, its detail
    (and its labels) those of the small one."""
    from unet_core.base.arrays import resize

    image, labels, _ = shrunk(d, diameter)
    H, W = d.labels.shape
    big = np.clip(resize(image, (H, W)) + 0.5, 0, 255).astype(np.uint8)
    return big, resize(labels.astype(np.float32), (H, W)) >= 0.5, d.fov


def fused(probs: list[np.ndarray], how: str) -> np.ndarray:
    """Class probabilities of several scales as one: ``max`` takes, per pixel, the scale
    whose background probability is lowest; ``mean`` averages them."""
    if how == "mean":
        return np.mean(probs, axis=0)
    stack = np.stack(probs)
    pick = np.argmin(stack[:, 0], axis=0)
    return np.take_along_axis(stack, pick[None, None], axis=0)[0]


def rows_of(model, cases, factors) -> list[str]:
    """One table row per case: F1 / AUC at the model's own scale, at each of ``factors``
    times it alone and fused with it, and what the tool does by default."""
    from unet_core.inference.predictor import Predictor
    from unet_core.metrics import binary_metrics

    shipped = Predictor(model, device="cpu")  # the default: automatic scale
    for name, photographs in cases:
        scores: dict[str, list] = {}
        for image, labels, fov in photographs:
            base = shipped.scale_for(image)
            p0 = Predictor(model, device="cpu", scale=base)(image)
            runs = {"own scale": p0}
            for c in factors:
                f = min(1.0, c * base)
                pc = p0 if f <= base * 1.01 else Predictor(model, device="cpu", scale=f)(image)
                runs[f"x{c:g}"], runs[f"fused x{c:g}"] = pc, fused([p0, pc], "max")
                runs[f"mean x{c:g}"] = fused([p0, pc], "mean")
            runs["default"] = shipped(image)
            for key, p in runs.items():
                m = binary_metrics(p[1] >= 0.5, labels, prob=p[1], roi=fov)
                scores.setdefault(key, []).append((m["f1"], m["auc"]))
        mean = {k: np.mean(v, axis=0) for k, v in scores.items()}
        print(f"| {name} | " + " | ".join(f"{mean[k][0]:.3f} / {mean[k][1]:.3f}"
                                        for k in mean) + " |", flush=True)  # fmt: skip
    return list(scores)


def train_coarse(out: Path, data: str, shrink: float, steps: int) -> None:
    cmd = [sys.executable, "-m", "unet_core", "train", "--preset", "drive", "--data", data,
           "--split", "val", "--out", str(out), "--overwrite", "--steps", str(steps),
           "--set", f"input_scale={shrink}", "--set", "patch=96", "--set", "val_every=250",
           "--arch", "base_channels=16", "--arch", "refine=0"]  # fmt: skip
    subprocess.run(cmd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coarse", required=True, help="the coarse model (FILE)")
    parser.add_argument("--train", action="store_true", help="train it first")
    parser.add_argument("--shrink", type=float, default=0.4)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--model", default="drive", help="the DRIVE-scale model")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.train:
        train_coarse(Path(args.coarse), args.data, args.shrink, args.steps)
    import torch

    from unet_core.data import drive
    from unet_core.formats.store import load_model

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    data = drive.load_drive(f"{args.data}/drive", drive.VAL_IDS)
    coarse, model = load_model(args.coarse, device="cpu"), load_model(args.model, device="cpu")
    T = coarse.card.scale["fov_diameter"]
    cases = [
        ("coarse model; finer camera (2.5x)", [(d.image, d.labels > 0, d.fov) for d in data]),
        ("coarse model; finer camera, JPEG 75",
         [(jpeg(d.image, 75), d.labels > 0, d.fov) for d in data]),
        ("coarse model; finer camera (1.6x)", [shrunk(d, 1.6 * T) for d in data]),
        ("coarse model; enlarged camera (2.5x)", [enlarged(d, T) for d in data]),
        ("coarse model; enlarged, JPEG 75",
         [(jpeg(e[0], 75), *e[1:]) for e in (enlarged(d, T) for d in data)]),
    ]  # fmt: skip
    print(f"coarse model trained at FOV {T} px; `{args.model}` at "
          f"{model.card.scale.get('fov_diameter')} px; F1 / AUC inside the FOV, DRIVE ids "
          f"{', '.join(map(str, drive.VAL_IDS))}\n")  # fmt: skip
    header = rows_of(coarse, cases, FACTORS)
    rows_of(model, [(f"{args.model}; enlarged to FOV {n}", [simulate(d, n, None) for d in data])
                    for n in (800, 1500)], FACTORS)  # fmt: skip
    print("\n| photographs | " + " | ".join(header) + " |")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
