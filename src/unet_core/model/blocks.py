"""The U-Net's building blocks (Ronneberger et al. 2015, Fig. 1), in 2 or 3 spatial dimensions
(the 3-D U-Net of Cicek et al., MICCAI 2016): the layers of a block are those of its ``ndim``,
and a volume's kernels and pools may differ per axis (``(1, 3, 3)`` convolutions and
``(1, 2, 2)`` pools where the voxel is much longer along z than in-plane)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

PADDINGS = ("valid", "same")
SPATIAL_DIMS = (2, 3)

Size = int | Sequence[int]


def per_axis(value: Size, ndim: int) -> tuple[int, ...]:
    """``value`` given once for every axis, or per axis, as a tuple of ``ndim`` ints."""
    if isinstance(value, int):
        return (value,) * ndim
    out = tuple(int(v) for v in value)
    if len(out) != ndim:
        raise ValueError(f"expected one size or {ndim}, got {tuple(value)}")
    return out


def layer(kind: str, ndim: int) -> type[nn.Module]:
    """The torch layer class ``kind`` ("Conv", "ConvTranspose", "BatchNorm", "InstanceNorm",
    "MaxPool", "Dropout") for ``ndim`` spatial axes."""
    if ndim not in SPATIAL_DIMS:
        raise ValueError(f"spatial_dims must be one of {SPATIAL_DIMS}, got {ndim!r}")
    return getattr(nn, f"{kind}{ndim}d")


def center_crop(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Crop the last ``len(size)`` axes of ``x`` (N, C, *spatial) to ``size`` around the centre."""
    index = [slice(None)] * (x.dim() - len(size))
    for n, s in zip(x.shape[-len(size) :], size):
        d = (n - s) // 2
        index.append(slice(d, d + s))
    return x[tuple(index)]


class DropBlock(nn.Module):
    """Drops square blocks of a 2-D feature map while training (Ghiasi et al., NeurIPS 2018).

    Neighbouring pixels of a feature map are correlated, so dropping single pixels (dropout)
    hardly regularises a convolutional network; dropping ``size`` x ``size`` blocks does. About a
    fraction ``p`` of each map is dropped and the rest rescaled; the identity in eval mode.
    """

    def __init__(self, p: float, size: int = 7):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop_block must be in [0, 1), got {p}")
        if size < 1 or size % 2 == 0:
            raise ValueError(f"block size must be a positive odd integer, got {size}")
        self.p, self.size = p, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        h, w = x.shape[-2:]
        size = min(self.size, h, w)
        size -= 1 - size % 2  # odd and at most the map (deep maps of small crops are tiny)
        # seed rate so that the blocks grown from the seeds cover about p of the map
        seeds = self.p / size**2 * (h * w) / ((h - size + 1) * (w - size + 1))
        mask = (torch.rand(x.shape[0], x.shape[1], h, w, device=x.device) < seeds).to(x.dtype)
        # grow each seed into a size x size block: a square max filter, as two 1-D passes
        half = size // 2
        grown = nn.functional.max_pool2d(mask, (size, 1), stride=1, padding=(half, 0))
        keep = 1.0 - nn.functional.max_pool2d(grown, (1, size), stride=1, padding=(0, half))
        return x * keep * (keep.numel() / keep.sum().clamp(min=1.0))

    def extra_repr(self) -> str:
        return f"p={self.p}, size={self.size}"


class DoubleConv(nn.Sequential):
    """(3x3[x3] convolution => [norm] => ReLU [=> DropBlock]) * 2; unpadded for
    ``padding="valid"``. ``kernel`` per axis (1 along an axis the block does not convolve);
    ``norm``: "" (none), "batch" or "instance"."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        padding: str = "valid",
        batch_norm: bool = False,
        drop_block: float = 0.0,
        *,
        ndim: int = 2,
        kernel: Size = 3,
        instance_norm: bool = False,
    ):
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        if drop_block and ndim != 2:
            raise ValueError("drop_block is for 2-D networks")
        kernel = per_axis(kernel, ndim)
        pad = tuple(k // 2 for k in kernel) if padding == "same" else 0
        normed = batch_norm or instance_norm
        layers: list[nn.Module] = []
        for c_in in (in_ch, out_ch):
            layers.append(layer("Conv", ndim)(c_in, out_ch, kernel, padding=pad, bias=not normed))
            if batch_norm:
                layers.append(layer("BatchNorm", ndim)(out_ch))
            elif instance_norm:
                layers.append(layer("InstanceNorm", ndim)(out_ch, affine=True))
            layers.append(nn.ReLU(inplace=True))
            if drop_block:  # only when used, so the layer indices of older weights stay valid
                layers.append(DropBlock(drop_block))
        super().__init__(*layers)


class Down(nn.Sequential):
    """Max-pool by ``pool`` (2x2[x2], or per axis) => DoubleConv, doubling the channels;
    ``options`` are :class:`DoubleConv`'s."""

    def __init__(self, in_ch: int, out_ch: int, padding: str = "valid", batch_norm: bool = False,
                 drop_block: float = 0.0, *, ndim: int = 2, pool: Size = 2,
                 **options) -> None:  # fmt: skip
        pool = per_axis(pool, ndim)
        super().__init__(
            layer("MaxPool", ndim)(pool, stride=pool),
            DoubleConv(in_ch, out_ch, padding, batch_norm, drop_block, ndim=ndim, **options),
        )


class Up(nn.Module):
    """Up-convolution by ``pool`` halving the channels => concat with the cropped skip =>
    DoubleConv; ``options`` are :class:`DoubleConv`'s."""

    def __init__(self, in_ch: int, out_ch: int, padding: str = "valid", batch_norm: bool = False,
                 drop_block: float = 0.0, *, ndim: int = 2, pool: Size = 2,
                 **options) -> None:  # fmt: skip
        super().__init__()
        pool = per_axis(pool, ndim)
        self.up = layer("ConvTranspose", ndim)(in_ch, in_ch // 2, kernel_size=pool, stride=pool)
        self.conv = DoubleConv(in_ch // 2 + out_ch, out_ch, padding, batch_norm, drop_block,
                               ndim=ndim, **options)  # fmt: skip

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """``x`` (N, in_ch, *s) from below, ``skip`` (N, out_ch, >= pool * s) from the left."""
        x = self.up(x)
        return self.conv(torch.cat([center_crop(skip, x.shape[2:]), x], dim=1))
