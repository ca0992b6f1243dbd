"""The headless command line: ``napari-unet segment|train|evaluate|export|info|--version``.

Also ``python -m unet_core``.

Exit status: 0 when every file succeeded, 1 when some failed, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .base.precision import PRECISIONS
from .cli_parser import OneLineParser, folder, megapixels, positive_int, probability, scale
from .cli_version import VersionAction

log = logging.getLogger("unet_core")


def add_segment_parser(sub) -> argparse.ArgumentParser:
    """The ``segment`` sub-command's options (they become a ``SegmentOptions``)."""
    seg = sub.add_parser("segment", help="segment images or folders of images")
    seg.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders")
    seg.add_argument("--out", required=True, type=folder, help="output folder")
    seg.add_argument("--model", default="drive", help="bundled model name, model file, or auto "
                     "(the bundled model for the first image's kind; default: drive)")
    seg.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    seg.add_argument("--tile", type=positive_int, help="input tile edge in pixels")
    seg.add_argument("--batch-size", type=positive_int, help="tiles per forward pass")
    seg.add_argument("--tta", action="store_true", help="average over flips and rotations")
    seg.add_argument("--precision", choices=PRECISIONS, default="auto",
                     help="auto: bf16 where the processor has it (AVX-512 BF16, AMX, CUDA), "
                     "else fp32; fp32 forces full precision")  # fmt: skip
    seg.add_argument("--threshold", type=probability, default=0.5, help="foreground threshold")
    seg.add_argument("--save-prob", action="store_true", help="also write <stem>_prob.tif")
    seg.add_argument("--overlay", action="store_true", help="also write <stem>_overlay.png")
    seg.add_argument("--scale", default="auto", type=scale,
                     help="resampling factor before the network (auto: from the model card)")
    seg.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    seg.add_argument("--pattern", default="*", help="file pattern inside folders")
    seg.add_argument("--recursive", action="store_true", help="search folders recursively")
    seg.add_argument("--no-measure", action="store_true", help="no vessel measurements")
    seg.add_argument("--pixel-size", type=float, metavar="UM",
                     help="microns per pixel: vessel calibres and CRAE/CRVE in microns")
    seg.add_argument("--fov-degrees", type=float, metavar="DEG",
                     help="the fundus camera's field of view (e.g. 45): microns from it")
    seg.add_argument("--instances", action="store_true", help="separate touching objects: "
                     "<stem>_instances.tif, object count and mean area")
    seg.add_argument(
        "--stream-above",
        type=megapixels,
        default=67.1,
        metavar="MPIX",
        help="TIFFs above this many megapixels are streamed band by band",
    )
    seg.add_argument("--scheduler", help="dask.distributed scheduler address to spread files over")
    seg.add_argument(
        "--workers",
        type=positive_int,
        help="spread files over a local dask cluster of this many processes",
    )
    seg.add_argument("--threads", type=positive_int, help="CPU threads for torch (per worker)")
    return seg


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="napari-unet", description="U-Net segmentation without a display."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress while training")
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)

    add_segment_parser(sub).set_defaults(func=cmd_segment)
    from .cli_train import add_train_parser, cmd_train

    add_train_parser(sub, positive_int).set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="score a model against ground-truth labels")
    ev.add_argument("images", type=Path, help="image file or folder")
    ev.add_argument("labels", type=Path, help="label file or folder (paired by number or order)")
    ev.add_argument("--model", default="drive",
                    help="bundled model name or model file (default: drive)")
    ev.add_argument("--fov", type=Path, help="field-of-view masks: metrics inside them only")
    ev.add_argument("--threshold", type=probability, default=0.5, help="foreground threshold")
    ev.add_argument("--tta", action="store_true", help="average over flips and rotations")
    ev.add_argument("--precision", choices=PRECISIONS, default="auto", help="as for segment")
    ev.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    ev.add_argument("--ids", type=int, nargs="+", help="only images numbered so (e.g. 37 38 39 40)")
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ev.set_defaults(func=cmd_evaluate)

    from .cli_export import add_export_parser

    add_export_parser(sub, folder)

    info = sub.add_parser("info", help="print a model card")
    info.add_argument("model", nargs="?", help="bundled model name or model file (default: list)")
    info.set_defaults(func=cmd_info)
    return parser


def cmd_segment(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .base.events import Partial, Progress, Status
    from .base.names import one_line
    from .batch import BatchRun, SegmentOptions

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    options = SegmentOptions(
        device=args.device, tile=args.tile, batch_size=args.batch_size, tta=args.tta,
        scale=args.scale, precision=args.precision, threshold=args.threshold,
        save_prob=args.save_prob,
        save_overlay=args.overlay, overwrite=args.overwrite, measure=not args.no_measure,
        instances=args.instances, stream_pixels=int(args.stream_above * 1e6),
        pixel_size_um=args.pixel_size, fov_degrees=args.fov_degrees,
    )  # fmt: skip
    options.calibration()  # a pixel size or angle that is not a positive number: one line
    model = args.model
    if model == "auto":  # as Segment and Batch offer it in napari
        from .batch.auto_model import folder_model

        model, why = folder_model(args.inputs, args.pattern, args.recursive)
        print(f"auto: {model} ({why})", file=sys.stderr)
    run = BatchRun(args.inputs, args.out, model=model, options=options,
                   pattern=args.pattern, recursive=args.recursive, scheduler=args.scheduler,
                   workers=args.workers, threads=args.threads)  # fmt: skip
    bar = tqdm(total=len(run.inputs), unit="file", disable=None, file=sys.stderr)
    events = run.events()
    try:
        for event in events:
            if isinstance(event, Partial):
                bar.update(1)
                v = event.value  # a failure's reason, or what the task says of the image
                said = [("note:", n) for n in v.notes] if v.status != "failed" else \
                    [("FAILED", v.reason)]  # fmt: skip
                for head, text in said:
                    tqdm.write(f"{head} {one_line(v.path)}: {one_line(text)}", file=sys.stderr)
            elif isinstance(event, Status):
                tqdm.write(one_line(event.text), file=sys.stderr)
            elif isinstance(event, Progress) and event.unit == "tiles" and event.total:
                name = one_line(event.values["file"].name)
                bar.set_postfix_str(f"{name} {event.done}/{event.total} tiles", refresh=True)
    finally:  # Ctrl+C or SIGTERM: the run closes its report, then the summary is printed
        events.close()
        bar.close()
        print(f"{run.summary()} -> {one_line(run.report_path)}")
    return 1 if run.counts["failed"] else 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from .evaluate import evaluate_model, format_table
    from .formats.store import load_model

    model = load_model(args.model, device=args.device)
    from .base.device import resolve_device
    from .base.precision import resolve_precision

    precision = resolve_precision(args.precision, resolve_device(args.device))
    print(f"model: {args.model} ({model.card.task}), {precision}", file=sys.stderr)
    rows = evaluate_model(model, args.images, args.labels, args.fov, threshold=args.threshold,
                          tta=args.tta, device=args.device, ids=args.ids,
                          precision=args.precision)  # fmt: skip
    for row in rows[:-1]:
        undefined = [k for k, v in row.items() if isinstance(v, float) and v != v]
        if undefined:  # e.g. labels with no foreground: F1 and IoU have no value
            print(f"note: {row['image']}: {', '.join(undefined)} undefined (the labels or the "
                  "prediction hold no pixel of a class); left out of the mean", file=sys.stderr)
    if args.json:  # JSON has no NaN: an undefined metric is null
        clean = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
                 for r in rows]  # fmt: skip
        print(json.dumps(clean, indent=1, allow_nan=False))
    else:
        print(format_table(rows))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .formats.store import bundled_models, read_card, weight_problems

    if args.model is None:
        names = bundled_models()
        print("bundled models: " + (", ".join(names) if names else "none"))
        return 0
    print(read_card(args.model).render())
    problems = weight_problems(args.model)
    for problem in problems:  # the card is still shown: info is for looking at a file
        print(f"warning: {problem}; segment refuses this file", file=sys.stderr)
    return 1 if problems else 0


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl+C is: the current file stops, the report is written."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    import signal

    from .base.names import one_line

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    if not args.verbose:  # a damaged file is reported once, in our words, not by its decoder
        for name in ("tifffile", "PIL"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    from .base.allocator import tune_allocator

    tune_allocator()  # training too: large tensors reuse freed memory
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.func(args)
    except (ValueError, OSError, RuntimeError) as exc:
        text = str(exc)
        if isinstance(exc, OSError) and exc.strerror:  # "No space left on device: out/x"
            text = exc.strerror + (f": {exc.filename}" if exc.filename else "")
        print(f"napari-unet {args.command}: error: {one_line(text)}", file=sys.stderr)
        return 2
    except Terminated:
        print("stopped (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def run() -> None:
    """The ``napari-unet`` command: :func:`main`, then, with every output written and closed,
    the process ends without unloading its modules one by one (torch and SciPy take about
    0.3 s to tear down, a sixth of segmenting a photograph). Where a thread that is not a
    daemon still runs, the interpreter ends as usual and waits for it."""
    import contextlib
    import os
    import threading

    code = main()
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(not t.daemon for t in others):
        sys.exit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (napari-unet info | head)
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
