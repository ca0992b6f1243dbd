"""Paint-and-retrain on CPU: how fast a correction pays off, where the bundled model starts poor.

Case: the EM membrane model (gray input; it never saw a fundus photograph) on a 512 x 512 crop of
a DRIVE fundus photograph (green channel), whose vessels are dark thin curves like membranes.
The left half's vessel labels are the "corrections" (the right half is marked ignore); the right
half is held out. Prints: seconds from pressing Fine-tune to the updated mask, steps per second,
and the held-out Dice before and after, for a few budgets.

    python benchmarks/finetune.py [--data ../shared/data] [--budgets 10 20 40]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from unet_core import load_model
from unet_core.data.drive import load_drive
from unet_core.inference.predictor import Predictor
from unet_core.postprocess import IGNORE_LABEL
from unet_core.training.finetune import finetune, heldout_dice


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data"
    )
    ap.add_argument("--budgets", type=float, nargs="+", default=[10, 20, 40])
    ap.add_argument("--model", default="em")
    args = ap.parse_args()
    (d,) = load_drive(args.data / "drive", (37,))
    image = d.image[36:548, 26:538, 1]  # 512 x 512, green channel, a gray image
    truth = d.labels[36:548, 26:538].astype(np.int64)
    fov = d.fov[36:548, 26:538]
    half = image.shape[1] // 2
    train = np.where(fov, truth, IGNORE_LABEL)
    train[:, half:] = IGNORE_LABEL  # corrections on the left half only
    held = np.where(fov, truth, IGNORE_LABEL)
    held[:, :half] = IGNORE_LABEL  # scored on the right half
    base = load_model(args.model, device="cpu")
    before = heldout_dice(base, image, held, IGNORE_LABEL, device="cpu")
    print(f"model '{args.model}' on a 512x512 DRIVE crop (id 37, green), {torch.get_num_threads()}"
          f" CPU threads; corrections: left half, held out: right half\n")  # fmt: skip
    print("| budget (s) | steps | steps/s | s to updated mask | held-out Dice before | after |")
    print("|---|---|---|---|---|---|")
    for budget in args.budgets:
        start = time.perf_counter()
        new = finetune(base, image, train, seconds=budget, ignore_label=IGNORE_LABEL, device="cpu")
        Predictor(new, device="cpu")(image)  # the re-segmentation the user waits for
        total = time.perf_counter() - start
        steps = new.card.provenance["finetune"]["steps"]
        after = heldout_dice(new, image, held, IGNORE_LABEL, device="cpu")
        print(f"| {budget:.0f} | {steps} | {steps / budget:.2f} | {total:.1f} | {before:.3f} | "
              f"{after:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
