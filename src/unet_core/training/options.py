"""Options a training takes as ``KEY=VALUE`` text (``--set`` for the recipe, ``--arch`` for the
network): typed by the entries they replace (:func:`parse_overrides`), and for a training on a
user's own images checked against what such a training can honour (:func:`own_options`): an
entry it cannot take is refused in one line that says what to use instead, so nothing given is
silently ignored. The card records the recipe that ran (``provenance.recipe``)."""

from __future__ import annotations

import dataclasses
import inspect

#: recipe entries that have an option of their own, or that a user's training sets itself
NOT_SET_HERE = {
    "steps": "give --steps or --minutes", "seed": "give --seed",
    "precision": "give --precision", "val_every": "validations are spaced over the run",
    "budget_validations": "validations are spaced over the run",
    "ignore_label": "255 marks what is not annotated", "object_class": "set by the classes",
    "input_scale": "images are trained at their own scale",
    "freeze_bn": "a fine-tuning choice", "freeze_encoder": "a fine-tuning choice",
    "corrected_p": "a fine-tuning choice", "monitor_mode": "set by monitor",
}
#: architecture entries that come from the data
FROM_DATA = {"in_channels": "the images' channels", "num_classes": "the classes",
             "spatial_dims": "the data (images or volumes)"}


def own_options(recipe_items: list[str], arch_items: list[str], size: str) -> tuple[dict, dict]:
    """(recipe entries, architecture entries) of ``--set``/``--arch`` for a training on one's
    own images with network ``size``; ValueError in one line for one it cannot honour."""
    from ..model.build import check_architecture
    from ..model.unet import UNet
    from .config import TrainConfig
    from .recipe import architecture

    recipe = parse_overrides(TrainConfig(), recipe_items, "--set")
    for key in recipe:
        if key in NOT_SET_HERE:
            raise ValueError(f"--set {key}: not for a training on your own images "
                             f"({NOT_SET_HERE[key]})")  # fmt: skip
    if recipe:
        TrainConfig(**recipe)  # the values themselves (a schedule, a patience) checked now
    base = architecture(size, 1, 2)
    params = {k: p.default for k, p in inspect.signature(UNet.__init__).parameters.items()
              if k != "self"}  # fmt: skip
    if any(item.partition("=")[0] == "encoder" for item in arch_items):
        raise ValueError("--arch encoder: choose it with --size resnet18, resnet34 or resnet50")
    arch = parse_overrides({**params, "refine": 0, **base}, arch_items, "--arch")
    for key in arch:
        if key in FROM_DATA:
            raise ValueError(f"--arch {key}: set by {FROM_DATA[key]}")
    if arch:
        check_architecture({**base, **arch})
    return recipe, arch


def parse_overrides(config, items: list[str], option: str = "--set", prefix: str = "") -> dict:
    """``["patch=160", "augmentation.blur_p=0.3"]`` -> typed values for the fields of
    ``config``, a dataclass or a dict (a dotted key sets a field of a nested recipe entry);
    ValueError in one line naming ``option`` for an unknown entry or a value of another kind."""
    if isinstance(config, dict):
        fields = dict(config)
    else:
        fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    out: dict = {}
    nested: dict[str, list[str]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        head, dot, rest = key.partition(".")
        if sep and dot and head in fields and dataclasses.is_dataclass(fields[head]):
            nested.setdefault(head, []).append(f"{rest}={text}")
            continue
        if not sep or key not in fields or dataclasses.is_dataclass(fields[key]):
            kind = "a recipe" if option == "--set" else "an architecture"
            raise ValueError(f"{option} expects KEY=VALUE with {kind} entry as KEY, got "
                             f"{prefix + item!r}")  # fmt: skip
        out[key] = typed(fields[key], text, f"{option} {prefix}{key}")
    for head, sub in nested.items():
        out[head] = dataclasses.replace(fields[head],
                                        **parse_overrides(fields[head], sub, option,
                                                          f"{prefix}{head}."))
    return out


def typed(current, text: str, what: str):
    """``text`` as a value of ``current``'s kind (a number for an entry that is None)."""
    if isinstance(current, bool):
        if text.lower() not in ("1", "true", "yes", "0", "false", "no"):
            raise ValueError(f"{what}: expected true or false, got {text!r}")
        return text.lower() in ("1", "true", "yes")
    if current is None and text.lower() == "none":
        return None
    kind = type(current) if current is not None else int if text.lstrip("-").isdigit() else float
    try:
        return kind(text)
    except (TypeError, ValueError):
        name = {int: "a whole number", float: "a number"}.get(kind, kind.__name__)
        name = "a number or none" if current is None else name
        raise ValueError(f"{what}: expected {name}, got {text!r}") from None


def preset_architecture(architecture: dict, items: list[str]) -> dict:
    """A preset's network with ``--arch`` entries; ``encoder=resnet34`` makes it a ResNet
    U-Net with the preset's channels and classes (its other U-Net entries do not apply)."""
    encoder = [item.partition("=")[2] for item in items if item.startswith("encoder=")]
    if encoder:
        architecture = {"in_channels": architecture["in_channels"],
                        "num_classes": architecture["num_classes"], "base_channels": 16,
                        "encoder": encoder[-1]}  # fmt: skip
        items = [item for item in items if not item.startswith("encoder=")]
    return {**architecture, **parse_overrides(architecture, items, "--arch")}
