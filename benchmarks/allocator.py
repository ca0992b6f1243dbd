"""glibc's default allocator against the tuned one (``unet_core.base.allocator``) on inference,
a streamed large image and training: each run in a fresh process, the two settings
interleaved, medians of ``--repeats``; seconds of the work itself (imports excluded, except for
the command line's wall time), the process's kernel time and its peak memory.

    python benchmarks/allocator.py [--repeats 3] [--big 6144]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

#: the work of each row, run by a fresh interpreter; it prints one JSON line
WORK = {
    "predict": """
import numpy as np
from unet_core import Predictor
from unet_core.data.io import read_image
from unet_core.formats.store import load_model
from unet_core.tasks import sample_path
image = np.tile(read_image(sample_path("em")), (8, 8))  # 2048 x 2048
predictor = Predictor(load_model("em", "cpu"), device="cpu", scale=1.0, precision=PRECISION)
for _ in range(CALLS):  # the first call of a process also builds oneDNN's kernels
    start = time.perf_counter()
    mask = predictor(image)[1] >= 0.5
    seconds = time.perf_counter() - start
extra = {"mask": hashlib.sha1(np.packbits(mask)).hexdigest()[:12]}
""",
    "train": """
import numpy as np
from unet_core.data.datasets import make_sample
from unet_core.formats.store import load_model
from unet_core.training.config import TrainConfig
from unet_core.training.trainer import Trainer
torch.manual_seed(0)
rng = np.random.default_rng(0)
images = rng.random((8, 1, 128, 128), dtype=np.float32)
labels = (rng.random((8, 128, 128)) > 0.8).astype(np.int64)
model = load_model("em", "cpu")
net = type(model)(**model.config)
config = TrainConfig(steps=10**6, patch=128, loss="ce", precision=PRECISION)
trainer = Trainer(net, [make_sample(images[0, 0], labels[0], model.card.preprocessing)],
                  config, device="cpu")
trainer.train_step(images, labels)
start = time.perf_counter()
for _ in range(STEPS):
    loss = trainer.train_step(images, labels)
seconds = time.perf_counter() - start
extra = {"steps_per_s": STEPS / seconds}
""",
}

PRELUDE = """
import hashlib, json, resource, time, torch
from unet_core.base.allocator import tune_allocator
tuned = tune_allocator()  # what load_model and the command line do
torch.set_num_threads(THREADS)
"""

POSTLUDE = """
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "tuned": tuned, "kernel_s": usage.ru_stime,
                  "peak_gb": status("VmHWM") / 2**30, **extra}))
"""


def run(work: str, malloc: str, **values) -> dict:
    code = PRELUDE + WORK[work] + POSTLUDE
    for k, v in values.items():
        code = code.replace(k, repr(v) if isinstance(v, str) else str(v))
    env = {**os.environ, "NAPARI_UNET_MALLOC": malloc}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def cli(image: Path, out: Path, malloc: str) -> dict:
    """``napari-unet segment`` of a large TIFF (streamed in bands): wall and kernel time."""
    env = {**os.environ, "NAPARI_UNET_MALLOC": malloc}
    code = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        f"subprocess.run([sys.executable, '-m', 'unet_core', 'segment', {str(image)!r}, "
        f"'--model', 'em', '--out', {str(out)!r}, '--overwrite'], check=True,\n"
        "               capture_output=True)\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'kernel_s': u.ru_stime,\n"
        "                  'peak_gb': u.ru_maxrss / 2**20}))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(res.stderr[-2000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def big_tiff(path: Path, edge: int) -> None:
    import numpy as np
    import tifffile

    from unet_core.data.io import read_image
    from unet_core.tasks import sample_path

    em = read_image(sample_path("em"))
    reps = -(-edge // em.shape[0])
    tifffile.imwrite(path, np.tile(em, (reps, reps))[:edge, :edge], tile=(256, 256))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=40, help="training steps per run")
    ap.add_argument("--big", type=int, default=6144, help="edge of the streamed image (0: skip)")
    args = ap.parse_args()
    jobs = {}
    for p in ("fp32", "bf16"):
        for calls, which in ((1, "first"), (2, "second")):
            jobs[f"`predict`, em, 2048 x 2048, {p}, a process's {which} call"] = (
                lambda m, p=p, c=calls: run(
                    "predict", m, PRECISION=p, THREADS=args.threads, CALLS=c
                )  # fmt: skip
            )
        jobs[f"training, em architecture, batch 8 x 128^2, {p} ({args.steps} steps)"] = (
            lambda m, p=p: run("train", m, PRECISION=p, THREADS=args.threads, STEPS=args.steps)
        )
    tmp = Path(tempfile.mkdtemp(prefix="napari-unet-alloc-"))
    if args.big:
        big_tiff(tmp / "big.tif", args.big)
        jobs[f"`napari-unet segment`, {args.big}^2 TIFF (streamed), wall"] = lambda m: cli(
            tmp / "big.tif", tmp / "out", m
        )
    print(f"{args.threads} threads, fresh process per run, medians of {args.repeats}\n")
    print("| run | default s | tuned s | speed-up | kernel s (default / tuned) | "
          "peak GB (default / tuned) | same mask |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name, job in jobs.items():
        results = {"default": [], "tuned": []}
        for _ in range(args.repeats):
            for m in results:
                results[m].append(job(m))
        med = {m: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "kernel_s",
                                                                  "peak_gb")}
               for m, rs in results.items()}  # fmt: skip
        masks = {r.get("mask") for rs in results.values() for r in rs}
        same = "" if masks == {None} else ("yes" if len(masks) == 1 else "NO")
        d, t = med["default"], med["tuned"]
        print(f"| {name} | {d['seconds']:.2f} | {t['seconds']:.2f} | "
              f"{d['seconds'] / t['seconds']:.2f}x | {d['kernel_s']:.2f} / {t['kernel_s']:.2f} | "
              f"{d['peak_gb']:.2f} / {t['peak_gb']:.2f} | {same} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
