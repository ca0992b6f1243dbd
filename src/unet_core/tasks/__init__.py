"""One module per kind of image (``fundus``, ``em``) and the generic default (``base``): what
is specific to it, asked by the generic code through :func:`task_of`."""

from __future__ import annotations

from . import em, fundus
from .base import Task

TASKS: dict[str, Task] = {t.name: t for t in (Task(), fundus.TASK, em.TASK)}


def task_of(card_or_name) -> Task:
    """The task of a model card (or of a task name); unknown names get the generic task."""
    name = card_or_name if isinstance(card_or_name, str) else getattr(card_or_name, "task", "")
    return TASKS.get(name or "generic", TASKS["generic"])


__all__ = ["TASKS", "Task", "task_of"]
