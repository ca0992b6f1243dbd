"""What a bioimage.io model description (format 0.4 or 0.5) of another tool says about running
it, read from the plain rdf (no bioimageio.spec): the axes of its input and output, its input
channels, the tile sizes it takes and its halo, its pre- and postprocessing (each step a
:class:`Step` with one spelling for both formats), its output channels' names. A description
this tool cannot run gives a one-line :class:`~.checks.ModelFileError` saying why."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..model.external import TileRule
from .checks import file_error

#: the weights this tool can run, in the order it prefers them
RUNNABLE = ("torchscript", "onnx")
MAX_EDGE = 8192  # the largest tile edge a package may ask for
MAX_CHANNELS = 254  # classes a mask can hold (255 is "ignore")
AXIS_TYPES = {"batch": "b", "channel": "c", "space": "", "index": "i", "time": "t"}


@dataclass(frozen=True)
class Step:
    """One pre- or postprocessing step: ``name`` as format 0.5 spells it (0.4's
    ``zero_mean_unit_variance`` with mode ``fixed`` is ``fixed_zero_mean_unit_variance``;
    its ``per_dataset`` is read as per image) and its keyword arguments."""

    name: str
    kwargs: dict = field(default_factory=dict)


@dataclass
class ForeignSpec:
    """The run-time facts of a foreign package's first input and first output."""

    name: str
    in_axes: str  # the input's axes in the package's order, of "bcyx" (b may be absent)
    in_channels: int
    in_dtype: str
    rules: tuple[TileRule, TileRule]  # y, x
    pre: list[Step]
    out_axes: str
    out_channels: int
    offset: tuple[int, int]  # output size - input size along y, x (negative: it shrinks)
    post: list[Step]
    channel_names: list[str]
    description: str = ""
    one_at_a_time: bool = False  # its batch axis is absent or of size 1: tiles one by one


def read_spec(path: Path, rdf: dict) -> ForeignSpec:
    """The :class:`ForeignSpec` of a model description; ModelFileError in one line when this
    tool cannot run it."""
    inputs, outputs = _list(rdf.get("inputs")), _list(rdf.get("outputs"))
    if len(inputs) != 1 or not outputs:
        raise file_error(f"{path.name}: the model takes {len(inputs)} input tensors and gives "
                         f"{len(outputs)} outputs; napari-unet runs models of one image input")
    v04 = str(rdf.get("format_version", "")).startswith("0.4")
    inp, out = inputs[0], outputs[0]
    in_axes, in_sizes = (_axes04 if v04 else _axes05)(path, inp, "input")
    out_axes, out_sizes = (_axes04 if v04 else _axes05)(path, out, "output")
    rules, offset = _geometry(path, inp, out, in_axes, in_sizes, out_axes, out_sizes, v04)
    channels = in_sizes.get("c", 1)
    if not isinstance(channels, int):
        raise file_error(f"{path.name}: its input has a varying number of channels")
    count = out_sizes.get("c", 1)
    if isinstance(count, tuple):  # 0.4: a size from the input's, or a smallest size
        count = round(channels * count[1] + 2 * count[2]) if count[0] == "ref" else count[0]
    _check_limits(path, rules, channels, int(count))
    names = _channel_names(out, out_axes, int(count), v04)
    dtype = str(inp.get("data_type") if v04 else (_dict(inp.get("data")).get("type")) or "")
    return ForeignSpec(
        name=str(rdf.get("name", path.stem))[:120], in_axes=in_axes, in_channels=channels,
        in_dtype=dtype or "float32", rules=rules, pre=steps(path, inp.get("preprocessing")),
        out_axes=out_axes, out_channels=int(count), offset=offset,
        post=steps(path, out.get("postprocessing")), channel_names=names,
        description=str(rdf.get("description", ""))[:300],
        one_at_a_time="b" not in in_axes or in_sizes.get("b") == 1,
    )  # fmt: skip


def _check_limits(path: Path, rules, channels: int, count: int) -> None:
    """A one-line ModelFileError for sizes no 2-D model needs (a crafted description must not
    make the machine allocate gigabytes for one tile)."""
    for rule in rules:
        if not (1 <= rule.min <= MAX_EDGE and 0 <= rule.step <= MAX_EDGE
                and 0 <= rule.halo < MAX_EDGE // 2):  # fmt: skip
            raise file_error(f"{path.name}: its tile sizes ({rule.min} + {rule.step}k, halo "
                             f"{rule.halo}) are beyond what napari-unet runs (edges up to "
                             f"{MAX_EDGE} px)")  # fmt: skip
    if not (1 <= channels <= MAX_CHANNELS and 1 <= count <= MAX_CHANNELS):
        raise file_error(f"{path.name}: {channels} input and {count} output channels; "
                         f"napari-unet runs models of 1 to {MAX_CHANNELS} of each")


def _list(value) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _check_axes(path: Path, axes: str, what: str) -> str:
    others = sorted(set(axes) - set("bcyx"))
    if others or not {"y", "x"} <= set(axes) or len(set(axes)) != len(axes):
        kind = "3-D (z)" if "z" in others else f"axes {axes!r}"
        raise file_error(f"{path.name}: its {what} has {kind}; napari-unet runs 2-D models "
                         "whose tensors have the axes b, c, y, x (in any order)")  # fmt: skip
    return axes


def _axes04(path: Path, tensor: dict, what: str) -> tuple[str, dict]:
    """0.4: axes a string ("bcyx"), shape a list, {min, step} or {reference_tensor, scale,
    offset}; the sizes per axis letter: an int, (min, step) or ("ref", scale, offset)."""
    axes = _check_axes(path, str(tensor.get("axes", "")), what)
    shape = tensor.get("shape")
    if isinstance(shape, list):
        return axes, dict(zip(axes, (int(s) for s in shape)))
    shape = _dict(shape)
    if "min" in shape:
        steps = shape.get("step") or [0] * len(shape["min"])
        return axes, {a: (int(m), int(s)) if s else int(m)
                      for a, m, s in zip(axes, shape["min"], steps)}  # fmt: skip
    if "reference_tensor" in shape:
        return axes, {a: ("ref", float(sc) if sc is not None else 0.0, float(off))
                      for a, sc, off in zip(axes, shape.get("scale", []),
                                            shape.get("offset", []))}  # fmt: skip
    raise file_error(f"{path.name}: its {what}'s shape is not one this tool reads")


def _axes05(path: Path, tensor: dict, what: str) -> tuple[str, dict]:
    """0.5: a list of axis objects; the sizes as :func:`_axes04` gives them (a reference's
    offset is the whole size difference here, not per side)."""
    letters, sizes = [], {}
    for axis in _list(tensor.get("axes")):
        kind = str(axis.get("type", ""))
        letter = AXIS_TYPES.get(kind, "?") or str(axis.get("id", "?"))
        letters.append(letter)
        size = axis.get("size")
        if kind == "channel":
            size = len(axis.get("channel_names") or []) or size or 1
        if isinstance(size, int):
            sizes[letter] = size
        elif isinstance(size, dict) and "min" in size:
            sizes[letter] = (int(size["min"]), int(size.get("step", 0)))
        elif isinstance(size, dict) and "axis_id" in size:
            sizes[letter] = ("ref", 1.0, float(size.get("offset", 0)) / 2)
        if kind == "space" and axis.get("halo"):
            sizes[f"halo_{letter}"] = int(axis["halo"])
    return _check_axes(path, "".join(letters), what), sizes


def _geometry(path, inp, out, in_axes, in_sizes, out_axes, out_sizes, v04):
    """(a TileRule for y and x, the output's size less the input's along y and x)."""
    rules, offset = [], []
    halo04 = dict(zip(out_axes, out.get("halo") or [])) if v04 else {}
    for a in "yx":
        size, got = in_sizes.get(a), out_sizes.get(a)
        low, step = (size, 0) if isinstance(size, int) else size if isinstance(size, tuple) \
            else (None, None)  # fmt: skip
        if low is None or low < 1:
            raise file_error(f"{path.name}: its input's {a} axis has no size this tool reads")
        if isinstance(got, tuple) and got[0] == "ref":
            if got[1] != 1.0:
                raise file_error(f"{path.name}: its output is resampled from its input (scale "
                                 f"{got[1]} along {a}); napari-unet runs outputs at the "
                                 "input's pixel size")  # fmt: skip
            diff = int(round(2 * got[2]))
        elif isinstance(got, int) and step == 0:
            diff = got - low
        else:
            raise file_error(f"{path.name}: its output's {a} size is neither the input's nor "
                             "fixed with it; napari-unet cannot tile it")  # fmt: skip
        halo = int(halo04.get(a, 0)) if v04 else int(out_sizes.get(f"halo_{a}", 0))
        rules.append(TileRule(int(low), int(step), halo))
        offset.append(diff)
    return tuple(rules), tuple(offset)


def _channel_names(out: dict, axes: str, count, v04: bool) -> list[str]:
    if not v04:
        for axis in _list(out.get("axes")):
            if axis.get("type") == "channel" and axis.get("channel_names"):
                return [str(n) for n in axis["channel_names"]]
    name = str(out.get("name") or out.get("id") or "output")
    n = count if isinstance(count, int) else 1
    return [name] if n == 1 else [f"{name} {i}" for i in range(n)]


def steps(path: Path, entries) -> list[Step]:
    """The steps of a pre- or postprocessing list in 0.5's spelling."""
    found = []
    for entry in _list(entries):
        name = str(entry.get("id") or entry.get("name") or "")
        kwargs = dict(_dict(entry.get("kwargs")))
        if name == "zero_mean_unit_variance" and kwargs.get("mode") == "fixed":
            name = "fixed_zero_mean_unit_variance"
        kwargs.pop("mode", None)  # per_sample; per_dataset: a single image is the data set
        found.append(Step(name, kwargs))
    return found


def runnable_weights(path: Path, rdf: dict, own_state_dict: bool) -> str:
    """The weights entry this tool runs: TorchScript, then ONNX, then a state dict of this
    tool's own architecture; a one-line refusal otherwise."""
    weights = _dict(rdf.get("weights"))
    if own_state_dict and "pytorch_state_dict" in weights:
        return "pytorch_state_dict"
    for kind in RUNNABLE:
        if isinstance(weights.get(kind), dict):
            return kind
    if "pytorch_state_dict" in weights:
        raise file_error(f"{path.name}: its PyTorch weights are a state dict of another "
                         "network, which only the package's own Python code builds, and "
                         "napari-unet does not execute a package's code (it runs TorchScript "
                         "and ONNX weights)")  # fmt: skip
    raise file_error(f"{path.name}: napari-unet runs TorchScript and ONNX weights")
