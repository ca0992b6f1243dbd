"""Model files by name or path, whatever their format: the bundled models, a model file
(:mod:`.safetensors_file`) or a bioimage.io package this tool wrote (:mod:`.bioimageio_read`),
read, checked (:mod:`.checks`) and loaded. Loading never runs code from a file: a package's
weights are read with PyTorch's ``weights_only`` loader. Anything else is refused with a
one-line reason."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import torch

from ..base.allocator import tune_allocator
from ..base.device import resolve_device
from ..model.build import build_model
from ..model.card import ModelCard, card_of
from ..model.external import ExternalNetwork
from ..model.unet import UNet
from . import bioimageio_read
from .checks import DTYPE_NAMES, ModelFileError, non_finite, shape_problems
from .safetensors_file import SUFFIX, open_model_file

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def bundled_models() -> dict[str, Path]:
    """Names and paths of the models shipped inside the package (the one list of them)."""
    return {p.stem: p for p in sorted(WEIGHTS_DIR.glob(f"*{SUFFIX}"))}


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """A bundled model's path by name, or an existing file; ModelFileError otherwise."""
    bundled = bundled_models()
    key = str(name_or_path)
    if key in bundled:
        return bundled[key]
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    names = ", ".join(bundled) or "none installed"
    raise ModelFileError(
        f"no model file {key!r} and no bundled model of that name (bundled: {names})"
    )


def model_identity(model: UNet | str | os.PathLike) -> dict:
    """Which model this is, for records beside results: its name, task and classes, and for a
    model file (or bundled name) the file and its SHA-256."""
    if isinstance(model, (UNet, ExternalNetwork)):
        card = card_of(model)
        return {"name": card.name or "(in memory)", "task": card.task, "classes": card.classes}
    path = resolve_model_path(model)
    card = read_card(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"name": card.name or path.stem, "task": card.task, "classes": card.classes,
            "file": str(path.resolve()), "sha256": digest}  # fmt: skip


def read_card(name_or_path: str | os.PathLike) -> ModelCard:
    """The model card of a model file or package, without loading the weights."""
    path = resolve_model_path(name_or_path)
    if _is_foreign(path):
        info = path.stat()
        return _foreign_card(str(path.resolve()), info.st_mtime_ns, info.st_size)
    if _is_package(path):
        return bioimageio_read.package_card(path)
    return open_model_file(path)[1]


def _is_foreign(path: Path) -> bool:
    """Whether ``path`` is a bioimage.io package of another tool (:mod:`.foreign_model`)."""
    return _is_package(path) and not bioimageio_read.is_own(bioimageio_read.read_rdf(path))


@functools.lru_cache(maxsize=8)
def _foreign_card(path: str, mtime_ns: int, size: int) -> ModelCard:
    from .foreign_model import load_foreign

    return load_foreign(Path(path)).card  # its classes follow from its output (a probe)


class _Weights:
    """A model file's card, its tensors' shapes and dtypes (safetensors' names), and how to
    read the tensors: what the checks need, for either kind of file."""

    def __init__(self, path: Path):
        if _is_package(path):  # a bioimage.io package: small, read at once
            self.card, tensors = bioimageio_read.package_weights(path)
            self.shapes = {k: tuple(v.shape) for k, v in tensors.items()}
            self.dtypes = {k: DTYPE_NAMES.get(v.dtype, str(v.dtype)) for k, v in tensors.items()}
            self.tensors = lambda: tensors
            return
        handle, self.card = open_model_file(path)
        slices = {k: handle.get_slice(k) for k in handle.keys()}  # noqa: SIM118
        self.shapes = {k: tuple(v.get_shape()) for k, v in slices.items()}
        self.dtypes = {k: v.get_dtype() for k, v in slices.items()}
        self.tensors = lambda: {k: handle.get_tensor(k) for k in slices}

    def shape_problems(self) -> list[str]:
        return shape_problems(self.card, self.shapes, self.dtypes)


def _is_package(path: Path) -> bool:
    return path.suffix.lower() == ".zip"


def weight_problems(path: str | os.PathLike) -> list[str]:
    """What is wrong with the weights of a model file, without running it: tensors that do not
    match the card's architecture (checked on the header, before anything is allocated), more
    than ``checks.MAX_PARAMETERS``, and NaN or infinite values. Empty when the file is sound."""
    path = resolve_model_path(path)
    if _is_foreign(path):
        from .foreign_model import load_foreign

        return [p for p in [non_finite(load_foreign(path).parameters())] if p]
    weights = _Weights(path)
    problems = weights.shape_problems()
    if not problems:
        problems += [p for p in [non_finite(weights.tensors().values())] if p]
    return problems


def load_model(name_or_path: str | os.PathLike, device: str | torch.device = "auto") -> UNet:
    """Load a bundled model by name (``"drive"``, ``"em"``), a model file, or a bioimage.io
    package (``.zip``), in eval mode: one this tool wrote as its U-Net, one of another tool
    as a :class:`~.foreign_model.ForeignModel` (docs/other-models.md)."""
    tune_allocator()  # once per process: large tensors reuse freed memory (base/allocator.py)
    path = resolve_model_path(name_or_path)
    if _is_foreign(path):
        from .foreign_model import load_foreign

        return load_foreign(path, resolve_device(device))
    weights = _Weights(path)
    card = weights.card
    for problem in weights.shape_problems():  # before anything is allocated
        raise ModelFileError(f"{path.name}: {problem}")
    state = weights.tensors()
    problem = non_finite(state.values())
    if problem:
        raise ModelFileError(f"{path.name}: {problem}; it is not run")
    try:
        model = build_model(card.architecture)
        model.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ModelFileError(
            f"{path.name}: weights do not match the model card ({reason})"
        ) from exc
    model.card = card
    return model.to(resolve_device(device)).eval()
