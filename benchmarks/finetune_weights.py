"""What one fine-tune round does to a good map away from the correction: the corrected pixels
weighed as much as the rest of the labels together (``corrected_weight="balanced"``, the
default) against weighing as much as any other pixel (1).

DRIVE's photographs as they are or enlarged (a finer camera: the field of view ``--fov`` px
across, the manual labels enlarged with them), segmented with ``--model``; a simulated user
corrects the
200 x 200 px window where the map is most wrong (the manual labels painted there), and one
round of ``--seconds`` trains on the labels as corrected (the map elsewhere). Scored: vessel
F1 against the manual labels outside the window (and a 20 px margin) before and after the
round, the map's vessel pixels lost there, and the new model's F1 inside the window (what it
learned of the correction; the painted pixels themselves are kept in the labels anyway).

    python benchmarks/finetune_weights.py --model FILE [--ids 37 38 39 40] [--fov 1400]
        [--weights balanced 1 10 30] [--seconds 20] [--data ../shared/data]
        [--recipes "bn learns, lr 1e-3" "bn adapted, lr 3e-4"]

``--recipes`` compares fine-tuning recipes (``benchmarks/finetune.py``'s ``RECIPES``: the
batch-norm statistics learned from the patches or adapted to the image, and the learning
rate), each with the default weight, instead of the weights.

Give a vessel model that did not train on the ids (``napari-unet train --preset drive
--split val``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from finetune import RECIPES  # benchmarks/finetune.py
from resolution import simulate  # benchmarks/resolution.py

WINDOW, MARGIN = 200, 20


def worst_window(found: np.ndarray, truth: np.ndarray, fov: np.ndarray) -> tuple[slice, slice]:
    """The WINDOW-px square (on a grid of half steps) with the most wrong pixels."""
    wrong = (found != truth) & fov
    best, where = -1, (0, 0)
    for r in range(0, wrong.shape[0] - WINDOW + 1, WINDOW // 2):
        for c in range(0, wrong.shape[1] - WINDOW + 1, WINDOW // 2):
            n = int(wrong[r : r + WINDOW, c : c + WINDOW].sum())
            if n > best:
                best, where = n, (r, c)
    return slice(where[0], where[0] + WINDOW), slice(where[1], where[1] + WINDOW)


def scored(found, lost, truth, away, window, corrected) -> tuple:
    """(F1 away from the window, vessel pixels lost there, F1 in the window, corrected)."""
    from unet_core.metrics import binary_metrics

    return (binary_metrics(found > 0, truth, roi=away)["f1"], lost,
            binary_metrics(found > 0, truth, roi=window)["f1"], corrected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--ids", type=int, nargs="+", default=[37, 38, 39, 40])
    parser.add_argument("--fov", type=float, default=None, help="default: DRIVE's own size")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--weights", nargs="+", default=["balanced", "1"],
                        help="the corrected pixels' weights to compare: numbers or balanced")
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=None)
    parser.add_argument("--data", default="../shared/data")
    args = parser.parse_args()
    import torch

    from unet_core.base.jobs import drain
    from unet_core.data import drive
    from unet_core.formats.store import load_model
    from unet_core.inference.predictor import Predictor
    from unet_core.training.finetune import iter_finetune

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = load_model(args.model, device="cpu")
    rows = {}
    for d in drive.load_drive(f"{args.data}/drive", tuple(args.ids)):
        image, truth, fov = simulate(d, args.fov, None)
        before = Predictor(model, device="cpu")(image).argmax(0)
        rows_, cols_ = worst_window(before > 0, truth, fov)
        labels = before.copy()
        labels[rows_, cols_] = truth[rows_, cols_]
        corrected = np.zeros(labels.shape, bool)
        corrected[rows_, cols_] = labels[rows_, cols_] != before[rows_, cols_]
        away = fov.copy()
        away[max(0, rows_.start - MARGIN) : rows_.stop + MARGIN,
             max(0, cols_.start - MARGIN) : cols_.stop + MARGIN] = False  # fmt: skip
        window = np.zeros(fov.shape, bool)
        window[rows_, cols_] = True
        window &= fov

        where = (truth, away, window, int(corrected.sum()))
        rows.setdefault("before the round", []).append(scored(before, 0, *where))
        runs = [(f"recipe: {r}", "balanced", RECIPES[r]) for r in args.recipes or []] or [
            ("corrected pixels balanced (the default)" if w == "balanced" else
             f"corrected pixels weigh {w}", w if w == "balanced" else float(w), {})
            for w in args.weights]  # fmt: skip
        for name, weight, options in runs:
            new = drain(iter_finetune(model, image, labels, seconds=args.seconds, seed=0,
                                      corrected=[corrected], device="cpu",
                                      corrected_weight=weight, **options))  # fmt: skip
            after = Predictor(new, device="cpu")(image).argmax(0)
            lost = int(((before > 0) & (after == 0) & away).sum())
            rows.setdefault(name, []).append(scored(after, lost, *where))
        print(f"{d.id} done ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"\nDRIVE {args.ids} at a {args.fov or 'its own'} px field of view, one round of "
          f"{args.seconds:g} s, {args.threads} threads; means over the photographs\n")
    print("| round | vessel F1 away from the correction | vessel pixels lost there | "
          "the model's F1 in the corrected window | pixels corrected |")
    print("|---|---|---|---|---|")
    for name, values in rows.items():
        f1, lost, inside, fixed = np.mean(values, axis=0)
        print(f"| {name} | {f1:.4f} | {lost:.0f} | {inside:.4f} | {fixed:.0f} |")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
