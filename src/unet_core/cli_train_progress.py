"""What ``napari-unet train`` shows while it trains (own data or a preset), on stderr: a bar
with the step (or the seconds of a time budget), the loss, the held-out score and the threads
in use on a terminal; a line per validation where stderr is a file or a pipe (a log keeps
them); nothing with ``-q``."""

from __future__ import annotations

import sys

from .base.events import Progress, Record, Status


class TrainProgress:
    """Shows a training job's events (``unet_core.base.events``); :meth:`close` at the end."""

    def __init__(self, total: int, by_steps: bool, quiet: bool = False, monitor: str = "iou"):
        from tqdm import tqdm

        self.by_steps, self.total, self.quiet, self.monitor = by_steps, total, quiet, monitor
        self.terminal = sys.stderr.isatty() and not quiet
        self.bar = tqdm(total=total, unit="step" if by_steps else "s", file=sys.stderr,
                        disable=not self.terminal)  # fmt: skip
        self.score, self.threads, self.loss = "", None, float("nan")

    def __call__(self, event) -> None:
        if self.quiet:
            return
        if isinstance(event, Status):
            self.bar.write(event.text, file=sys.stderr)
            return
        values = event.values
        self.loss = values.get("loss", self.loss)
        if isinstance(event, Progress):
            self.threads = values.get("threads", self.threads)
            elapsed = round(values.get("elapsed", 0))
            self.bar.n = min(self.total, event.done if self.by_steps else elapsed)
        elif isinstance(event, Record):
            score = values.get(self.monitor)
            self.score = f"{score:.3f}" if isinstance(score, float) else self.score
            if not self.terminal:
                print(f"step {values.get('step')}: {self.postfix()}", file=sys.stderr,
                      flush=True)  # fmt: skip
        self.bar.set_postfix_str(self.postfix(), refresh=True)

    def postfix(self) -> str:
        parts = [f"loss {self.loss:.3f}"]
        if self.score:
            name = "IoU" if self.monitor == "iou" else self.monitor
            parts.append(f"held-out {name} {self.score}")
        if self.threads:
            parts.append(f"{self.threads} thread{'s' * (self.threads > 1)}")
        return ", ".join(parts)

    def close(self) -> None:
        self.bar.close()
