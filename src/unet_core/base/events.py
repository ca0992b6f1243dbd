"""What a job tells whoever runs it: one small vocabulary for every job of the tool.

A job is a generator (see :mod:`unet_core.base.jobs`): the predictor, the band streamer, the
trainers, a fine-tune round, a batch run. Each yields only these events and returns its final
result, so the command line, a GUI worker and a plain call read every job the same way:

- :class:`Progress`: how far it is (``done`` of ``total`` ``unit``), with the numbers of that
  step when there are any (a training step's loss and learning rate);
- :class:`Status`: a line for a person (``"resumed from last.pt at step 200"``);
- :class:`Record`: a measurement worth keeping (a training epoch's validation scores);
- :class:`Partial`: a piece of the result, ready before the job ends (a band of probabilities,
  one file of a batch).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` ``unit`` (``total`` None when it is not known in advance)."""

    done: int
    total: int | None
    unit: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        """``done / total`` in [0, 1], or None without a total."""
        if not self.total:
            return None
        return min(1.0, max(0.0, self.done / self.total))


@dataclass(frozen=True)
class Status:
    """A line for a person."""

    text: str


@dataclass(frozen=True)
class Record:
    """A measurement worth keeping, as plain values (what a log or a history stores)."""

    values: Mapping[str, Any]


@dataclass(frozen=True)
class Partial:
    """A piece of the job's result, ready before the job ends."""

    value: Any


Event = Progress | Status | Record | Partial

__all__ = ["Event", "Partial", "Progress", "Record", "Status"]
