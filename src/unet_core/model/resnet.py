"""A U-Net whose contracting path is a ResNet (He, Zhang, Ren and Sun, CVPR 2016): the stem (a
7x7 convolution with stride 2 and a 3x3 max-pool with stride 2) and four stages of residual
blocks (basic blocks for ResNet-18 and -34, bottlenecks for ResNet-50), whose outputs feed an
expanding path of U-Net blocks through skip connections, up to full resolution (the "hybrid"
form that segmentation-models-pytorch made common).

The encoder's modules are named as in the paper's reference implementation (``conv1``,
``bn1``, ``layer1``..``layer4``, ``downsample``), so ImageNet weights from a file load by name
(:mod:`.resnet_weights`). The network is a :class:`~.unet.UNet` in everything the rest of the
tool asks of one (same padding, five halvings: valid sizes are multiples of 32; the card's
architecture names the encoder)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from .arguments import check_arguments
from .blocks import DoubleConv
from .unet import UNet

#: residual blocks per stage, and whether they are bottlenecks (four times wider outputs)
ENCODERS = {
    "resnet18": ((2, 2, 2, 2), False),
    "resnet34": ((3, 4, 6, 3), False),
    "resnet50": ((3, 4, 6, 3), True),
}
#: the stages' widths (a bottleneck stage outputs four times its width)
WIDTHS = (64, 128, 256, 512)
#: halvings of the input: the stem's two and three stages' one each
DEPTH = 5


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out)]  # fmt: skip


class Residual(nn.Module):
    """A residual block: its convolutions with batch norm (``conv1``, ``bn1``, ...), added to
    the input (through ``downsample``, a 1x1 projection, where the width or the stride
    changes), then ReLU."""

    expansion = 1
    convs = 2

    def shortcut(self, c_in: int, out: int, stride: int) -> None:
        self.downsample = (nn.Sequential(*conv_bn(c_in, out, 1, stride))
                           if stride != 1 or c_in != out else None)  # fmt: skip

    def conv_bn_pairs(self):
        """(module, convolution's name, its batch norm's name): what the inference form folds."""
        pairs = [(self, f"conv{i}", f"bn{i}") for i in range(1, self.convs + 1)]
        return pairs + ([(self.downsample, "0", "1")] if self.downsample is not None else [])

    def residual(self, x):
        for i in range(1, self.convs):
            x = functional.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
        return getattr(self, f"bn{self.convs}")(getattr(self, f"conv{self.convs}")(x))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        return functional.relu(self.residual(x) + shortcut)


class BasicBlock(Residual):
    """Two 3x3 convolutions (ResNet-18 and -34)."""

    def __init__(self, c_in: int, width: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = conv_bn(c_in, width, 3, stride)
        self.conv2, self.bn2 = conv_bn(width, width, 3)
        self.shortcut(c_in, width, stride)


class Bottleneck(Residual):
    """1x1 down to ``width``, 3x3 (with the stride), 1x1 up to four times ``width``
    (ResNet-50)."""

    expansion = 4
    convs = 3

    def __init__(self, c_in: int, width: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = conv_bn(c_in, width, 1)
        self.conv2, self.bn2 = conv_bn(width, width, 3, stride)
        self.conv3, self.bn3 = conv_bn(width, width * 4, 1)
        self.shortcut(c_in, width * 4, stride)


class ResNetEncoder(nn.Module):
    """The stem and four stages; :meth:`forward` returns the features at strides 2, 4, 8, 16
    and 32 (the stem's convolution and each stage)."""

    def __init__(self, in_channels: int, name: str):
        super().__init__()
        counts, bottleneck = ENCODERS[name]
        block = Bottleneck if bottleneck else BasicBlock
        self.conv1, self.bn1 = conv_bn(in_channels, 64, 7, 2)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        c = 64
        for i, (n, width) in enumerate(zip(counts, WIDTHS)):
            blocks = []
            for j in range(n):
                blocks.append(block(c, width, 2 if (j == 0 and i > 0) else 1))
                c = width * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.channels = (64, *(w * block.expansion for w in WIDTHS))

    def conv_bn_pairs(self):
        return [(self, "conv1", "bn1")]

    def forward(self, x):
        x = functional.relu(self.bn1(self.conv1(x)))
        features = [x]
        x = self.maxpool(x)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            features.append(x)
        return features


class Decoder(nn.Module):
    """Upsample by 2 (nearest), concatenate the skip of that resolution, then a U-Net block."""

    def __init__(self, c_in: int, c_skip: int, c_out: int):
        super().__init__()
        self.conv = DoubleConv(c_in + c_skip, c_out, "same", batch_norm=True)

    def forward(self, x, skip=None):
        x = functional.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x if skip is None else torch.cat([skip, x], dim=1))


class ResNetUNet(UNet):
    """A ResNet encoder (``encoder``: resnet18, resnet34 or resnet50) and a U-Net decoder of
    five levels whose widths are ``base_channels`` times 16, 8, 4, 2 and 1 (default 16: 256 to
    16, as segmentation-models-pytorch's), the last at full resolution (the input is the
    skip there); 2-D only, same padding, batch norm."""

    def __init__(self, in_channels: int = 3, num_classes: int = 2, base_channels: int = 16,
                 encoder: str = "resnet34", dropout: float = 0.0, **unet):  # fmt: skip
        check_encoder(encoder, unet)
        nn.Module.__init__(self)  # the U-Net's geometry and card, not its layers
        check_arguments(in_channels, num_classes, base_channels, DEPTH, "same", dropout, 0, 0,
                        True)  # fmt: skip
        self._config = dict(in_channels=in_channels, num_classes=num_classes,
                            base_channels=base_channels, depth=DEPTH, padding="same",
                            batch_norm=True, dropout=dropout, encoder=encoder)  # fmt: skip
        self.pools, self.kernels = ((2, 2),) * DEPTH, ((3, 3),) * (DEPTH + 1)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.card, self.refiner = None, None
        self.encoder = ResNetEncoder(in_channels, encoder)
        skips = (in_channels, *self.encoder.channels[:-1])
        widths = [base_channels * 2**i for i in reversed(range(DEPTH))]
        below = self.encoder.channels[-1]
        decoders = []
        for skip, width in zip(reversed(skips), widths):
            decoders.append(Decoder(below, skip, width))
            below = width
        self.decoders = nn.ModuleList(decoders)
        self.head = nn.Conv2d(base_channels, num_classes, 1)
        self._init_weights()

    @property
    def encoder_name(self) -> str:
        return self._config["encoder"]

    def encoder_modules(self) -> tuple[nn.Module, ...]:
        return (self.encoder,)

    def features(self, x):
        skips = [x, *self.encoder(x)]
        x = self.dropout(skips.pop())
        for decoder, skip in zip(self.decoders, reversed(skips)):
            x = decoder(x, skip)
        return x

    @property
    def receptive_fields(self) -> tuple[int, ...]:
        return (receptive_field(self.encoder_name),) * 2


def check_encoder(encoder, entries: dict) -> None:
    """A one-line ValueError unless ``encoder`` is one this tool builds and the U-Net
    ``entries`` (beyond the channels, classes, decoder width and dropout) are those a ResNet
    U-Net has: five levels, same padding, batch norm."""
    if not isinstance(encoder, str) or encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {sorted(ENCODERS)}, got {encoder!r}")
    fixed = dict(depth=DEPTH, padding="same", batch_norm=True)
    wrong = sorted(k for k, v in entries.items() if k not in fixed or fixed[k] != v)
    if wrong:
        raise ValueError(f"a {encoder} U-Net cannot take {wrong}: it has five levels, same "
                         "padding and batch norm")  # fmt: skip


def receptive_field(encoder: str) -> int:
    """Input pixels along an axis that can reach one output pixel: the stem's 7x7 convolution
    and 3x3 pool, each block's convolutions at their step, and the decoder's two 3x3
    convolutions per level (1023 for ResNet-34 with its decoder)."""
    counts, bottleneck = ENCODERS[encoder]
    layers = [(7, 2), (3, 2)]  # (kernel, stride) in the order the input meets them
    for i, n in enumerate(counts):
        for j in range(n):
            stride = 2 if i > 0 and j == 0 else 1
            layers += [(1, 1), (3, stride), (1, 1)] if bottleneck else [(3, stride), (3, 1)]
    rf, step = 1, 1
    for kernel, stride in layers:
        rf += (kernel - 1) * step
        step *= stride
    for level in reversed(range(DEPTH)):  # the decoder's levels, from stride 16 to 1
        rf += 2 * 2 * 2**level
    return rf
