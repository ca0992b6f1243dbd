"""What every model file is checked for, whatever its format, before a network is built from
it: a card that is one (its task named, for files of older versions), an architecture this tool
builds, weights that fit it, are floating point and finite. A file that fails is a
:class:`ModelFileError` in one line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from ..base.names import one_line
from ..model.build import build_model, check_architecture
from ..model.card import ModelCard
from ..tasks import infer_task

#: the most parameters a model file may ask for: 8x the paper's U-Net (31 M), 1 GB of weights
MAX_PARAMETERS = 250_000_000
FLOATS = ("F16", "BF16", "F32", "F64")  # safetensors' names of the floating-point types
#: safetensors' names of torch's floating-point types
DTYPE_NAMES = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32",
               torch.float64: "F64"}  # fmt: skip


class ModelFileError(ValueError):
    """A model file or name that cannot be loaded."""


def file_error(message: str) -> ModelFileError:
    """A :class:`ModelFileError` of one line, whatever a file put in ``message``."""
    return ModelFileError(one_line(message))


def parse_card(path: Path, text: str) -> ModelCard:
    """The model card in a file's ``text`` (its JSON), checked: a card of an older version
    gets its task from its classes and scale (``tasks.infer_task``), and its architecture must
    be one this tool builds."""
    try:
        card = ModelCard.from_json(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise file_error(f"{path.name}: unreadable model card ({exc})") from exc
    if not card.task:
        card.task = infer_task(card.classes, card.scale)
    try:
        check_architecture(card.architecture)
    except ValueError as exc:
        raise file_error(f"{path.name}: the card asks for a network this tool does not "
                         f"build ({exc})") from exc  # fmt: skip
    return card


def non_finite(tensors: Iterable[torch.Tensor]) -> str:
    """What is wrong with weights that are NaN or infinite ("" if none are)."""
    bad = sum(int((~torch.isfinite(t)).sum()) for t in tensors if t.is_floating_point())
    return f"{bad} weight(s) are NaN or infinite, so its output means nothing" if bad else ""


def shape_problems(card: ModelCard, shapes: dict[str, tuple], dtypes: dict[str, str]) -> list[str]:
    """What keeps weights of these shapes and dtypes (safetensors' names) from fitting the
    card's architecture, checked on the meta device (nothing is allocated); [] if they fit."""
    with torch.device("meta"):  # shapes only: nothing is allocated
        net = build_model(card.architecture)
    count = sum(p.numel() for p in net.parameters())
    if count > MAX_PARAMETERS:
        return [f"the card describes a network of {count / 1e6:,.0f} M parameters, more than "
                f"the {MAX_PARAMETERS / 1e6:.0f} M a model file may have"]  # fmt: skip
    state = net.state_dict()
    expected = {k: tuple(v.shape) for k, v in state.items()}
    missing, extra = sorted(set(expected) - set(shapes)), sorted(set(shapes) - set(expected))
    wrong = [k for k in expected if k in shapes and shapes[k] != expected[k]]
    if not (missing or extra or wrong):
        not_float = [k for k, v in state.items()
                     if v.is_floating_point() and dtypes[k] not in FLOATS]  # fmt: skip
        if not_float:  # e.g. weights cast to int32: they would load, and mean nothing
            k = not_float[0]
            return [f"{len(not_float)} weight tensor(s) are not floating point (e.g. {k} is "
                    f"{dtypes[k]})"]  # fmt: skip
        return []
    detail = (f"{len(missing)} missing, {len(extra)} unexpected, {len(wrong)} of another shape"
              + (f", e.g. {wrong[0]} is {shapes[wrong[0]]} where the card needs "
                 f"{expected[wrong[0]]}" if wrong else ""))  # fmt: skip
    return [f"the weights do not match the card's architecture ({detail})"]
