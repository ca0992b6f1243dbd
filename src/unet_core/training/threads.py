"""Choosing torch's thread count from measured step times, so a busy machine costs steps in
proportion instead of stalling every step.

With two threads on two cores and another program on one of them, each parallel region waits for
the descheduled thread: a step takes longer than with one thread alone. No load figure tells this
in advance (a napari window renders in bursts), so :class:`ThreadTuner` times the steps at each
thread count in turn, keeps the fastest, and re-checks now and then.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator

import torch

from ..base.events import Progress, Record


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class ThreadTuner:
    """Times training steps at 1..``max_threads`` threads and settles on the fastest.

    Use as a context manager around the loop (it restores torch's thread count) and call
    :meth:`step_done` after every step. The first ``warmup`` steps are not timed (allocations);
    then each candidate runs ``trial`` steps, the fastest (median) is kept, and every ``recheck``
    steps the others get ``trial`` steps again.
    """

    def __init__(
        self, max_threads: int | None = None, *, warmup: int = 1, trial: int = 3,
        recheck: int = 40,
    ):  # fmt: skip
        self.max_threads = max(1, min(max_threads or available_cores(), available_cores()))
        self.candidates = sorted({self.max_threads, *([1] if self.max_threads > 1 else [])})
        self.warmup, self.trial, self.recheck = warmup, trial, recheck
        self.times: dict[int, list[float]] = {n: [] for n in self.candidates}
        self.best = self.max_threads
        self._queue: list[int] = []
        self._steps, self._saved, self._last = 0, None, None

    def __enter__(self) -> ThreadTuner:
        self._saved = torch.get_num_threads()
        torch.set_num_threads(self.max_threads)
        self._last = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self._saved is not None:
            torch.set_num_threads(self._saved)

    @property
    def threads(self) -> int:
        return torch.get_num_threads()

    def step_done(self) -> None:
        """Record the step that just ended and set the thread count for the next one."""
        now = time.perf_counter()
        elapsed, self._last = now - (self._last or now), now
        self._steps += 1
        if len(self.candidates) == 1:
            return
        if self._steps > self.warmup:
            self.times[torch.get_num_threads()].append(elapsed)
        if self._steps == self.warmup or (self._steps > self.warmup and
                                          self._steps % self.recheck == 0):  # fmt: skip
            self._queue = [n for n in self.candidates for _ in range(self.trial)]
            for n in self.candidates:  # fresh measurements: the load may have changed
                self.times[n] = []
        if self._queue:
            torch.set_num_threads(self._queue.pop(0))
            return
        medians = {n: sorted(t)[len(t) // 2] for n, t in self.times.items() if t}
        if medians:
            self.best = min(medians, key=medians.get)
        torch.set_num_threads(self.best)


def tuned(events: Iterator[Progress | Record],
          threads: int | None) -> Iterator[Progress | Record]:  # fmt: skip
    """The trainer's events while a :class:`ThreadTuner` times its steps and picks the thread
    count (at most ``threads``); each step's ``values`` say how many it used."""
    with ThreadTuner(threads) as tuner:
        for event in events:
            if isinstance(event, Progress):
                tuner.step_done()
                event = dataclasses.replace(event, values={**event.values,
                                                           "threads": tuner.threads})
            yield event
