"""Vessel segmentation under simulated camera shifts: DRIVE validation images (ids 37-40) as
other cameras, clinics and settings would give them (white balance, colour casts, gamma and
contrast, channel crosstalk, gray and red-free, vignetting, blur, noise, JPEG, resolution), each
model at the defaults (automatic scale, no test-time augmentation), F1 and AUC inside the FOV.

    python benchmarks/cameras.py --models NAME=FILE[+tta][+gray] [...] [--data ../shared/data]

``+tta``: the model with test-time augmentation; ``+gray``: every colour photograph given to
the model as its luminance (a model that reads the green channel, read as one that reads
luminance).

Give models that did not train on ids 37-40 (``napari-unet train --preset drive --split val``;
``--preset drive-rgb`` is the previous, colour recipe). Prints a markdown table: one row per
shift, F1 and AUC per model, then the mean and the worst row.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from resolution import jpeg, simulate  # benchmarks/resolution.py


def _clip(x) -> np.ndarray:
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


#: Rec. 601 luma weights: a colour photograph as a gray camera gives it (the ``gray`` row)
LUMINANCE = (0.299, 0.587, 0.114)


def _gains(r, g, b):
    return lambda im: _clip(im * np.array([r, g, b], np.float32))


def _mix(matrix):
    """Channel crosstalk: another sensor's spectral response (what per-channel gains miss)."""
    m = np.asarray(matrix, np.float32)
    return lambda im: _clip(im.astype(np.float32) @ m.T)


def _channel_gamma(r, g, b):
    return lambda im: _clip(255 * (im / 255.0) ** np.array([r, g, b], np.float32))


def _gamma(g):
    return lambda im: _clip(255 * (im / 255.0) ** g)


def _contrast(c, fov):
    def apply(im):
        mean = im[fov].mean(0)
        return _clip(np.where(fov[..., None], mean + c * (im - mean), im))

    return apply


def _vignette(strength, fov):
    from unet_core.tasks.fov import fov_circle

    def apply(im):
        cy, cx, r = fov_circle(fov)
        yy, xx = np.mgrid[: im.shape[0], : im.shape[1]]
        rr = np.hypot(yy - cy, xx - cx) / r
        return _clip(im * (1 - strength * np.clip(rr, 0, 1) ** 2)[..., None])

    return apply


def _blur(sigma):
    from scipy import ndimage

    return lambda im: _clip(ndimage.gaussian_filter(im.astype(np.float32), (sigma, sigma, 0)))


def _noise(sigma, seed):
    rng = np.random.default_rng(seed)
    return lambda im: _clip(im + rng.normal(0, sigma, im.shape))


def shifts(d) -> dict:
    """name -> (image, labels, fov) for one DRIVE image."""
    image, fov = d.image, d.fov
    labels = d.labels if d.labels.max() > 1 else d.labels > 0  # artery/vein labels: classes
    same = lambda f: (f(image), labels, fov)  # noqa: E731
    out = {
        "DRIVE as it is": (image, labels, fov),
        "warm white balance (R x1.25, B x0.7)": same(_gains(1.25, 1.0, 0.7)),
        "cool white balance (R x0.75, B x1.3)": same(_gains(0.75, 1.0, 1.3)),
        "green cast (R x0.8, G x1.2, B x0.8)": same(_gains(0.8, 1.2, 0.8)),
        "saturated red (R x1.6, clipped)": same(_gains(1.6, 1.0, 1.0)),
        "channel crosstalk (sensor mixing)": same(
            _mix([[0.6, 0.3, 0.1], [0.25, 0.6, 0.15], [0.1, 0.4, 0.5]])
        ),  # fmt: skip
        "gamma per channel (R 0.6, G 1.0, B 1.6)": same(_channel_gamma(0.6, 1.0, 1.6)),
        "gamma 0.6 (brighter)": same(_gamma(0.6)),
        "gamma 1.6 (darker)": same(_gamma(1.6)),
        "half the contrast": same(_contrast(0.5, fov)),
        "dim (x0.4)": same(lambda im: _clip(im * 0.4)),
        "gray (luminance)": (_clip(image @ np.array(LUMINANCE)), labels, fov),
        "red-free (green only)": (image[..., 1], labels, fov),
        "vignetting (50 % at the rim)": same(_vignette(0.5, fov)),
        "defocus (blur sigma 1.5)": same(_blur(1.5)),
        "sensor noise (sigma 8)": same(_noise(8, d.id)),
        "JPEG quality 30": same(lambda im: jpeg(im, 30)),
    }
    big, big_labels, big_fov = simulate(d, 1000, None)
    out["FOV 1000 px"] = (big, big_labels, big_fov)
    small, small_labels, small_fov = simulate(d, 350, 60)
    out["FOV 350 px, JPEG 60"] = (small, small_labels, small_fov)
    other, o_labels, o_fov = simulate(d, 800, None)
    other = _mix([[0.8, 0.2, 0.0], [0.15, 0.8, 0.05], [0.05, 0.3, 0.65]])(other)
    other = _vignette(0.4, o_fov)(_channel_gamma(0.8, 1.3, 1.5)(_gains(1.2, 0.95, 0.75)(other)))
    out["another camera (crosstalk, warm, gammas, vignetting, FOV 800, JPEG 50)"] = (
        jpeg(other, 50), o_labels, o_fov)  # fmt: skip
    return out


FLAGS = ("tta", "gray")


def model_flags(spec: str) -> tuple[str, set[str]]:
    """``FILE+tta+gray`` -> (FILE, {"tta", "gray"}): only known flags are taken from the end,
    so a file name with a "+" in it stays whole (and a mistyped flag fails as a missing file)."""
    parts, flags = spec.split("+"), set()
    while len(parts) > 1 and parts[-1] in FLAGS:
        flags.add(parts.pop())
    return "+".join(parts), flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True, metavar="NAME=FILE")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    from unet_core.data import drive
    from unet_core.data.preprocess import model_channels
    from unet_core.formats.store import load_model
    from unet_core.inference.predictor import Predictor
    from unet_core.metrics import binary_metrics

    torch.set_num_threads(args.threads)
    files, flags = {}, {}
    for name, spec in (m.split("=", 1) for m in args.models):
        files[name], flags[name] = model_flags(spec)
    predictors = {  # FILE+tta: the same model with test-time augmentation (8 flips/rotations)
        n: Predictor(load_model(f, device="cpu"), device="cpu", tta="tta" in flags[n])
        for n, f in files.items()
    }  # fmt: skip
    data = drive.load_drive(f"{args.data}/drive", drive.VAL_IDS)
    cases = [shifts(d) for d in data]
    scores: dict[str, dict[str, list]] = {}
    start = time.perf_counter()
    for name in cases[0]:
        for model, predictor in predictors.items():
            f1, auc = [], []
            for case in cases:
                image, labels, fov = case[name]
                if "gray" in flags[model]:  # what a model with channels="gray" reads
                    image = model_channels(image, "gray")
                prob = predictor(image)[1]
                m = binary_metrics(prob >= 0.5, labels, prob=prob, roi=fov)
                f1.append(m["f1"])
                auc.append(m["auc"])
            scores.setdefault(name, {})[model] = [float(np.mean(f1)), float(np.mean(auc))]
    names = list(predictors)
    print(f"DRIVE ids {', '.join(map(str, drive.VAL_IDS))}, mean over images, inside the FOV, "
          f"defaults (automatic scale; TTA only where a model's name says so); "
          f"{time.perf_counter() - start:.0f} s\n")  # fmt: skip
    print("| shift | " + " | ".join(f"F1 {n}" for n in names) + " | "
          + " | ".join(f"AUC {n}" for n in names) + " |")  # fmt: skip
    print("|---" * (1 + 2 * len(names)) + "|")
    for name, row in scores.items():
        print(f"| {name} | " + " | ".join(f"{row[n][0]:.3f}" for n in names) + " | "
              + " | ".join(f"{row[n][1]:.4f}" for n in names) + " |")  # fmt: skip
    for label, agg in (("mean", np.mean), ("worst", np.min)):
        print(f"| **{label}** | " + " | ".join(
            f"**{agg([r[n][0] for r in scores.values()]):.3f}**" for n in names) + " | "
            + " | ".join(f"**{agg([r[n][1] for r in scores.values()]):.4f}**" for n in names)
            + " |")  # fmt: skip


if __name__ == "__main__":
    main()
