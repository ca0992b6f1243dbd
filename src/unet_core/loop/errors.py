"""The loop's errors: one line each, for the widgets to show as they are."""

from __future__ import annotations


class LoopError(ValueError):
    """An operation of the loop that cannot be done as asked (nothing painted, labels of
    another image, a version that is missing): the message says why and what to do."""


class ProjectError(LoopError):
    """A project folder that cannot be read or written: the message names the file and the
    field."""
