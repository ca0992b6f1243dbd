"""``napari-unet train``: its options, ``--images DIR --labels DIR --out FILE`` (a model for
your own images, with a progress bar that shows the loss and the held-out score) and
``--preset drive|drive-av|em --data DIR`` (a bundled model's recipe)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .base.precision import PRECISIONS
from .cli_train_args import check_minutes, check_out, parse_classes, parse_voxel_size
from .training.networks import NETWORKS
from .training.options import own_options, parse_overrides, preset_architecture


def add_train_parser(sub, positive_int) -> argparse.ArgumentParser:
    """The ``train`` sub-command's options: your own images, or a bundled recipe."""
    tr = sub.add_parser(
        "train",
        help="train a model on your own images (--images/--labels) or from a preset recipe",
        description="Own data: napari-unet train --images DIR --labels DIR --out FILE. "
        "Labels are masks with class indices 0..K-1 (255 = not annotated), paired with the "
        "images by file name. Bundled recipes: napari-unet train --preset drive|drive-av|em "
        "--data DIR.",
    )
    own = tr.add_argument_group("your own images")
    own.add_argument("--images", type=Path, metavar="DIR", help="folder of training images")
    own.add_argument(
        "--labels", type=Path, metavar="DIR", help="folder of label masks, paired by file stem"
    )
    own.add_argument(
        "--classes", metavar="NAME,NAME,...", help="class names, e.g. background,nucleus,border"
    )
    own.add_argument("--val-images", type=Path, metavar="DIR", help="folder of validation images")
    own.add_argument("--val-labels", type=Path, metavar="DIR", help="folder of validation labels")
    own.add_argument(
        "--minutes", type=float, metavar="M", help="time budget (default 4 unless --steps)"
    )
    own.add_argument("--size", choices=NETWORKS, default="medium",
                     help="a U-Net's size or a ResNet encoder (default medium)")  # fmt: skip
    own.add_argument("--from", dest="base", metavar="MODEL", help="start from this model")
    own.add_argument("--imagenet", type=Path, metavar="FILE",
                     help="ImageNet weights (e.g. torchvision's resnet34-*.pth) to start a "
                          "resnet network's encoder from; nothing is downloaded")  # fmt: skip
    add_volume_options(own)
    own.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    pre = tr.add_argument_group("bundled recipes")
    pre.add_argument("--preset",
                     help="recipe: drive, drive-av or em (also drive-rgb, drive-clahe)")
    pre.add_argument("--data", type=Path, help="data folder (e.g. ../shared/data)")
    pre.add_argument(
        "--split",
        choices=("val", "all"),
        default="val",
        help="val: train on the training ids and validate; all: train on all ids",
    )
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a recipe entry, e.g. --set schedule=plateau --set patience=6 "
                         "--set loss=focal --set optimizer=sgd (own data: the loss, optimiser, "
                         "rate, schedule, patience, batch, patch, augmentation; presets: "
                         "any)")  # fmt: skip
    tr.add_argument("--arch", action="append", default=[], metavar="KEY=VALUE",
                    help="a network entry, e.g. --arch base_channels=24 --arch dropout=0.1 "
                         "(a preset: --arch encoder=resnet34 too)")  # fmt: skip
    tr.add_argument("--out", required=True, type=Path, help="model file to write")
    tr.add_argument("--steps", type=positive_int, help="training steps")
    tr.add_argument("--seed", type=int, help="random seed")
    tr.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    tr.add_argument("--threads", type=positive_int, help="CPU threads for torch")
    tr.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="auto: bf16 mixed precision where the hardware has it")  # fmt: skip
    tr.add_argument("--resume", action="store_true", help="continue from <out>.ckpt")
    return tr


def add_volume_options(own) -> None:
    own.add_argument("--dims", type=int, choices=(2, 3),
                     help="volumes (TIFF stacks): train a 3-D U-Net or a 2-D one on the "
                          "annotated slices (default: chosen from the data)")  # fmt: skip
    own.add_argument("--voxel-size", metavar="Z,Y,X",
                     help="voxel size of the volumes (any unit), e.g. 50,4,4: a 3-D U-Net "
                          "pools in-plane until the voxels are near-isotropic")  # fmt: skip


def cmd_train(args: argparse.Namespace) -> int:
    if (args.images is None) == (args.preset is None):
        raise ValueError("give either --images and --labels (your own data) or --preset")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.images is not None:
        return train_own(args)
    if args.data is None:
        raise ValueError("--preset needs --data (e.g. ../shared/data)")
    args.out = check_out(args.out, replace=True)  # a preset's run writes over its --out
    return train_preset(args)


def train_own(args: argparse.Namespace) -> int:
    from .cli_train_progress import TrainProgress
    from .data.folders import load_folders
    from .training.own_data import iter_train

    if args.labels is None:
        raise ValueError("--images needs --labels (a folder of masks named like the images)")
    if (args.val_images is None) != (args.val_labels is None):
        raise ValueError("give both --val-images and --val-labels, or neither")
    if args.minutes is not None and args.steps is not None:
        raise ValueError("give --minutes or --steps, not both")
    check_minutes(args.minutes)
    recipe, arch = own_options(args.set, args.arch, args.size)
    out = check_out(args.out, args.overwrite or args.resume)
    voxel = parse_voxel_size(args.voxel_size)
    data = load_folders(args.images, args.labels, parse_classes(args.classes))
    val = None
    if args.val_images is not None:
        val = load_folders(args.val_images, args.val_labels, data.classes)
    for note in data.notes:
        print(f"note: {note}", file=sys.stderr)
    kind = "volume" if data.spatial_dims == 3 else "image"
    print(f"{len(data.names)} {kind} pair(s), classes: "
          + ", ".join(f"{i}={c}" for i, c in enumerate(data.classes)), file=sys.stderr)  # fmt: skip
    minutes = args.minutes if args.steps is None else None
    total = args.steps or round((minutes or 4.0) * 60)
    show = TrainProgress(total, by_steps=bool(args.steps), quiet=args.quiet)
    job = iter_train(data, out, val=val, minutes=minutes, steps=args.steps, size=args.size,
                     base=args.base, resume=args.resume, device=args.device,
                     seed=args.seed or 0, source=f"{args.images} + {args.labels}",
                     precision=args.precision, dims=args.dims,
                     voxel_size=voxel, imagenet=args.imagenet, recipe=recipe,
                     arch=arch, threads=args.threads)  # fmt: skip
    result = run_to_end(job, show)
    show.close()
    scores = ", ".join(f"{k} {v:.3f}" for k, v in result.validation.items()
                       if k in ("iou", "dice") or k.startswith("iou_"))  # fmt: skip
    how = "stopped early, best weights so far" if result.stopped else "done"
    print(f"{how}: {result.steps} steps in {result.seconds:.0f} s; held-out {scores or 'n/a'}",
          file=sys.stderr)  # fmt: skip
    print(f"wrote {result.path}" + (f" and {result.curve}" if result.curve else ""))
    return 0


def run_to_end(job, show):
    """Drain the training job; a Ctrl+C that lands here, between two steps rather than inside
    the job, is passed into it, so that it saves the best weights and returns as well."""
    from .base.jobs import drain

    try:
        return drain(job, show)
    except KeyboardInterrupt:
        try:
            job.throw(KeyboardInterrupt)
            return drain(job, show)
        except StopIteration as finished:
            return finished.value


def train_preset(args: argparse.Namespace) -> int:
    import dataclasses

    from .cli_train_progress import TrainProgress
    from .training.preset_run import iter_train_preset
    from .training.presets import get_preset

    preset = get_preset(args.preset)
    if args.arch:
        preset = dataclasses.replace(
            preset, architecture=preset_architecture(preset.architecture, args.arch))
    overrides = {k: v for k, v in (("steps", args.steps), ("seed", args.seed)) if v is not None}
    if args.precision != "auto":
        overrides["precision"] = args.precision
    overrides.update(parse_overrides(preset.config, args.set))
    config = dataclasses.replace(preset.config, **overrides)
    show = TrainProgress(config.steps, by_steps=True, quiet=args.quiet, monitor=config.monitor)
    job = iter_train_preset(preset, args.data, args.out, config=config, split=args.split,
                            device=args.device, resume=args.resume)  # fmt: skip
    result = run_to_end(job, show)
    show.close()
    print(f"wrote {result.path}")
    return 0
