"""The U-Net of Ronneberger, Fischer and Brox (MICCAI 2015), with depth as an argument.

``padding="valid"`` is the paper's network: unpadded convolutions, so the output is smaller than
the input (572 -> 388 for depth 4) and the skip connections are centre-cropped ("copy and crop").
``padding="same"`` is the practical variant: padded convolutions, output size = input size, usually
with batch normalisation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .blocks import PADDINGS, DoubleConv, Down, Up


class UNet(nn.Module):
    """U-Net mapping (N, in_channels, H, W) to logits (N, num_classes, H', W').

    Parameters
    ----------
    in_channels, num_classes
        Input channels (1 for grayscale, 3 for RGB) and output classes.
    base_channels
        Feature channels of the first level; level ``i`` has ``base_channels * 2**i`` (paper: 64).
    depth
        Number of 2x2 max-pool steps (paper: 4).
    padding
        ``"valid"`` (paper) or ``"same"``.
    batch_norm
        Insert BatchNorm2d after each convolution.
    dropout
        Dropout probability at the end of the contracting path (paper Sec. 3.1).
    drop_block
        0, or the fraction of every convolution's feature map dropped in 7x7 blocks while
        training (DropBlock, as in SA-UNet): regularisation for small training sets.

    A network with a refining second one is a :class:`RefinedUNet`;
    :func:`~unet_core.model.build.build_model` builds either from a model card's architecture.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        base_channels: int = 64,
        depth: int = 4,
        padding: str = "valid",
        batch_norm: bool = False,
        dropout: float = 0.0,
        drop_block: float = 0.0,
    ):
        super().__init__()
        check_arguments(in_channels, num_classes, base_channels, depth, padding, dropout,
                        drop_block, 0, batch_norm)  # fmt: skip
        self._config = dict(in_channels=in_channels, num_classes=num_classes,
                            base_channels=base_channels, depth=depth, padding=padding,
                            batch_norm=batch_norm, dropout=dropout)  # fmt: skip
        if drop_block:  # recorded only when used, so older model cards stay as they were
            self._config["drop_block"] = drop_block
        ch = [base_channels * 2**i for i in range(depth + 1)]
        self.inc = DoubleConv(in_channels, ch[0], padding, batch_norm, drop_block)
        self.downs = nn.ModuleList(
            Down(ch[i], ch[i + 1], padding, batch_norm, drop_block) for i in range(depth)
        )
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.ups = nn.ModuleList(
            Up(ch[i + 1], ch[i], padding, batch_norm, drop_block) for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(ch[0], num_classes, kernel_size=1)
        self.card: Any = None  # a ModelCard: set by load_model and by training (see card_of)
        self._init_weights()
        self.refiner: UNet | None = None  # see RefinedUNet

    def _init_weights(self) -> None:
        """He-normal init, std = sqrt(2 / fan_in) (paper Sec. 3). Not on the meta device (a
        network built for its shapes only): drawing random numbers there imports
        torch._dynamo, a second's wait before anything runs."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and not m.weight.is_meta:
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(
        self, x: torch.Tensor, aux: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(N, in_channels, H, W) -> logits (N, num_classes, output_size(H), output_size(W)).

        ``aux=True``: (logits, first-pass logits); the same for a plain U-Net."""
        logits = self.single_pass(x)
        return (logits, logits) if aux else logits

    def single_pass(self, x: torch.Tensor) -> torch.Tensor:
        """The U-Net itself: contracting path, expanding path with skips, 1x1 head."""
        return self.head(self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, base_channels, H', W'): the last level of the
        expanding path, what the 1x1 head classifies (of the first pass, for a cascade)."""
        skips = []
        x = self.inc(x)
        for down in self.downs:
            skips.append(x)
            x = down(x)
        x = self.dropout(x)
        for up, skip in zip(self.ups, reversed(skips)):
            x = up(x, skip)
        return x

    # ---- geometry -------------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments: ``build_model(model.config)`` rebuilds the architecture
        (``type(model)(**model.config)`` too)."""
        return dict(self._config)

    @property
    def depth(self) -> int:
        return self._config["depth"]

    @property
    def padding(self) -> str:
        return self._config["padding"]

    @property
    def in_channels(self) -> int:
        return self._config["in_channels"]

    @property
    def num_classes(self) -> int:
        return self._config["num_classes"]

    @property
    def grid(self) -> int:
        """2**depth: valid input sizes are this far apart, and exact tiles start on this grid."""
        return 2**self.depth

    def output_size(self, input_size: int) -> int:
        """Output edge for an input edge; ValueError if the network cannot take that size."""
        if self.padding == "same":
            if input_size < 1 or input_size % self.grid:
                raise ValueError(
                    f"input size must be a positive multiple of {self.grid}, got {input_size}"
                )
            return input_size
        s = input_size
        for _ in range(self.depth):
            s -= 4
            if s <= 0 or s % 2:
                raise ValueError(f"input size {input_size} is not valid for this network")
            s //= 2
        s -= 4
        if s <= 0:
            raise ValueError(f"input size {input_size} is too small for this network")
        for _ in range(self.depth):
            s = 2 * s - 4
            if s <= 0:
                raise ValueError(f"input size {input_size} is too small for this network")
        return s

    def is_valid_input_size(self, input_size: int) -> bool:
        try:
            self.output_size(input_size)
        except ValueError:
            return False
        return True

    def valid_input_size(self, size: int, rounding: str = "up") -> int:
        """The valid input size nearest to ``size`` (``rounding``: "up", "down" or "nearest")."""
        if rounding not in ("up", "down", "nearest"):
            raise ValueError(f"rounding must be 'up', 'down' or 'nearest', got {rounding!r}")
        smallest = self.min_input_size
        up = max(size, smallest)
        while not self.is_valid_input_size(up):
            up += 1
        if rounding == "up" or size <= smallest:
            return up
        down = up if up == size else up - self.grid
        if rounding == "down":
            return max(down, smallest)
        return down if size - down <= up - size else up

    @property
    def min_input_size(self) -> int:
        """The smallest input edge the network accepts."""
        s = 1
        while not self.is_valid_input_size(s):
            s += 1
        return s

    @property
    def margin(self) -> int:
        """Input minus output size (0 for same padding; 184 for the paper's depth 4)."""
        s = self.min_input_size
        return s - self.output_size(s)

    @property
    def receptive_field(self) -> int:
        """Input pixels (along one axis) that can reach one output pixel: two 3x3 convolutions
        per level on the way down and up and the 2x2 pools between them (a 2x2 up-convolution
        of stride 2 widens nothing), and a refining network's own field on top (200 for depth
        4; the gradient of a trained network's output reaches 188 of them)."""
        rf = 1 + 4  # the first level's two convolutions
        for level in range(1, self.depth + 1):  # pool, then two convolutions at 2**level
            rf += 2 ** (level - 1) + 4 * 2**level
        for level in range(self.depth, 0, -1):  # two convolutions after each up-convolution
            rf += 4 * 2 ** (level - 1)
        if self.refiner is not None:
            rf += self.refiner.receptive_field - 1
        return rf

    @property
    def receptive_overlap(self) -> int:
        """Output pixels by which neighbouring exact tiles overlap (output size mod grid)."""
        if self.padding == "same":
            return 0
        return self.output_size(self.min_input_size) % self.grid

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def num_conv_layers(self) -> int:
        """Convolutions and up-convolutions, as counted in the paper (23 for depth 4)."""
        return sum(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in self.modules())

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._config.items())


class RefinedUNet(UNet):
    """A U-Net followed by a small second U-Net (depth <= 3, same padding) that sees the image
    and the first network's class probabilities and corrects its logits: a cascade as in
    W-Net/IterNet, which reconnects thin structures the first pass left broken. The second
    network's output layer starts at zero, so untrained it passes the first one's output
    through. ``refine`` is its base channels; the other arguments are :class:`UNet`'s."""

    def __init__(self, in_channels: int = 1, num_classes: int = 2, base_channels: int = 64,
                 depth: int = 4, padding: str = "same", batch_norm: bool = False,
                 dropout: float = 0.0, refine: int = 8, drop_block: float = 0.0):  # fmt: skip
        if not isinstance(refine, int) or refine < 1:
            raise ValueError(f"refine must be an integer >= 1, got {refine!r}")
        if padding != "same":
            raise ValueError("refine needs padding='same'")
        super().__init__(in_channels, num_classes, base_channels, depth, padding, batch_norm,
                         dropout, drop_block)  # fmt: skip
        self._config = {**self._config, "refine": refine}
        self._config = {k: self._config[k] for k in (*CONFIG_ORDER, "drop_block")
                        if k in self._config}  # fmt: skip
        self.refiner = UNet(in_channels + num_classes, num_classes, refine, min(depth, 3), "same",
                            batch_norm)  # fmt: skip
        nn.init.zeros_(self.refiner.head.weight)
        nn.init.zeros_(self.refiner.head.bias)

    def forward(
        self, x: torch.Tensor, aux: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Refined logits; ``aux=True``: (refined logits, first-pass logits), both trained."""
        logits = self.single_pass(x)
        refined = logits + self.refiner(torch.cat([x, logits.softmax(dim=1)], dim=1))
        return (refined, logits) if aux else refined


CONFIG_ORDER = ("in_channels", "num_classes", "base_channels", "depth", "padding", "batch_norm",
                "dropout", "refine")  # fmt: skip


#: the largest values a network is built with: far above any useful U-Net (the paper's has
#: base_channels 64 and depth 4), low enough that a model file cannot ask for the machine
LIMITS = {"in_channels": 64, "num_classes": 256, "base_channels": 512, "depth": 8, "refine": 512}


def check_arguments(in_channels, num_classes, base_channels, depth, padding, dropout,
                    drop_block, refine, batch_norm=False) -> None:  # fmt: skip
    """A one-line ValueError for an argument the network cannot (or should not) be built with."""
    for name, value in (("in_channels", in_channels), ("num_classes", num_classes),
                        ("base_channels", base_channels), ("depth", depth),
                        ("refine", refine)):  # fmt: skip
        low = 0 if name == "refine" else 1
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if value > LIMITS[name]:
            raise ValueError(f"{name} must be at most {LIMITS[name]}, got {value}")
    if not isinstance(padding, str) or padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    if not isinstance(batch_norm, bool):
        raise ValueError(f"batch_norm must be true or false, got {batch_norm!r}")
    for name, value in (("dropout", dropout), ("drop_block", drop_block)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    if refine and padding != "same":
        raise ValueError("refine needs padding='same'")
