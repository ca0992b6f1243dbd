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


class DoubleConv(nn.Sequential):
    """(3x3 convolution => [BN] => ReLU) * 2; unpadded for ``padding="valid"``."""

    def __init__(self, in_ch: int, out_ch: int, padding: str = "valid", batch_norm: bool = False):
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
        super().__init__(*layers)


class Down(nn.Sequential):
    """2x2 max-pool (stride 2) => DoubleConv, doubling the channels."""

    def __init__(self, in_ch: int, out_ch: int, padding: str = "valid", batch_norm: bool = False):
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_ch, out_ch, padding, batch_norm))


class Up(nn.Module):
    """2x2 up-convolution halving the channels => concat with the cropped skip => DoubleConv."""

    def __init__(self, in_ch: int, out_ch: int, padding: str = "valid", batch_norm: bool = False):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, in_ch // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_ch // 2 + out_ch, out_ch, padding, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """``x`` (N, in_ch, h, w) from below, ``skip`` (N, out_ch, >=2h, >=2w) from the left."""
        x = self.up(x)
        return self.conv(torch.cat([center_crop(skip, x.shape[-2:]), x], dim=1))
