"""The model file of this tool: the weights in safetensors, the model card as JSON in its
header. safetensors holds only tensors, so opening a file never runs code from it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..base.files import atomic_write
from ..model.card import ModelCard, Preprocessing, card_of
from ..model.unet import UNet
from ..tasks import infer_task
from .checks import ModelFileError, parse_card

FORMAT = "napari-unet"
FORMAT_VERSION = "1"
SUFFIX = ".safetensors"


def card_to_save(model: UNet, **meta: Any) -> ModelCard:
    """The card :func:`save_model` writes: ``model``'s (or a default one) updated by ``meta``;
    a model without a card gets its task from the classes and scale given, unless named."""
    unknown = (set(meta) - set(ModelCard.__dataclass_fields__)) | ({"architecture"} & set(meta))
    if unknown:
        raise ValueError(f"unknown model card entries: {sorted(unknown)}")
    base = card_of(model)
    fields = {k: getattr(base, k) for k in ModelCard.__dataclass_fields__}
    if model.card is None:
        fields["task"] = ""
    fields.update(meta, architecture=model.config)
    if isinstance(fields["preprocessing"], dict):
        fields["preprocessing"] = Preprocessing(**fields["preprocessing"])
    if not fields["task"]:
        fields["task"] = infer_task(fields["classes"], fields["scale"])
    return ModelCard(**fields)


def save_model(model: UNet, path: str | os.PathLike, **meta: Any) -> Path:
    """Write ``model`` and its card to ``path`` (``.safetensors`` added if missing); the path
    written. ``model`` is not changed.

    ``meta`` updates the card: ``name``, ``description``, ``classes``, ``preprocessing``
    (a :class:`Preprocessing` or dict), ``scale``, ``provenance``, ``task``
    (:func:`card_to_save`); ``read_card(path)`` gives the card written.
    """
    from safetensors.torch import save_file

    card = card_to_save(model, **meta)
    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "card": card.to_json()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=header))
    return path


def open_model_file(path: Path) -> tuple[Any, ModelCard]:
    """(safetensors handle, checked card) of a model file; ModelFileError if it is none."""
    from safetensors import safe_open

    try:
        handle = safe_open(str(path), framework="pt", device="cpu")
        header = handle.metadata() or {}
    except Exception as exc:
        raise ModelFileError(
            f"{path.name} is not a napari-unet model file: its contents are no safetensors "
            f"file (a model is a .safetensors file or a bioimage.io .zip written by "
            f"napari-unet; pickled PyTorch files are refused)"
        ) from exc
    if header.get("format") != FORMAT or "card" not in header:
        raise ModelFileError(f"{path.name} is a safetensors file but not a napari-unet model")
    return handle, parse_card(path, header["card"])
