"""The model card: everything a model file says about itself besides its weights."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .unet import UNet

CHANNEL_MODES = ("gray", "green", "rgb", "as_is")
NORMALIZATIONS = ("zscore", "percentile", "none")
LOCAL_CONTRAST = ("none", "clahe")


@dataclass(frozen=True)
class Preprocessing:
    """How raw pixels become network input.

    channels
        ``"gray"``: one channel (RGB is converted to luminance); ``"green"``: the green channel of
        an RGB image (a 2-D image passes as is); ``"rgb"``: 3 channels (a grayscale image is
        repeated into all three); ``"as_is"``: the image's channels, which must match the
        model's ``in_channels``.
    normalize
        ``"zscore"``: per-image, per-channel mean 0, std 1; ``"percentile"``: per-image low/high
        percentiles mapped to 0/1; ``"none"``: values used as they are (as float32).
    local_contrast
        ``"clahe"``: contrast-limited adaptive histogram equalisation of each channel of the
        whole image at the model's scale, before normalising
        (:func:`~unet_core.data.preprocess.equalize_local_contrast`); ``"none"``.
    """

    channels: str = "as_is"
    normalize: str = "zscore"
    percentiles: tuple[float, float] = (1.0, 99.0)
    local_contrast: str = "none"

    def __post_init__(self) -> None:
        if self.channels not in CHANNEL_MODES:
            raise ValueError(f"channels must be one of {CHANNEL_MODES}, got {self.channels!r}")
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {self.normalize!r}")
        if self.local_contrast not in LOCAL_CONTRAST:
            raise ValueError(f"local_contrast must be one of {LOCAL_CONTRAST}, "
                             f"got {self.local_contrast!r}")  # fmt: skip
        pct = self.percentiles
        if (not isinstance(pct, (list, tuple)) or len(pct) != 2
                or not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in pct)
                or not 0 <= pct[0] < pct[1] <= 100):  # fmt: skip
            raise ValueError(f"percentiles must be two numbers 0 <= low < high <= 100, got "
                             f"{pct!r}")  # fmt: skip
        object.__setattr__(self, "percentiles", tuple(float(p) for p in pct))


@dataclass
class ModelCard:
    """Architecture, input conventions, classes, scale and provenance of a model.

    ``scale`` says at which pixel scale the model was trained, e.g. ``{"fov_diameter": 540}``
    for fundus photographs or ``{"pixel_size_nm": 4}``; inference may resample to it.
    ``provenance`` holds free-form facts: data, recipe, epochs, validation metrics.
    ``task`` names the kind of image (``unet_core.tasks``: "fundus", "em", "generic"); a card
    read from a file written before cards had it gets it where files are read
    (:mod:`unet_core.formats`, from ``tasks.infer_task``).
    """

    architecture: dict[str, Any]
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    classes: list[str] = field(default_factory=list)
    name: str = ""
    description: str = ""
    scale: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    task: str = "generic"

    def __post_init__(self) -> None:
        _check_types(self)
        n = self.architecture.get("num_classes", 2)
        if not self.classes:
            self.classes = (
                ["background", "foreground"] if n == 2 else [f"class {i}" for i in range(n)]
            )
        if len(self.classes) != n:
            raise ValueError(f"the model has {n} classes but {len(self.classes)} names were given")
        if isinstance(self.preprocessing, dict):
            self.preprocessing = Preprocessing(**self.preprocessing)

    def to_json(self) -> str:
        data = asdict(self)
        if data["preprocessing"]["local_contrast"] == "none":  # files older versions can read
            del data["preprocessing"]["local_contrast"]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        """The card of :meth:`to_json`'s text; its ``task`` is "" when the text names none (a
        file of an older version: the reader names it)."""
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("the model card is nested too deeply to be a model card") from None
        if not isinstance(data, dict) or "architecture" not in data:
            raise ValueError("the model card has no 'architecture' entry")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{"task": "", **{k: v for k, v in data.items() if k in known}})

    def render(self) -> str:
        """A human-readable card, as printed by ``napari-unet info``."""
        from ..base.names import one_line  # a name with a newline or ESC stays one line

        arch = self.architecture
        lines = [f"model: {one_line(self.name) or '(unnamed)'}"]
        if self.description:
            lines.append(f"  {one_line(self.description)}")
        kind = (f"{arch['external']} (not this tool's U-Net)" if "external" in arch
                else f"{arch['encoder']} U-Net" if arch.get("encoder") else "U-Net")
        rest = ", ".join(f"{k}={arch[k]}" for k in sorted(arch) if k != "external")
        lines.append(f"architecture: {kind}, {rest}")
        lines.append(
            f"classes: {', '.join(f'{i}={one_line(c)}' for i, c in enumerate(self.classes))}"
        )
        lines.append(f"task: {one_line(self.task)}")
        pre = self.preprocessing
        contrast = f", local_contrast={pre.local_contrast}" * (pre.local_contrast != "none")
        lines.append(f"input: channels={pre.channels}, normalize={pre.normalize}{contrast}")
        if self.scale:
            lines.append(one_line("scale: " + ", ".join(f"{k}={v}" for k, v in self.scale.items())))
        for key, value in self.provenance.items():
            if isinstance(value, (dict, list)):
                value = json.dumps(value)
            lines.append(one_line(f"{key}: {value}"))
        return "\n".join(lines)


def card_of(model: UNet) -> ModelCard:
    """The model's card, or a default one built from its architecture (a network made in code
    that no card was given)."""
    card = getattr(model, "card", None)
    return card if card is not None else ModelCard(architecture=model.config)


_TYPES = {"architecture": dict, "preprocessing": (dict, Preprocessing), "classes": list,
          "name": str, "description": str, "scale": dict, "provenance": dict,
          "task": str}  # fmt: skip
_JSON = {dict: "an object", list: "a list", str: "a string"}


def _check_types(card: ModelCard) -> None:
    """A one-line ValueError for a card entry of the wrong JSON type (a crafted or damaged
    file), before anything reads it."""
    for name, kind in _TYPES.items():
        value = getattr(card, name)
        if not isinstance(value, kind):
            want = _JSON[kind[0] if isinstance(kind, tuple) else kind]
            raise ValueError(f"the card's {name!r} must be {want}, got {type(value).__name__}")
    if not all(isinstance(c, str) for c in card.classes):
        raise ValueError("the card's class names must be strings")
    for key, value in card.scale.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e9:
            raise ValueError(f"the card's scale {key!r} must be a positive number, got {value!r}")
    n = card.architecture.get("num_classes", 2)
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"the card's num_classes must be an integer, got {n!r}")
