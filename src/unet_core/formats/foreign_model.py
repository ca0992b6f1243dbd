"""A bioimage.io package of another tool as a network this tool runs (:class:`ForeignModel`):
its TorchScript weights (``torch.jit.load`` of the bytes, no pickle) or ONNX weights
(onnxruntime), or a state dict of this tool's own U-Net, wrapped with the package's axes,
postprocessing and the rule that turns its output into class probabilities:

* one output channel: the foreground probability -> classes [background, <its name>];
* several channels that sum to 1 (a softmax step, or so on a probe tile when loaded): the
  classes, named after the channels;
* otherwise each channel is an independent foreground score s_i in [0, 1] -> classes
  [background, <channel names>...] with background = 1 - max_i s_i, the whole divided by
  its sum (so the strongest channel wins where it is above 0.5).

Values outside [0, 1] are clipped. Its preprocessing is :class:`~.foreign_ops.
PackageNormalizer`; the sliding window cuts each tile's halo as context."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import numpy as np
import torch

from ..model.card import ModelCard, Preprocessing
from ..model.external import ExternalNetwork
from . import bioimageio_read as package
from .checks import file_error
from .foreign_ops import PackageNormalizer, check_steps, output_call
from .foreign_rdf import ForeignSpec, read_spec, runnable_weights

EPS = 1e-7
RULES = {"foreground": "one channel: the foreground probability",
         "classes": "channels that sum to 1: the classes",
         "independent": "independent foreground scores per channel"}  # fmt: skip


class ForeignModel(ExternalNetwork):
    """A foreign package's network; see the module's docstring. ``forward`` takes
    (B, c, h, w) preprocessed float32 tiles in the order b, c, y, x."""

    def __init__(self, spec: ForeignSpec, runner, kind: str, path: Path, rdf: dict,
                 rule: str | None = None):  # fmt: skip
        super().__init__()
        self.spec, self.kind, self.rdf, self.path = spec, kind, rdf, path
        if isinstance(runner, torch.nn.Module):
            self.net = runner
            self.session = None
        else:
            self.session = runner
        self.trainable = kind == "torchscript" and any(  # what can be written back
            p.is_floating_point() for p in self.net.parameters())  # fmt: skip
        self.in_channels, self.rules = spec.in_channels, spec.rules
        self.shrink = tuple(-o for o in spec.offset)
        self.post = output_call(spec.post)
        self.logit = bool(spec.post) and spec.post[-1].name == "sigmoid"
        self.before_sigmoid = output_call(spec.post[:-1])
        self.rule = rule or self._rule()
        names = spec.channel_names
        classes = ["background", names[0]] if self.rule == "foreground" else (
            list(names) if self.rule == "classes" else ["background", *names])  # fmt: skip
        self.num_classes = len(classes)
        channels = {1: "gray", 3: "rgb"}.get(self.in_channels, "as_is")
        self.card = ModelCard(
            architecture={"external": f"bioimage.io {kind}", "in_channels": self.in_channels,
                          "num_classes": self.num_classes, "spatial_dims": 2},
            preprocessing=Preprocessing(channels=channels, normalize="none"),
            classes=classes, name=spec.name, description=spec.description, task="generic",
            provenance={"package": path.name,
                        "format_version": str(rdf.get("format_version", "")),
                        "package preprocessing": _names(spec.pre),
                        "package postprocessing": _names(spec.post),
                        "tiles": ", ".join(_tiles(r) for r in spec.rules),
                        "output rule": RULES[self.rule]},
        )  # fmt: skip

    def __deepcopy__(self, memo) -> ForeignModel:
        """A copy whose weights are its own leaf tensors (``copy.deepcopy`` of a TorchScript
        module gives tensors that take no gradient); an ONNX session is shared."""
        runner = self.session
        if runner is None and isinstance(self.net, torch.jit.ScriptModule):
            buffer = io.BytesIO()
            torch.jit.save(self.net, buffer)
            buffer.seek(0)
            runner = torch.jit.load(buffer)
        elif runner is None:
            runner = copy.deepcopy(self.net, memo)
        new = ForeignModel(self.spec, runner, self.kind, self.path, self.rdf, self.rule)
        new.card = copy.deepcopy(self.card, memo)
        device = next((p.device for p in self.parameters()), torch.device("cpu"))
        return new.to(device).train(self.training)

    def normalizer(self) -> PackageNormalizer:
        return PackageNormalizer(self.spec.pre, self.card.preprocessing.channels)

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        """The package's output (B, k, h', w') of (B, c, h, w) tiles, before postprocessing."""
        if self.spec.one_at_a_time and len(x) > 1:
            return torch.cat([self._call(x[i : i + 1]) for i in range(len(x))])
        return self._call(x)

    def _call(self, x: torch.Tensor) -> torch.Tensor:
        axes, src = self.spec.in_axes, "bcyx"
        if "c" not in axes:
            x, src = x[:, 0], "byx"
        if "b" not in axes:
            x, src = x[0], src[1:]
        x = x.permute([src.index(a) for a in axes])
        if self.session is not None:
            array = x.detach().cpu().numpy().astype(self.spec.in_dtype, copy=False)
            name = self.session.get_inputs()[0].name
            y = torch.from_numpy(np.asarray(self.session.run(None, {name: array})[0]))
            y = y.to(x.device, torch.float32)
        else:
            y = self.net(x.to(_torch_dtype(self.spec.in_dtype)))
            y = (y[0] if isinstance(y, (tuple, list)) else y).float()
        have = self.spec.out_axes
        for a in "cb":  # the axes the output lacks, in front
            if a not in have:
                y, have = y.unsqueeze(0), a + have
        return y.permute([have.index(a) for a in "bcyx"])

    def forward(self, x: torch.Tensor, aux: bool = False):
        """Log class probabilities (B, classes, h', w') of preprocessed tiles (twice with
        ``aux``, as a U-Net gives its output and its first pass's for training)."""
        out = self._log_probs(self.raw(x))
        return (out, out) if aux else out

    def _log_probs(self, z: torch.Tensor) -> torch.Tensor:
        if self.rule == "foreground" and self.logit:
            logit = self.before_sigmoid(z)[:, :1]
            return torch.cat([torch.nn.functional.logsigmoid(-logit),
                              torch.nn.functional.logsigmoid(logit)], dim=1)  # fmt: skip
        p = self.post(z)
        if self.rule == "foreground":
            p = p[:, :1].clamp(EPS, 1 - EPS)
            return torch.cat([torch.log1p(-p), torch.log(p)], dim=1)
        if self.rule == "classes":
            return torch.log(p.clamp_min(EPS))
        s = p.clamp(0, 1)
        q = torch.cat([1 - s.amax(dim=1, keepdim=True), s], dim=1)
        return torch.log((q / q.sum(dim=1, keepdim=True).clamp_min(EPS)).clamp_min(EPS))

    def _rule(self) -> str:
        if self.spec.out_channels == 1:
            return "foreground"
        if any(s.name == "softmax" for s in self.spec.post):
            return "classes"
        edge = [r.accept(max(r.min, 64)) for r in self.rules]
        probe = torch.from_numpy(np.random.default_rng(0).normal(
            size=(1, self.in_channels, *edge)).astype(np.float32))  # fmt: skip
        with torch.no_grad():
            p = self.post(self.raw(probe))
        inside = bool(((p >= -1e-4) & (p <= 1 + 1e-4)).all())
        return "classes" if inside and bool(((p.sum(1) - 1).abs() < 1e-3).all()) \
            else "independent"  # fmt: skip


def _names(steps) -> str:
    return ", ".join(s.name for s in steps) or "none"


def _tiles(rule) -> str:
    size = f"{rule.min} px" if rule.step <= 0 else f"{rule.min} + {rule.step}k px"
    return size + (f" (halo {rule.halo})" if rule.halo else "")


def _torch_dtype(name: str) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, np.dtype(name))).dtype


def load_foreign(path: Path, device="cpu") -> ForeignModel:
    """The network of a bioimage.io package of another tool; a one-line ModelFileError when
    this tool cannot run it (and why)."""
    rdf = package.read_rdf(path)
    try:
        kind = runnable_weights(path, rdf, _own_architecture(path, rdf))
        spec = read_spec(path, rdf)
        check_steps(path, spec.pre, spec.post)
        if any(o > 0 for o in spec.offset):
            raise file_error(f"{path.name}: its output is larger than its input, which "
                             "napari-unet cannot tile")  # fmt: skip
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        why = str(exc) if isinstance(exc, ValueError) else (
            f"its description is not one napari-unet reads ({type(exc).__name__})")  # fmt: skip
        raise file_error(package.foreign(path, rdf, why)) from None
    entry = rdf["weights"][kind]
    data = package.read_member(path, str(entry.get("source", "")), sha256=entry.get("sha256"))
    if kind == "torchscript":
        runner = _torchscript(path, data)
    elif kind == "onnx":
        runner = _onnx(path, data)
    else:
        runner = _own_network(path, entry, data)
    try:
        model = ForeignModel(spec, runner, kind, path, rdf)
    except (RuntimeError, ValueError, TypeError) as exc:  # the probe tile failed
        why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise file_error(f"{path.name}: its network fails on a tile of the sizes its "
                         f"description gives ({why})") from exc  # fmt: skip
    return model.on(torch.device(device) if isinstance(device, str) else device)


def _torchscript(path: Path, data: bytes) -> torch.nn.Module:
    try:
        net = torch.jit.load(io.BytesIO(data), map_location="cpu")
    except (RuntimeError, ValueError) as exc:
        raise file_error(f"{path.name}: its TorchScript weights cannot be read "
                         f"({type(exc).__name__})") from exc  # fmt: skip
    return net.eval()


def _onnx(path: Path, data: bytes):
    try:
        import onnxruntime
    except ImportError:
        raise file_error(f"{path.name}: its weights are ONNX, which needs onnxruntime: "
                         "pip install onnxruntime") from None  # fmt: skip
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own error types
        raise file_error(f"{path.name}: its ONNX weights cannot be read "
                         f"({str(exc).splitlines()[0][:160]})") from exc  # fmt: skip


def _own_architecture(path: Path, rdf: dict) -> bool:
    """Whether the package's state dict is of this tool's own U-Net (its one-file
    architecture, named as this tool writes it): then it is built here, from its arguments,
    never by running the package's file."""
    from .bioimageio_architecture import CALLABLE

    entry = (rdf.get("weights") or {}).get("pytorch_state_dict")
    arch = entry.get("architecture") if isinstance(entry, dict) else None
    if isinstance(arch, str) and ":" in arch:  # 0.4: "file.py:Callable"
        arch = {"source": arch.rsplit(":", 1)[0], "callable": arch.rsplit(":", 1)[1]}
    if not isinstance(arch, dict) or arch.get("callable") != CALLABLE:
        return False
    try:
        text = package.read_member(path, str(arch.get("source", "")), 1 << 20)
    except ValueError:
        return False
    return text.lstrip().startswith(b'"""The U-Net of napari-unet')


def _own_network(path: Path, entry: dict, data: bytes) -> torch.nn.Module:
    from ..model.build import check_architecture
    from .bioimageio_architecture import STATE_PREFIX
    from .probabilities import Probabilities

    kwargs = entry.get("kwargs") or (entry.get("architecture") or {}).get("kwargs") or {}
    try:
        check_architecture(dict(kwargs))
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        net = Probabilities(**kwargs)
        net.net.load_state_dict({k[len(STATE_PREFIX):]: v for k, v in state.items()})
    except Exception as exc:  # a damaged file or arguments this tool does not build
        raise file_error(f"{path.name}: its state dict does not build this tool's U-Net "
                         f"({str(exc).strip().splitlines()[0][:160]})") from exc  # fmt: skip
    return net.eval()
