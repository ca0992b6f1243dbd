"""Jobs as generators: they yield progress and return their result, so a CLI, a GUI worker or
a plain call can run them, and closing one stops it between two yields."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

T = TypeVar("T")


class Cancelled(Exception):
    """Raised when a progress callback asked to stop."""


def drain(job: Generator[Any, Any, T], on_item: Callable[[Any], object] | None = None,
          stopped: Callable[[Any], str] = lambda item: f"stopped at {item!r}") -> T:  # fmt: skip
    """Run ``job`` to the end and return its result; ``on_item(item)`` sees every yielded item,
    and returning ``False`` closes the job and raises :class:`Cancelled` with the message
    ``stopped(item)``."""
    try:
        while True:
            item = next(job)
            if on_item is not None and on_item(item) is False:
                job.close()
                raise Cancelled(stopped(item))
    except StopIteration as finished:
        return finished.value


def relay(job: Generator[Any, Any, T], transform: Callable[[Any], Any]) -> Generator[Any, Any, T]:
    """``yield from job`` with every yielded item passed through ``transform``; closing the
    relay closes ``job``."""
    try:
        while True:
            try:
                item = next(job)
            except StopIteration as finished:
                return finished.value
            yield transform(item)
    finally:
        job.close()
