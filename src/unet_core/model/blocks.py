"""The U-Net's building blocks (Ronneberger et al. 2015, Fig. 1)."""

from __future__ import annotations

import torch
from torch import nn

PADDINGS = ("valid", "same")


def center_crop(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop the last two axes of ``x`` (N, C, H, W) to ``size`` around the centre."""
    dy = (x.shape[-2] - size[0]) // 2
    dx = (x.shape[-1] - size[1]) // 2
    return x[..., dy : dy + size[0], dx : dx + size[1]]


class DropBlock(nn.Module):
    """Drops square blocks of a feature map while training (Ghiasi et al., NeurIPS 2018).

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
    """(3x3 convolution => [BN] => ReLU [=> DropBlock]) * 2; unpadded for ``padding="valid"``."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        padding: str = "valid",
        batch_norm: bool = False,
        drop_block: float = 0.0,
    ):
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        layers: list[nn.Module] = []
        for c_in in (in_ch, out_ch):
            layers.append(
                nn.Conv2d(
                    c_in, out_ch, 3, padding=1 if padding == "same" else 0, bias=not batch_norm
                )
            )
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.ReLU(inplace=True))
            if drop_block:  # only when used, so the layer indices of older weights stay valid
                layers.append(DropBlock(drop_block))
        super().__init__(*layers)


class Down(nn.Sequential):
    """2x2 max-pool (stride 2) => DoubleConv, doubling the channels."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        padding: str = "valid",
        batch_norm: bool = False,
        drop_block: float = 0.0,
    ):
        super().__init__(
            nn.MaxPool2d(2), DoubleConv(in_ch, out_ch, padding, batch_norm, drop_block)
        )


class Up(nn.Module):
    """2x2 up-convolution halving the channels => concat with the cropped skip => DoubleConv."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        padding: str = "valid",
        batch_norm: bool = False,
        drop_block: float = 0.0,
    ):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, in_ch // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_ch // 2 + out_ch, out_ch, padding, batch_norm, drop_block)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """``x`` (N, in_ch, h, w) from below, ``skip`` (N, out_ch, >=2h, >=2w) from the left."""
        x = self.up(x)
        return self.conv(torch.cat([center_crop(skip, x.shape[-2:]), x], dim=1))
