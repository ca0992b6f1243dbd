"""The paint-and-retrain loop against an ilastik-style pixel classifier, with a simulated user.

For each image (an image type no bundled model was made for, and a bundled model to start
from), a simulated user annotates the left half in scribbles mode: round 1, a few strokes
along objects and lines through the background; each later round, strokes over the largest
regions the method's current answer gets wrong, ``--budget`` pixels a round. Every method gets
its own user (who answers its own errors). Scored: foreground IoU on the right half, never
annotated (8 px of margin).

Methods, in the same run:

- ``random forest``: scikit-image's ``multiscale_basic_features`` (intensity, edges,
  texture, sigma 1-16) and a 100-tree random forest on the painted pixels, retrained on every
  stroke so far each round (ilastik's pixel classification);
- ``live head``: the plugin's live answer (``unet_core.loop.live``): a linear head on the
  bundled network's features and fixed filters, fitted on the strokes, no round;
- ``loop``: fine-tuning rounds of ``--seconds`` each, every round from the last one's model,
  as the plugin runs them (``unet_core.loop.round_job``: the strokes completed by the live
  head where it is sure); its first answer is the live head's, before the first round;
- ``loop (previous)``: the same rounds with the recipe of before (the strokes alone, no live
  answer: the first answer comes with the first round);
- ``loop (bn learns, lr 1e-3)``: the loop with the rounds' fine-tuning recipe before
  2026-12-07 (batch-norm statistics learned from the patches at Adam 1e-3).

    python benchmarks/loop.py [--data ../shared/data] [--cases nuclei coins membranes vessels]
        [--rounds 4] [--seconds 20] [--budget 1500] [--methods ...]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from unet_core import load_model
from unet_core.base.jobs import drain
from unet_core.base.labels import IGNORE_LABEL
from unet_core.loop import RoundData, round_job
from unet_core.loop.live import LiveHead, image_features
from unet_core.loop.rounds import GUIDE
from unet_core.postprocess import probabilities_to_labels

HERE = Path(__file__).resolve().parent


def case(name: str, data: Path) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(bundled model to start from, image, 0/1 truth, where the truth is defined)."""
    import sys

    sys.path.insert(0, str(HERE))
    from finetune import load_case

    return load_case(name, data)


def halves(roi: np.ndarray, margin: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(the left half, where the user paints; the right half less a margin, scored)."""
    half = roi.shape[1] // 2
    left, right = roi.copy(), roi.copy()
    left[:, half:] = False
    right[:, : half + margin] = False
    return left, right


def first_strokes(truth: np.ndarray, where: np.ndarray, seed: int = 0) -> np.ndarray:
    """Round 1: scribbles along objects and lines through the background (class indices,
    ``IGNORE_LABEL`` elsewhere; ``benchmarks/finetune.py``'s user)."""
    import sys

    sys.path.insert(0, str(HERE))
    from finetune import scribbles

    return scribbles(truth, where, np.random.default_rng(seed))


def brush_errors(answer: np.ndarray, truth: np.ndarray, where: np.ndarray, strokes: np.ndarray,
                 budget: int, seed: int = 0) -> np.ndarray:  # fmt: skip
    """A later round: the user brushes over the largest regions ``answer`` gets wrong inside
    ``where`` (7-px strokes along each region's centre line, largest first), with the true
    class, until ``budget`` new pixels are painted; returns the strokes so far and these."""
    from skimage.morphology import skeletonize

    rng = np.random.default_rng(seed)
    out = strokes.copy()
    wrong, _ = ndimage.label((answer != truth) & where & (strokes == IGNORE_LABEL))
    sizes = np.bincount(wrong.ravel())[1:]
    painted = 0
    for k in np.argsort(sizes)[::-1]:
        if painted >= budget or sizes[k] < 4:
            break
        region = wrong == k + 1
        line = skeletonize(region)
        stroke = ndimage.binary_dilation(line, iterations=3) & region & (out == IGNORE_LABEL)
        if stroke.sum() > budget - painted:  # the budget's last stroke: part of the line
            ys, xs = np.nonzero(stroke)
            keep = rng.permutation(len(ys))[: budget - painted]
            stroke = np.zeros_like(stroke)
            stroke[ys[keep], xs[keep]] = True
        out[stroke] = truth[stroke]
        painted += int(stroke.sum())
    return out


def iou(answer: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    a, t = answer[where] > 0, truth[where] > 0
    return float((a & t).sum() / max(1, (a | t).sum()))


# ---- the methods: each answers the strokes so far -----------------------------------------------
class RandomForest:
    """ilastik-style: fixed multiscale filters, a random forest on the painted pixels."""

    def __init__(self, image: np.ndarray):
        from skimage.feature import multiscale_basic_features

        gray = image if image.ndim == 2 else image[..., 1]
        gray = (gray - gray.mean()) / (gray.std() + 1e-6)
        self.features = multiscale_basic_features(gray, sigma_min=1, sigma_max=16)

    def answer(self, strokes: np.ndarray) -> np.ndarray:
        from sklearn.ensemble import RandomForestClassifier

        known = strokes != IGNORE_LABEL
        # one thread: sklearn's pool left spinning slows the torch methods run after it
        forest = RandomForestClassifier(n_estimators=100, n_jobs=1, max_depth=12,
                                        random_state=0)  # fmt: skip
        forest.fit(self.features[known], strokes[known])
        f = self.features.reshape(-1, self.features.shape[-1])
        return forest.predict(f).reshape(strokes.shape).astype(np.int64)


class Head:
    """The live answer: a linear head on the network's features and fixed filters."""

    def __init__(self, model, image: np.ndarray):
        self.head = LiveHead(model, image_features(model, image))
        self.image, self.model = image, model

    def answer(self, strokes: np.ndarray) -> np.ndarray:
        for _ in self.head.fit(strokes):
            pass
        return probabilities_to_labels(self.head.predict()).astype(np.int64)


class Loop:
    """Fine-tuning rounds as the plugin runs them (``unet_core.loop.round_job``), each from the
    last round's model, on the strokes so far; ``guide``: scribbles completed by the live head
    where it is that sure (the default), or None (the previous recipe)."""

    def __init__(self, model, image: np.ndarray, seconds: float, live: bool = True,
                 guide: float | None = GUIDE, **recipe):  # fmt: skip
        self.model, self.image, self.seconds, self.guide = model, image, seconds, guide
        self.recipe = recipe
        self.live = Head(model, image) if live else None
        self.steps = 0

    def first(self, strokes: np.ndarray) -> np.ndarray:
        """The first answer: the live head's (the previous recipe has none before a round)."""
        return self.live.answer(strokes) if self.live is not None else None

    def answer(self, strokes: np.ndarray) -> np.ndarray:
        known = strokes != IGNORE_LABEL
        data = [RoundData("image", self.image, strokes, known, strokes, sparse=True)]
        job = round_job(self.model, data, parent="", seconds=self.seconds, device="cpu",
                        guide=self.guide, **self.recipe)  # fmt: skip
        result = drain(job)
        self.model, self.steps = result.model, result.steps
        return probabilities_to_labels(result.prob).astype(np.int64)


#: the loop with the rounds' recipe before 2026-12-07: batch-norm statistics learned from the
#: patches, lr 1e-3 (now: adapted to the image and kept, lr 3e-4)
LEARNED_BN = "loop (bn learns, lr 1e-3)"


def run_case(name: str, args) -> list[dict]:
    """Every method's rounds on one image: a row per method and round."""
    base, image, truth, roi = case(name, args.data)
    truth = (truth > 0).astype(np.int64)
    left, right = halves(roi)
    model = load_model(base, device="cpu")
    rows = []
    for method in args.methods:
        start = time.perf_counter()
        if method == "random forest":
            solver = RandomForest(image)
        elif method == "live head":
            solver = Head(model, image)
        elif method == "loop":
            solver = Loop(model, image, args.seconds)
        elif method.startswith("loop, patches on strokes"):  # measured, see docs/benchmarks.md
            solver = Loop(model, image, args.seconds, corrected_p=float(method.split()[-1]))
        elif method == LEARNED_BN:  # the rounds' recipe before 2026-12-07
            solver = Loop(model, image, args.seconds, batchnorm="learn", lr=1e-3)
        else:  # the previous recipe: rounds on the strokes alone, no live answer
            solver = Loop(model, image, args.seconds, live=False, guide=None)
        strokes, answer = first_strokes(truth, left), None
        for round_ in range(1, args.rounds + 1):
            if round_ > 1:
                strokes = brush_errors(answer, truth, left, strokes, args.budget, seed=round_)
            t0 = time.perf_counter()
            if round_ == 1 and isinstance(solver, Loop) and solver.live is not None:
                quick = solver.first(strokes)  # the live answer, then the round
                rows.append({"case": name, "method": method, "round": "1 (live)",
                             "painted": int((strokes != IGNORE_LABEL).sum()),
                             "seconds": time.perf_counter() - start,
                             "iou": iou(quick, truth, right)})  # fmt: skip
            answer = solver.answer(strokes)
            seconds = time.perf_counter() - (start if round_ == 1 else t0)
            rows.append({"case": name, "method": method, "round": str(round_),
                         "painted": int((strokes != IGNORE_LABEL).sum()), "seconds": seconds,
                         "iou": iou(answer, truth, right)})  # fmt: skip
            steps = f" ({solver.steps} steps)" if isinstance(solver, Loop) else ""
            print(f"| {name} ({base}) | {method} | {round_} | {rows[-1]['painted']} | "
                  f"{seconds:.1f}{steps} | {rows[-1]['iou']:.3f} |", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=HERE.parents[1] / "shared" / "data")
    ap.add_argument("--cases", nargs="+", default=["nuclei", "coins", "membranes", "vessels"])
    ap.add_argument("--methods", nargs="+",
                    default=["live head", "loop", "loop (previous)", "random forest"])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--budget", type=int, default=1500, help="pixels a user paints a round")
    args = ap.parse_args()
    print(f"simulated user, {torch.get_num_threads()} CPU threads, load average "
          f"{os.getloadavg()[0]:.1f} at the start; {args.seconds:.0f} s a round")
    print("seconds: round 1 from the start (features, fit, answer), later rounds alone\n")
    print("| case | method | round | painted px | seconds | IoU (right half) |")
    print("|---|---|---|---|---|---|")
    rows = [r for name in args.cases for r in run_case(name, args)]
    print("\nround 1 (live): the live head's answer to the first strokes, before the round")
    for r in rows:
        if r["round"] == "1 (live)":
            print(f"  {r['case']}: {r['seconds']:.1f} s, IoU {r['iou']:.3f}")


if __name__ == "__main__":
    main()
