"""Paint-and-retrain on the CPU: how much a round learns on an image the model never saw.

Each case is a bundled model on a kind of image it was not trained for. The left half carries
the user's labels, either dense (every pixel) or sparse scribbles (a few strokes on objects and
on background, about 5 % of the half); the right half is held out and scored (foreground IoU).
For every case, labelling and budget, the fine-tuning recipe (``unet_core.finetune``) runs next
to a plain loop written here (Adam 1e-3, batch norm in training mode, cross-entropy, one
128 x 128 patch a step, flips), with the same model and budget, in the same process. With
``--busy`` a second process spins on one of the two cores for the whole run.

``--modes corrections`` is the corrections mode of the plugin: the model's prediction of the
left half with brush strokes over its largest wrong regions (3 % of the half; the errors left
unbrushed stay in the labels, as when a user stops correcting); ``--weights`` compares
loss weights of the brushed pixels against the prediction's own (``corrected_weight``).

Cases: ``vessels`` (``em`` on a DRIVE photograph's green channel), ``membranes`` (``drive`` on
an ISBI 2012 slice), ``coins`` (``em`` on scikit-image's coins, labels by Otsu's threshold) and
``nuclei`` (``em`` on a simulated 512 x 512 fluorescence image of touching nuclei).

    python benchmarks/finetune.py [--data ../shared/data] [--budgets 10 30 60] [--busy]
        [--cases nuclei vessels membranes coins] [--modes dense sparse corrections]
        [--weights 1 3 10] [--recipes "bn learns, lr 1e-3" "bn adapted, lr 3e-4"]

``--recipes`` compares fine-tuning recipes (:data:`RECIPES`: the batch-norm statistics learned
from the patches or adapted to the image, and the learning rate), each with the default weight
of the corrected pixels, instead of the recipe against a plain loop or the weights.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from unet_core import finetune, load_model
from unet_core.base.labels import IGNORE_LABEL
from unet_core.data.preprocess import preprocess
from unet_core.inference.predictor import Predictor
from unet_core.postprocess import probabilities_to_labels
from unet_core.training.losses import weighted_cross_entropy


def nuclei_image(size: int = 512, seed: int = 0, scale: float = 1.0,
                 instances: bool = False) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Blurred bright ellipses of uneven brightness and texture, many touching, on a dim uneven
    background with shot noise: 16-bit, as a fluorescence microscope writes them. ``scale``
    shrinks the nuclei (and packs as many more in); ``instances``: the labels number each
    nucleus (a later one over an earlier), else they are 0/1."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    signal, labels = np.zeros((size, size), np.float32), np.zeros((size, size), np.int64)
    for _ in range(round(70 / scale**2)):
        cy, cx = rng.uniform(10, size - 10, 2)
        a, b = rng.uniform(9, 20) * scale, rng.uniform(7, 15) * scale
        t = rng.uniform(0, np.pi)
        u = ((yy - cy) * np.cos(t) + (xx - cx) * np.sin(t)) / a
        v = (-(yy - cy) * np.sin(t) + (xx - cx) * np.cos(t)) / b
        inside = u**2 + v**2 <= 1
        labels[inside] = labels.max() + 1 if instances else 1
        signal[inside] = np.maximum(signal[inside], rng.uniform(0.3, 1.0))
    texture = ndimage.gaussian_filter(rng.normal(0, 1, signal.shape), 2) * 0.6 + 1
    signal = ndimage.gaussian_filter(signal * texture.clip(0.3, None), 1.5)
    background = 0.08 + 0.06 * (xx + yy) / (2 * size)
    photons = rng.poisson((signal + background) * 400).astype(np.float32)
    return (photons * 40 + 100).clip(0, 65535).astype(np.uint16), labels


def load_case(name: str, data: Path) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(model, image, labels 0/1, roi) for a case; roi marks where labels are defined."""
    if name == "vessels":
        from unet_core.data.drive import load_drive

        (d,) = load_drive(data / "drive", (37,))
        crop = (slice(36, 548), slice(26, 538))
        return "em", d.image[crop][..., 1], d.labels[crop].astype(np.int64), d.fov[crop]
    if name == "membranes":
        from unet_core.data.isbi2012 import load_isbi

        (s,) = load_isbi(data / "isbi2012", (21,))
        return "drive", s.image, s.labels.astype(np.int64), np.ones(s.image.shape, bool)
    if name == "coins":
        from skimage import data as skdata
        from skimage.filters import threshold_otsu

        image = skdata.coins()
        labels = ndimage.binary_fill_holes(image > threshold_otsu(image)).astype(np.int64)
        return "em", image, labels, np.ones(image.shape, bool)
    if name == "nuclei":
        image, labels = nuclei_image()
        return "em", image, labels, np.ones(image.shape, bool)
    raise ValueError(f"unknown case {name!r}")


def scribbles(labels: np.ndarray, where: np.ndarray, rng: np.random.Generator,
              n_fg: int = 10, n_bg: int = 5) -> np.ndarray:  # fmt: skip
    """Strokes a user might draw: ``n_fg`` pieces of objects along their centre lines (up to
    7 px wide, inside them) and ``n_bg`` 7 px lines through the background, 100 px long;
    everything else ``IGNORE_LABEL``."""
    from skimage.morphology import skeletonize

    out = np.full(labels.shape, IGNORE_LABEL, np.int64)
    fg, bg = (labels > 0) & where, ndimage.binary_erosion((labels == 0) & where, iterations=4)
    skeleton = skeletonize(fg)
    yy, xx = np.mgrid[: labels.shape[0], : labels.shape[1]]
    for pool, value, n in ((np.argwhere(skeleton), 1, n_fg), (np.argwhere(bg), 0, n_bg)):
        for cy, cx in pool[rng.choice(len(pool), min(n, len(pool)), replace=False)]:
            near = (yy - cy) ** 2 + (xx - cx) ** 2 <= (20 if value else 50) ** 2
            if value:  # a thick stroke along the object, inside it
                stroke = ndimage.binary_dilation(skeleton & near, iterations=3) & fg
            else:
                t = rng.uniform(0, np.pi)
                line = np.abs((yy - cy) * np.cos(t) - (xx - cx) * np.sin(t)) <= 3
                stroke = line & near & bg
            out[stroke] = value
    return out


def corrections(model, image, truth, where, share: float = 0.03, seed: int = 0):
    """What a user does in corrections mode: the model's prediction with brush strokes over
    its wrong regions, largest regions first: 7-px strokes along a region's centre line, 40 px
    long, inside it, until ``share`` of ``where`` is painted. Errors not brushed over stay in
    the labels, as they do when a user stops correcting. Returns (labels: the corrected
    prediction on ``where``, IGNORE_LABEL outside; the painted mask)."""
    from skimage.morphology import skeletonize

    rng = np.random.default_rng(seed)
    pred = probabilities_to_labels(Predictor(model, device="cpu")(image)).astype(np.int64)
    wrong, _ = ndimage.label((pred != (truth > 0)) & where)
    sizes = np.bincount(wrong.ravel())[1:]
    painted = np.zeros(truth.shape, bool)
    yy, xx = np.mgrid[: truth.shape[0], : truth.shape[1]]
    for k in np.argsort(sizes)[::-1]:
        region = wrong == k + 1
        line = np.argwhere(skeletonize(region))
        for cy, cx in line[rng.permutation(len(line))[: max(1, sizes[k] // 400)]]:
            if painted.sum() >= share * where.sum():
                break
            near = (yy - cy) ** 2 + (xx - cx) ** 2 <= 20**2
            painted |= ndimage.binary_dilation(near & skeletonize(region), iterations=3) & region
        if painted.sum() >= share * where.sum():
            break
    labels = np.where(painted, (truth > 0).astype(np.int64), pred)
    return np.where(where, labels, IGNORE_LABEL), painted


def plain_loop(model, image, labels, seconds: float, seed: int = 0):
    """The baseline: Adam 1e-3, batch norm in training mode, cross-entropy ignoring unlabelled
    pixels, one 128 x 128 patch a step centred on a labelled pixel, random flips."""
    import copy

    net = copy.deepcopy(model).train()
    x_all = preprocess(image, model.card.preprocessing)
    pad = 64
    x_all = np.pad(x_all, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
    y_all = np.pad(labels, pad, mode="constant", constant_values=IGNORE_LABEL)
    centres = np.argwhere(labels != IGNORE_LABEL)
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    start, steps, first = time.perf_counter(), 0, None
    while time.perf_counter() - start < seconds:
        cy, cx = centres[rng.integers(len(centres))] + pad
        x = x_all[:, cy - 64 : cy + 64, cx - 64 : cx + 64]
        y = y_all[cy - 64 : cy + 64, cx - 64 : cx + 64]
        if rng.random() < 0.5:
            x, y = x[..., ::-1], y[..., ::-1]
        if rng.random() < 0.5:
            x, y = x[..., ::-1, :], y[::-1]
        xt = torch.from_numpy(np.ascontiguousarray(x))[None]
        yt = torch.from_numpy(np.ascontiguousarray(y))[None]
        loss = weighted_cross_entropy(net(xt), yt, ignore_index=IGNORE_LABEL)
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
        first = first or time.perf_counter() - start
    return net.eval(), steps, first


def iou(model, image, truth, region) -> tuple[float, float]:
    """(foreground IoU on ``region``, seconds to predict the whole image)."""
    start = time.perf_counter()
    pred = probabilities_to_labels(Predictor(model, device="cpu")(image)) > 0
    seconds = time.perf_counter() - start
    p, t = pred[region], truth[region] > 0
    return float((p & t).sum() / max(1, (p | t).sum())), seconds


#: recipes to compare with --recipes: fine-tuning options (``unet_core.finetune``)
RECIPES = {
    "bn learns, lr 1e-3": {"batchnorm": "learn", "lr": 1e-3},
    "bn adapted, lr 3e-4": {"batchnorm": "adapt", "lr": 3e-4},
    "bn adapted, lr 1e-3": {"batchnorm": "adapt", "lr": 1e-3},
    "bn learns, lr 3e-4": {"batchnorm": "learn", "lr": 3e-4},
}


def recipe(model, image, labels, seconds: float, painted=None, weight: float | str = 1.0,
           options: dict | None = None):  # fmt: skip
    """The fine-tuning recipe (with ``options``, see :data:`RECIPES`); with ``painted``
    (corrections mode) those pixels weigh ``weight`` times the prediction's own."""
    first, start = [], time.perf_counter()

    def note(log):
        if not first:
            first.append(time.perf_counter() - start)

    extra = {"corrected_weight": 1.0} if painted is None else {"corrected": [painted],
                                                               "corrected_weight": weight}
    new = finetune(model, image, labels, seconds=seconds, ignore_label=IGNORE_LABEL,
                   device="cpu", callback=note, **extra, **(options or {}))  # fmt: skip
    return new, new.card.provenance["finetune"]["steps"], first[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data"
    )
    ap.add_argument("--budgets", type=float, nargs="+", default=[10, 30, 60])
    ap.add_argument("--cases", nargs="+", default=["nuclei", "vessels", "membranes"])
    ap.add_argument("--corrected", type=float, default=0.03,
                    help="share of the left half a user brushes over in corrections mode")
    ap.add_argument("--modes", nargs="+", default=["dense", "sparse"],
                    help="dense, sparse, corrections (a wrong prediction brushed over)")
    ap.add_argument("--weights", nargs="+", default=["1", "30", "balanced"],
                    help="loss weights of the corrected pixels to compare (corrections mode): "
                         "numbers or 'balanced'")  # fmt: skip
    ap.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=None,
                    help="compare these recipes (with the default corrected weight) instead "
                         "of the recipe against a plain loop / the weights")  # fmt: skip
    ap.add_argument("--busy", action="store_true", help="spin a second process on one core")
    args = ap.parse_args()
    spinner = None
    if args.busy:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        run(args)
    finally:
        if spinner is not None:
            spinner.kill()


def run(args) -> None:
    load = "busy: a second process spins on one core" if args.busy else "idle"
    load += f"; load average {os.getloadavg()[0]:.1f} at the start"
    print(f"fine-tuning on unseen kinds of image, {torch.get_num_threads()} CPU threads, {load}")
    print("labels on the left half, foreground IoU on the right half\n")
    print("| case | labels | budget (s) | method | steps | s to 1st step | s to new mask "
          "| IoU before | IoU after |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for case in args.cases:
        name, image, truth, roi = load_case(case, args.data)
        model = load_model(name, device="cpu")
        half = image.shape[1] // 2
        left = roi.copy()
        left[:, half:] = False
        right = roi & ~left
        right[:, : half + 8] = False  # a margin: no patch of the left half reaches it
        before, _ = iou(model, image, truth, right)
        for mode in args.modes:
            painted = None
            if mode == "dense":
                labels = np.where(left, truth, IGNORE_LABEL)
            elif mode == "corrections":
                labels, painted = corrections(model, image, truth, left, args.corrected)
            else:
                labels = scribbles(truth, left, np.random.default_rng(0))
            share = ((labels != IGNORE_LABEL) if painted is None else painted).sum() / left.sum()
            methods = [("recipe", recipe), ("plain loop", plain_loop)]
            if painted is not None:  # the corrected pixels' weight against the rest
                weights = [w if w == "balanced" else float(w) for w in args.weights]
                methods = [(f"recipe, corrected {w if isinstance(w, str) else f'x{w:g}'}",
                            lambda m, i, lab, b, w=w, p=painted: recipe(m, i, lab, b, p, w))
                           for w in weights]  # fmt: skip
            if args.recipes:
                methods = [(name, lambda m, i, lab, b, o=RECIPES[name], p=painted:
                            recipe(m, i, lab, b, p, "balanced" if p is not None else 1.0, o))
                           for name in args.recipes]  # fmt: skip
            for budget in args.budgets:
                for method, fn in methods:
                    start = time.perf_counter()
                    new, steps, first = fn(model, image, labels, budget)
                    after, _ = iou(new, image, truth, right)
                    total = time.perf_counter() - start
                    print(f"| {case} ({name}) | {mode} {share:.0%} | {budget:.0f} | {method} | "
                          f"{steps} | {first:.2f} | {total:.1f} | {before:.3f} | {after:.3f} |",
                          flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
