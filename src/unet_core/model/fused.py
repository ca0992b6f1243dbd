"""A network's inference form: batch norm folded into the convolution before it, and on a CPU
with oneDNN each convolution and its ReLU run as one primitive, in the compute dtype.

In eval mode batch norm is an affine map per channel, so ``BN(conv(x)) = conv'(x)`` with the
weights and bias scaled and shifted (folded in float64, then cast). The ReLU after it is
oneDNN's post-op: the output is written once instead of read and written again. With bf16
weights the copy needs no autocast; the ReLU of bf16 tensors alone took a fifth of a bf16
forward pass on this CPU (benchmarks/tiling.py). The same probabilities to float32 rounding
(``tests/core/test_fused.py``); :func:`inference_form` leaves the model itself untouched, so a
model being fine-tuned is copied again for each prediction.
"""

from __future__ import annotations

import copy
import functools

import torch
from torch import nn

from .blocks import DoubleConv, DropBlock


@functools.cache
def onednn_fusion(dtype: torch.dtype = torch.float32) -> bool:
    """Whether this torch build runs a convolution with its ReLU as one oneDNN primitive in
    ``dtype`` on this CPU (checked once per dtype, on a tiny input, against the unfused
    result: oneDNN's bf16 path needs AVX-512 or AVX-NE-CONVERT, which many CPUs lack)."""
    op = getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None)
    if op is None or not torch.backends.mkldnn.is_available():
        return False
    try:
        with torch.inference_mode():
            x = torch.randn(1, 2, 8, 8).contiguous(memory_format=torch.channels_last)
            w, b = torch.randn(3, 2, 3, 3), torch.randn(3)
            got = op(x.to(dtype), w.to(dtype), b.to(dtype), [1, 1], [1, 1], [1, 1], 1, "relu",
                     [], "").float()  # fmt: skip
            want = torch.relu(nn.functional.conv2d(x, w, b, padding=1))
            return bool(torch.allclose(got, want, atol=1e-5 if dtype == torch.float32 else 0.1))
    except (RuntimeError, TypeError):
        return False


class ConvReLU(nn.Module):
    """ReLU(conv(x) + bias) with odd kernels in 2 or 3 dimensions (from the weight's shape),
    as one primitive when ``fused``; ``padding`` per axis."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, padding, fused: bool):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False)
        ndim = weight.dim() - 2
        pads = [padding] * ndim if isinstance(padding, int) else padding
        self.padding = [int(p) for p in pads]
        self.fused = bool(fused)
        self.conv = nn.functional.conv2d if ndim == 2 else nn.functional.conv3d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            ones = [1] * len(self.padding)
            return torch.ops.mkldnn._convolution_pointwise(
                x, self.weight, self.bias, self.padding, ones, ones, 1, "relu", [], ""
            )
        return self.conv(x, self.weight, self.bias, padding=self.padding).relu_()


CONVS = (nn.Conv2d, nn.Conv3d)
BATCH_NORMS = (nn.BatchNorm2d, nn.BatchNorm3d)


def fold(conv: nn.Module, bn: nn.Module | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) of ``conv`` followed by ``bn`` in eval mode, computed in float64 on the
    CPU (MPS has no float64), returned on the CPU."""

    def f64(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to("cpu", torch.float64)

    w = f64(conv.weight)
    b = f64(conv.bias) if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    if bn is None:
        return w, b
    scale = f64(bn.weight) / torch.sqrt(f64(bn.running_var) + bn.eps)
    shift = f64(bn.bias) - f64(bn.running_mean) * scale
    return w * scale.reshape(-1, *[1] * (w.dim() - 1)), b * scale + shift


def fuse_double_conv(block: DoubleConv, fused: bool) -> None:
    """Replace ``block``'s (conv, [BN], ReLU[, DropBlock]) runs by :class:`ConvReLU`, in place;
    a block with instance norm (statistics of each input, nothing to fold) stays as it is."""
    layers, out, i = list(block), [], 0
    if any(isinstance(m, (nn.InstanceNorm2d, nn.InstanceNorm3d)) for m in layers):
        return
    while i < len(layers):
        conv = layers[i]
        if not isinstance(conv, CONVS):
            raise TypeError(f"unexpected layer in a DoubleConv: {conv!r}")
        i += 1
        bn = layers[i] if i < len(layers) and isinstance(layers[i], BATCH_NORMS) else None
        i += bn is not None
        if not (i < len(layers) and isinstance(layers[i], nn.ReLU)):
            raise TypeError("a DoubleConv convolution without its ReLU")
        i += 1
        if i < len(layers) and isinstance(layers[i], DropBlock):  # the identity in eval mode
            i += 1
        w, b = fold(conv, bn)
        dtype = conv.weight.dtype
        out.append(ConvReLU(w.to(dtype), b.to(dtype), conv.padding, fused))
    block._modules.clear()
    for k, layer in enumerate(out):
        block.add_module(str(k), layer)


def fold_in_place(parent: nn.Module, conv_name: str, bn_name: str) -> None:
    """Replace ``parent``'s convolution ``conv_name`` and the batch norm ``bn_name`` after it
    by one convolution with a bias (the batch norm becomes the identity)."""
    conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
    w, b = fold(conv, bn)
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                       conv.padding, conv.dilation, conv.groups, bias=True,
                       device="meta")  # fmt: skip
    folded.weight = nn.Parameter(w.to(conv.weight.dtype), requires_grad=False)
    folded.bias = nn.Parameter(b.to(conv.weight.dtype), requires_grad=False)
    setattr(parent, conv_name, folded)
    setattr(parent, bn_name, nn.Identity())


def inference_form(
    model: nn.Module,
    dtype: torch.dtype = torch.float32,
    fuse: bool | None = None,
    device: torch.device | str | None = None,
    memory_format: torch.memory_format = torch.preserve_format,
) -> nn.Module:
    """A copy of ``model`` for inference only, on ``device`` (default: the model's): in eval
    mode, batch norm folded, parameters in ``dtype`` (input must be given in it) and
    ``memory_format``, and each convolution run with its ReLU as one oneDNN primitive if
    ``fuse`` (default: where oneDNN can, on the CPU; a graph traced by ``torch.jit`` needs
    ``fuse=False``). ``model`` itself is neither moved nor changed."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    fused = onednn_fusion(dtype) and device.type == "cpu" if fuse is None else bool(fuse)
    net = copy.deepcopy(model).eval()
    for module in list(net.modules()):
        if isinstance(module, DoubleConv):
            fuse_double_conv(module, fused)  # folded on the CPU
        for parent, conv, bn in getattr(module, "conv_bn_pairs", list)():
            fold_in_place(parent, conv, bn)  # a residual network's convolutions
    for p in net.parameters():
        p.grad = None  # a model under training: its gradients are not the copy's
    net.requires_grad_(False)
    return net.to(device, memory_format=memory_format).to(dtype)
