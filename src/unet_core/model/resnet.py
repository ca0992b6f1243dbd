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


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, added to the input (a 1x1 projection where the
    width or the stride changes), then ReLU."""

    expansion = 1

    def __init__(self, c_in: int, width: int, stride: int = 1):
        super().__init__()
        self.conv1, self.bn1 = conv_bn(c_in, width, 3, stride)
        self.conv2, self.bn2 = conv_bn(width, width, 3)
        out = width * self.expansion
        self.downsample = (nn.Sequential(*conv_bn(c_in, out, 1, stride))
                           if stride != 1 or c_in != out else None)  # fmt: skip

    def conv_bn_pairs(self):
        """(module, convolution's name, its batch norm's name): what the inference form folds."""
        n = 3 if isinstance(self, Bottleneck) else 2
        pairs = [(self, f"conv{i}", f"bn{i}") for i in range(1, n + 1)]
        return pairs + ([(self.downsample, "0", "1")] if self.downsample is not None else [])

    def residual(self, x):
        return self.bn2(self.conv2(functional.relu(self.bn1(self.conv1(x)))))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        return functional.relu(self.residual(x) + shortcut)


class Bottleneck(BasicBlock):
    """1x1 down to ``width``, 3x3 (with the stride), 1x1 up to four times ``width``."""

    expansion = 4

    def __init__(self, c_in: int, width: int, stride: int = 1):
        nn.Module.__init__(self)
        self.conv1, self.bn1 = conv_bn(c_in, width, 1)
        self.conv2, self.bn2 = conv_bn(width, width, 3, stride)
        self.conv3, self.bn3 = conv_bn(width, width * 4, 1)
        self.downsample = (nn.Sequential(*conv_bn(c_in, width * 4, 1, stride))
                           if stride != 1 or c_in != width * 4 else None)  # fmt: skip

    def residual(self, x):
        x = functional.relu(self.bn1(self.conv1(x)))
        x = functional.relu(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))


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
        if encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {sorted(ENCODERS)}, got {encoder!r}")
        fixed = dict(depth=DEPTH, padding="same", batch_norm=True)
        wrong = [k for k, v in unet.items() if k not in fixed or fixed[k] != v]
        if wrong:
            raise ValueError(f"a {encoder} U-Net cannot take {sorted(wrong)}: it has five "
                             "levels, same padding and batch norm")  # fmt: skip
        # the U-Net's own layers at their smallest: the geometry and the card are the U-Net's
        super().__init__(in_channels, num_classes, 1, DEPTH, "same", True, dropout)
        self._config = {**self._config, "base_channels": base_channels, "encoder": encoder}
        del self.inc, self.downs, self.ups, self.head
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
