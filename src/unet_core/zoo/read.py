"""Open a bioimage.io model package (.zip) for ``--model``: one written by this tool (its model
card in ``config.napari_unet``) gives its card and weights; any other gives a one-line
:class:`~unet_core.model.store.ModelFileError` that says what the package is and what runs it.
Needs neither bioimageio.spec nor network access; the weights are read with PyTorch's
``weights_only`` loader (tensors only, no code), and every size is checked before it is read.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

from .architecture import STATE_PREFIX

RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")
MAX_RDF_BYTES = 1 << 20
MAX_WEIGHT_BYTES = 1_100_000_000  # a little over MAX_PARAMETERS float32 weights
RUNS_IT = "bioimageio.core (bioimageio predict), deepImageJ, ilastik or QuPath"


def is_package(path: Path) -> bool:
    """Whether ``path`` is a zip file (a model package, or something else zipped)."""
    return zipfile.is_zipfile(path)


def package_card(path: Path):
    """The model card of a package this tool wrote; ModelFileError otherwise."""
    with _zip(path) as zf:
        return _card(path, zf, _rdf(path, zf))


def package_weights(path: Path) -> tuple:
    """(card, state dict) of a package this tool wrote, the keys as :class:`UNet` names them."""
    import torch

    with _zip(path) as zf:
        rdf = _rdf(path, zf)
        card = _card(path, zf, rdf)
        entry = rdf["weights"]["pytorch_state_dict"]
        data = _member(path, zf, str(entry.get("source", "")), MAX_WEIGHT_BYTES)
    expected = entry.get("sha256")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise _error(f"{path.name}: its weights do not match the package's checksum (damaged?)")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle that is not plain tensors, or a damaged file
        raise _error(f"{path.name}: unreadable weights ({type(exc).__name__})") from exc
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and k.startswith(STATE_PREFIX) and isinstance(v, torch.Tensor)
        for k, v in state.items()
    ):
        raise _error(f"{path.name}: its weights are not the state dict this tool writes")
    return card, {k[len(STATE_PREFIX) :]: v for k, v in state.items()}


def _zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _error(f"{path.name}: not a readable zip file ({exc})") from exc


def _member(path: Path, zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise _error(f"{path.name}: the package names {name!r}, which it does not hold") from None
    if info.file_size > limit:
        raise _error(f"{path.name}: {name} is {info.file_size / 1e6:,.0f} MB, more than a "
                     f"model of this tool can be")  # fmt: skip
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise _error(f"{path.name}: {name} is damaged ({exc})") from exc


def _rdf(path: Path, zf: zipfile.ZipFile) -> dict:
    import yaml

    names = [n for n in RDF_NAMES if n in zf.namelist()]
    names += [n for n in zf.namelist() if n.endswith(".bioimageio.yaml") and "/" not in n]
    if not names:
        raise _error(f"{path.name} is a zip file but not a bioimage.io package (no rdf.yaml)")
    try:
        rdf = yaml.safe_load(_member(path, zf, names[0], MAX_RDF_BYTES))
    except yaml.YAMLError as exc:
        raise _error(f"{path.name}: its {names[0]} is not valid YAML") from exc
    if not isinstance(rdf, dict):
        raise _error(f"{path.name}: its {names[0]} is not a description")
    if rdf.get("type") != "model":
        raise _error(f"{path.name} is a bioimage.io {rdf.get('type', 'resource')!s}, not a "
                     "model")  # fmt: skip
    return rdf


def _card(path: Path, zf: zipfile.ZipFile, rdf: dict):
    from ..model.card import ModelCard

    config = rdf.get("config") if isinstance(rdf.get("config"), dict) else {}
    ours = config.get("napari_unet")
    weights = rdf.get("weights") if isinstance(rdf.get("weights"), dict) else {}
    if not isinstance(ours, dict) or "card" not in ours or "pytorch_state_dict" not in weights:
        raise _error(foreign(path, rdf))
    try:
        return ModelCard.from_json(json.dumps(ours["card"]))
    except (ValueError, TypeError, RecursionError) as exc:
        raise _error(f"{path.name}: unreadable model card ({exc})") from exc


def foreign(path: Path, rdf: dict) -> str:
    """One line on a package of another tool: its name, format, network and weights."""
    weights = rdf.get("weights") if isinstance(rdf.get("weights"), dict) else {}
    arch = (weights.get("pytorch_state_dict") or {}).get("architecture")
    if isinstance(arch, dict):
        arch = arch.get("callable") or arch.get("import_from")
    network = f"network {arch}, " if arch else ""
    kinds = ", ".join(sorted(str(k) for k in weights)) or "none"
    name = str(rdf.get("name", "unnamed"))[:80]
    return (f"{path.name} is the bioimage.io model {name!r} (format {rdf.get('format_version')}, "
            f"{network}weights: {kinds}), not a U-Net of this tool, so napari-unet cannot run "
            f"it; run it with {RUNS_IT}")  # fmt: skip


def _error(message: str):
    from ..base.names import one_line
    from ..model.store import ModelFileError

    return ModelFileError(one_line(message))
