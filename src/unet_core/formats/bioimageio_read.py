"""Open a bioimage.io model package (.zip) for ``--model``: one written by this tool (its model
card in ``config.napari_unet``) gives its card and weights; any other gives a one-line
:class:`~unet_core.formats.checks.ModelFileError` that says what the package is and what runs it.
Needs neither bioimageio.spec nor network access; the weights are read with PyTorch's
``weights_only`` loader (tensors only, no code), and every size is checked before it is read.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

from ..model.card import ModelCard
from .bioimageio_architecture import STATE_PREFIX
from .checks import file_error, parse_card

RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")
MAX_RDF_BYTES = 1 << 20
MAX_WEIGHT_BYTES = 1_100_000_000  # a little over MAX_PARAMETERS float32 weights
RUNS_IT = "bioimageio.core (bioimageio predict), deepImageJ, ilastik or QuPath"


def package_card(path: Path) -> ModelCard:
    """The model card of a package this tool wrote, checked; ModelFileError otherwise."""
    with _zip(path) as zf:
        return _card(path, zf, _rdf(path, zf))


def package_weights(path: Path) -> tuple[ModelCard, dict]:
    """(checked card, state dict) of a package this tool wrote, the keys as the U-Net names
    them."""
    import torch

    with _zip(path) as zf:
        rdf = _rdf(path, zf)
        card = _card(path, zf, rdf)
        entry = rdf["weights"]["pytorch_state_dict"]  # a mapping: _card checked it
        data = _member(path, zf, str(entry.get("source", "")), MAX_WEIGHT_BYTES)
    expected = entry.get("sha256")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise file_error(f"{path.name}: its weights do not match the package's checksum (damaged?)")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle that is not plain tensors, or a damaged file
        raise file_error(f"{path.name}: unreadable weights ({type(exc).__name__})") from exc
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and k.startswith(STATE_PREFIX) and isinstance(v, torch.Tensor)
        for k, v in state.items()
    ):
        raise file_error(f"{path.name}: its weights are not the state dict this tool writes")
    return card, {k[len(STATE_PREFIX) :]: v for k, v in state.items()}


def is_own(rdf: dict) -> bool:
    """Whether a description is of a package this tool wrote (its card in the config)."""
    config = rdf.get("config") if isinstance(rdf.get("config"), dict) else {}
    return isinstance(config.get("napari_unet"), dict) and "card" in config["napari_unet"]


def read_rdf(path: Path) -> dict:
    """The description of the bioimage.io model package at ``path`` (read safely, checked to
    describe a model); ModelFileError otherwise."""
    with _zip(path) as zf:
        return _rdf(path, zf)


def read_member(path: Path, name: str, limit: int = MAX_WEIGHT_BYTES, sha256=None) -> bytes:
    """The bytes of the package's file ``name`` (at most ``limit``), checked against
    ``sha256`` when given."""
    with _zip(path) as zf:
        data = _member(path, zf, name, limit)
    if sha256 and hashlib.sha256(data).hexdigest() != str(sha256):
        raise file_error(f"{path.name}: {name} does not match the package's checksum (damaged?)")
    return data


def _zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise file_error(f"{path.name}: not a readable zip file ({exc})") from exc


def _member(path: Path, zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """The bytes of ``name``, at most ``limit`` of them whatever the zip's directory declares
    (a member that inflates past it is refused without being inflated further)."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise file_error(f"{path.name}: the package names {name!r}, which it does not "
                         "hold") from None  # fmt: skip
    too_large = file_error(f"{path.name}: {name} is larger than a model of this tool can be "
                           f"(over {limit / 1e6:,.0f} MB)")  # fmt: skip
    if info.file_size > limit:
        raise too_large
    try:
        with zf.open(info) as member:
            data = member.read(limit + 1)  # the declared size is not trusted
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError,
            NotImplementedError) as exc:  # damaged, encrypted, an unknown compression
        raise file_error(f"{path.name}: {name} cannot be read ({type(exc).__name__}: {exc})") \
            from exc  # fmt: skip
    if len(data) > limit:
        raise too_large
    return data


def _rdf(path: Path, zf: zipfile.ZipFile) -> dict:
    import yaml

    names = [n for n in RDF_NAMES if n in zf.namelist()]
    names += [n for n in zf.namelist() if n.endswith(".bioimageio.yaml") and "/" not in n]
    if not names:
        raise file_error(f"{path.name} is a zip file but not a bioimage.io package (no rdf.yaml)")
    try:
        rdf = yaml.load(_member(path, zf, names[0], MAX_RDF_BYTES), Loader=_plain_yaml())
    except yaml.YAMLError as exc:
        why = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
        raise file_error(f"{path.name}: its {names[0]} is not valid YAML ({why})") from exc
    except RecursionError:
        raise file_error(f"{path.name}: its {names[0]} is nested too deeply to be a "
                         "description") from None  # fmt: skip
    if not isinstance(rdf, dict):
        raise file_error(f"{path.name}: its {names[0]} is not a description")
    if rdf.get("type") != "model":
        raise file_error(f"{path.name} is a bioimage.io {rdf.get('type', 'resource')!s}, not a "
                         "model")  # fmt: skip
    return rdf


def _card(path: Path, zf: zipfile.ZipFile, rdf: dict) -> ModelCard:
    weights = rdf.get("weights") if isinstance(rdf.get("weights"), dict) else {}
    if not is_own(rdf):
        raise file_error(foreign(path, rdf))
    ours = rdf["config"]["napari_unet"]
    if not isinstance(weights.get("pytorch_state_dict"), dict):
        raise file_error(f"{path.name}: its weights.pytorch_state_dict is not a description of "
                         "weights")  # fmt: skip
    try:
        text = json.dumps(ours["card"])
    except (ValueError, TypeError, RecursionError) as exc:
        raise file_error(f"{path.name}: unreadable model card ({exc})") from exc
    return parse_card(path, text)


def foreign(path: Path, rdf: dict, why: str = "") -> str:
    """One line on a package of another tool that napari-unet cannot run: its name, format,
    network and weights, and ``why`` (docs/other-models.md says what runs)."""
    weights = rdf.get("weights") if isinstance(rdf.get("weights"), dict) else {}
    entry = weights.get("pytorch_state_dict")
    arch = entry.get("architecture") if isinstance(entry, dict) else None
    if isinstance(arch, dict):
        arch = arch.get("callable") or arch.get("import_from")
    network = f"network {arch}, " if arch else ""
    kinds = ", ".join(sorted(str(k) for k in weights)) or "none"
    name = str(rdf.get("name", "unnamed"))[:80]
    why = f": {why.removeprefix(path.name + ': ')}" if why else ""
    return (f"{path.name} is the bioimage.io model {name!r} (format {rdf.get('format_version')}, "
            f"{network}weights: {kinds}), not a U-Net of this tool, and napari-unet cannot run "
            f"it{why}; run it with {RUNS_IT}")  # fmt: skip


def _plain_yaml():
    """YAML's safe loader without aliases: a package's description never needs one, and
    expanding them is how a small file asks for gigabytes ("billion laughs")."""
    import yaml

    class PlainYaml(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"line {mark.line + 1} uses an alias (*), which a "
                                     "description never needs")  # fmt: skip
            return super().compose_node(parent, index)

    return PlainYaml
