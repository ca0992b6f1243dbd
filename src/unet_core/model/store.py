"""Model files: weights in safetensors, the model card as JSON in its header; bioimage.io
packages written by this tool (``.zip``, :mod:`..zoo`) load too.

Loading never runs code from a file: safetensors holds only tensors, and a package's weights
are read with PyTorch's ``weights_only`` loader. Anything else is refused with a one-line reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..base.allocator import tune_allocator
from ..base.device import resolve_device
from ..base.files import atomic_write
from .card import ModelCard, Preprocessing
from .unet import UNet, check_arguments

FORMAT = "napari-unet"
FORMAT_VERSION = "1"
SUFFIX = ".safetensors"
#: the most parameters a model file may ask for: 8x the paper's U-Net (31 M), 1 GB of weights
MAX_PARAMETERS = 250_000_000
FLOATS = ("F16", "BF16", "F32", "F64")  # safetensors' names of the floating-point types
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


class ModelFileError(ValueError):
    """A model file or name that cannot be loaded."""


def bundled_models() -> dict[str, Path]:
    """Names and paths of the models shipped inside the package."""
    return {p.stem: p for p in sorted(WEIGHTS_DIR.glob(f"*{SUFFIX}"))}


def save_model(model: UNet, path: str | os.PathLike, **meta: Any) -> Path:
    """Write ``model`` and its card to ``path`` (``.safetensors`` added if missing).

    ``meta`` updates the card: ``name``, ``description``, ``classes``, ``preprocessing``
    (a :class:`Preprocessing` or dict), ``scale``, ``provenance``. The card is attached to
    ``model`` as ``model.card``.
    """
    from safetensors.torch import save_file

    unknown = (set(meta) - set(ModelCard.__dataclass_fields__)) | ({"architecture"} & set(meta))
    if unknown:
        raise ValueError(f"unknown model card entries: {sorted(unknown)}")
    base = model.card if model.card is not None else ModelCard(architecture=model.config)
    fields = {k: getattr(base, k) for k in ModelCard.__dataclass_fields__}
    if model.card is None:
        fields["task"] = ""  # inferred from the classes and scale given here, unless named
    fields.update(meta, architecture=model.config)
    if isinstance(fields["preprocessing"], dict):
        fields["preprocessing"] = Preprocessing(**fields["preprocessing"])
    card = ModelCard(**fields)
    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "card": card.to_json()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=header))
    model.card = card
    return path


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


def model_identity(model) -> dict:
    """Which model this is, for records beside results: its name, task and classes, and for a
    model file (or bundled name) the file and its SHA-256."""
    import hashlib

    if isinstance(model, UNet):
        card = model.card or ModelCard(architecture=model.config)
        return {"name": card.name or "(in memory)", "task": card.task, "classes": card.classes}
    path = resolve_model_path(model)
    card = read_card(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"name": card.name or path.stem, "task": card.task, "classes": card.classes,
            "file": str(path.resolve()), "sha256": digest}  # fmt: skip


def read_card(name_or_path: str | os.PathLike) -> ModelCard:
    """The model card of a model file or package, without loading the weights."""
    path = resolve_model_path(name_or_path)
    if _is_package(path):
        from ..zoo.read import package_card

        return _checked(path, package_card(path))
    return _open(path)[1]


class _Weights:
    """A model file's card, its tensors' shapes and dtypes (safetensors' names), and how to
    read the tensors: what the checks below need, for either kind of file."""

    def __init__(self, path: Path):
        if _is_package(path):  # a bioimage.io package (zoo/write.py): small, read at once
            from ..zoo.read import package_weights

            card, tensors = package_weights(path)
            self.card = _checked(path, card)
            self.shapes = {k: tuple(v.shape) for k, v in tensors.items()}
            self.dtypes = {k: _DTYPES.get(v.dtype, str(v.dtype)) for k, v in tensors.items()}
            self.tensors = lambda: tensors
            return
        handle, self.card = _open(path)
        slices = {k: handle.get_slice(k) for k in handle.keys()}  # noqa: SIM118
        self.shapes = {k: tuple(v.get_shape()) for k, v in slices.items()}
        self.dtypes = {k: v.get_dtype() for k, v in slices.items()}
        self.tensors = lambda: {k: handle.get_tensor(k) for k in slices}


_DTYPES = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32",
           torch.float64: "F64"}  # fmt: skip


def _is_package(path: Path) -> bool:
    return path.suffix.lower() == ".zip"


def _open(path: Path) -> tuple[Any, ModelCard]:
    from safetensors import safe_open

    try:
        handle = safe_open(str(path), framework="pt", device="cpu")
        header = handle.metadata() or {}
    except Exception as exc:
        raise ModelFileError(
            f"{path.name} is not a napari-unet model file (expected a .safetensors file or a "
            f"bioimage.io .zip written by napari-unet; pickled PyTorch files are refused)"
        ) from exc
    if header.get("format") != FORMAT or "card" not in header:
        raise ModelFileError(f"{path.name} is a safetensors file but not a napari-unet model")
    try:
        card = ModelCard.from_json(header["card"])
    except (ValueError, TypeError) as exc:
        raise ModelFileError(f"{path.name}: unreadable model card ({exc})") from exc
    return handle, _checked(path, card)


def _checked(path: Path, card: ModelCard) -> ModelCard:
    try:
        check_architecture(card.architecture)
    except ValueError as exc:
        raise ModelFileError(f"{path.name}: the card asks for a network this tool does not "
                             f"build ({exc})") from exc  # fmt: skip
    return card


def check_architecture(arch: dict) -> None:
    """A one-line ValueError unless ``UNet(**arch)`` is a network this tool builds: known
    entries of the right types, within :data:`~unet_core.model.unet.LIMITS`."""
    import inspect

    params = inspect.signature(UNet.__init__).parameters
    unknown = sorted(set(arch) - set(params) - {"self"})
    if unknown:
        raise ValueError(f"unknown architecture entries {unknown}")
    defaults = {k: p.default for k, p in params.items() if k != "self"}
    check_arguments(**{**defaults, **arch})


def weight_problems(path: str | os.PathLike) -> list[str]:
    """What is wrong with the weights of a model file, without running it: tensors that do not
    match the card's architecture (checked on the header, before anything is allocated), more
    than :data:`MAX_PARAMETERS`, and NaN or infinite values. Empty when the file is sound."""
    weights = _Weights(resolve_model_path(path))
    problems = _shape_problems(weights)
    if not problems:
        problems += [p for p in [_non_finite(weights.tensors().values())] if p]
    return problems


def _non_finite(tensors) -> str:
    bad = sum(int((~torch.isfinite(t)).sum()) for t in tensors if t.is_floating_point())
    return f"{bad} weight(s) are NaN or infinite, so its output means nothing" if bad else ""


def _shape_problems(weights: _Weights) -> list[str]:
    with torch.device("meta"):  # shapes only: nothing is allocated
        net = UNet(**weights.card.architecture)
    count = sum(p.numel() for p in net.parameters())
    if count > MAX_PARAMETERS:
        return [f"the card describes a network of {count / 1e6:,.0f} M parameters, more than "
                f"the {MAX_PARAMETERS / 1e6:.0f} M a model file may have"]  # fmt: skip
    state = net.state_dict()
    expected = {k: tuple(v.shape) for k, v in state.items()}
    found = weights.shapes
    missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    wrong = [k for k in expected if k in found and found[k] != expected[k]]
    if not (missing or extra or wrong):
        not_float = [k for k, v in state.items()
                     if v.is_floating_point() and weights.dtypes[k] not in FLOATS]  # fmt: skip
        if not_float:  # e.g. weights cast to int32: they would load, and mean nothing
            k = not_float[0]
            return [f"{len(not_float)} weight tensor(s) are not floating point (e.g. {k} is "
                    f"{weights.dtypes[k]})"]  # fmt: skip
        return []
    detail = (f"{len(missing)} missing, {len(extra)} unexpected, {len(wrong)} of another shape"
              + (f", e.g. {wrong[0]} is {found[wrong[0]]} where the card needs "
                 f"{expected[wrong[0]]}" if wrong else ""))  # fmt: skip
    return [f"the weights do not match the card's architecture ({detail})"]


def load_model(name_or_path: str | os.PathLike, device: str | torch.device = "auto") -> UNet:
    """Load a bundled model by name (``"drive"``, ``"em"``), a model file, or a bioimage.io
    package this tool wrote (``.zip``), in eval mode."""
    tune_allocator()  # once per process: large tensors reuse freed memory (base/allocator.py)
    path = resolve_model_path(name_or_path)
    weights = _Weights(path)
    card = weights.card
    for problem in _shape_problems(weights):  # before anything is allocated
        raise ModelFileError(f"{path.name}: {problem}")
    state = weights.tensors()
    problem = _non_finite(state.values())
    if problem:
        raise ModelFileError(f"{path.name}: {problem}; it is not run")
    try:
        model = UNet(**card.architecture)
        model.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ModelFileError(
            f"{path.name}: weights do not match the model card ({reason})"
        ) from exc
    model.card = card
    return model.to(resolve_device(device)).eval()
