"""The U-Net of Ronneberger, Fischer and Brox (MICCAI 2015), with depth as an argument.

``padding="valid"`` is the paper's network: unpadded convolutions, so the output is smaller than
the input (572 -> 388 for depth 4) and the skip connections are centre-cropped ("copy and crop").
``padding="same"`` is the practical variant: padded convolutions, output size = input size, usually
with batch normalisation.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from . import geometry
from .arguments import CONFIG_ORDER, check_arguments
from .blocks import DoubleConv, Down, Up, layer


class UNet(nn.Module):
    """U-Net mapping (N, in_channels, *spatial) to logits (N, num_classes, *spatial'):
    (H, W) images, or (D, H, W) volumes for ``spatial_dims=3`` (the 3-D U-Net of Cicek et al.,
    MICCAI 2016).

    Parameters
    ----------
    in_channels, num_classes
        Input channels (1 for grayscale, 3 for RGB) and output classes.
    base_channels
        Feature channels of the first level; level ``i`` has ``base_channels * 2**i`` (paper: 64).
    depth
        Number of max-pool steps (paper: 4).
    padding
        ``"valid"`` (paper) or ``"same"``.
    batch_norm, instance_norm
        Batch (or instance) normalisation after each convolution (not both).
    dropout
        Dropout probability at the end of the contracting path (paper Sec. 3.1).
    drop_block
        0, or the fraction of every convolution's feature map dropped in 7x7 blocks while
        training (DropBlock, as in SA-UNet): regularisation for small training sets (2-D).
    spatial_dims
        2 (images) or 3 (volumes).
    pools, kernels
        Per level step, the pool along each axis (1 or 2), and per level, the kernel of its
        convolutions along each axis (1 or 3); default 2 and 3 everywhere.
        :func:`~.geometry.plan_anisotropy` plans them from a voxel size.

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
        spatial_dims: int = 2,
        pools: list | None = None,
        kernels: list | None = None,
        instance_norm: bool = False,
    ):
        super().__init__()
        check_arguments(in_channels, num_classes, base_channels, depth, padding, dropout,
                        drop_block, 0, batch_norm, spatial_dims, pools, kernels,
                        instance_norm)  # fmt: skip
        self._config = dict(in_channels=in_channels, num_classes=num_classes,
                            base_channels=base_channels, depth=depth, padding=padding,
                            batch_norm=batch_norm, dropout=dropout)  # fmt: skip
        # the newer entries are recorded only when used, so older model cards stay as they were
        nd = spatial_dims
        self.pools = tuple(tuple(p) for p in pools) if pools else ((2,) * nd,) * depth
        self.kernels = tuple(tuple(k) for k in kernels) if kernels else ((3,) * nd,) * (depth + 1)
        extra = dict(drop_block=drop_block, spatial_dims=nd if nd != 2 else 0,
                     pools=[list(p) for p in self.pools] if set(sum(self.pools, ())) - {2} else 0,
                     kernels=[list(k) for k in self.kernels]
                     if set(sum(self.kernels, ())) - {3} else 0,
                     instance_norm=instance_norm)  # fmt: skip
        self._config.update({k: v for k, v in extra.items() if v})
        ch = [base_channels * 2**i for i in range(depth + 1)]
        opts = dict(ndim=nd, instance_norm=instance_norm)
        norm = (padding, batch_norm, drop_block)
        self.inc = DoubleConv(in_channels, ch[0], *norm, kernel=self.kernels[0], **opts)
        self.downs = nn.ModuleList(
            Down(ch[i], ch[i + 1], *norm, pool=self.pools[i], kernel=self.kernels[i + 1], **opts)
            for i in range(depth)
        )
        self.dropout = layer("Dropout", nd)(dropout) if dropout > 0 else nn.Identity()
        self.ups = nn.ModuleList(
            Up(ch[i + 1], ch[i], *norm, pool=self.pools[i], kernel=self.kernels[i], **opts)
            for i in reversed(range(depth))
        )
        self.head = layer("Conv", nd)(ch[0], num_classes, kernel_size=1)
        self.card: Any = None  # a ModelCard: set by load_model and by training (see card_of)
        self._init_weights()
        self.refiner: UNet | None = None  # see RefinedUNet

    def _init_weights(self) -> None:
        """He-normal init, std = sqrt(2 / fan_in) (paper Sec. 3). Not on the meta device (a
        network built for its shapes only): drawing random numbers there imports
        torch._dynamo, a second's wait before anything runs."""
        convs = (nn.Conv2d, nn.ConvTranspose2d, nn.Conv3d, nn.ConvTranspose3d)
        for m in self.modules():
            if isinstance(m, convs) and not m.weight.is_meta:
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(
        self, x: torch.Tensor, aux: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(N, in_channels, *spatial) -> logits (N, num_classes, *output_shape(spatial)).

        ``aux=True``: (logits, first-pass logits); the same for a plain U-Net."""
        logits = self.single_pass(x)
        return (logits, logits) if aux else logits

    def single_pass(self, x: torch.Tensor) -> torch.Tensor:
        """The U-Net itself: contracting path, expanding path with skips, 1x1 head."""
        return self.head(self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, *spatial) -> (N, base_channels, *spatial'): the last level of the
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

    def encoder_modules(self) -> tuple[nn.Module, ...]:
        """The contracting path's modules (what ``freeze_encoder`` keeps as it is)."""
        return (self.inc, *self.downs)

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
    def spatial_dims(self) -> int:
        return self._config.get("spatial_dims", 2)

    def along(self, axis: int = -1) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(pools per level step, kernels per level) along spatial ``axis`` (-1: in-plane)."""
        return tuple(p[axis] for p in self.pools), tuple(k[axis] for k in self.kernels)

    # Sizes along one axis; the default, the last axis, is in-plane (all axes of an image).
    @property
    def grid(self) -> int:
        """2**depth in-plane: valid input sizes are this far apart, and exact tiles start on
        this grid (:attr:`grids` per axis)."""
        return math.prod(self.along()[0])

    @property
    def grids(self) -> tuple[int, ...]:
        return tuple(math.prod(self.along(a)[0]) for a in range(self.spatial_dims))

    def output_size(self, input_size: int, axis: int = -1) -> int:
        """Output edge for an input edge; ValueError if the network cannot take that size."""
        return geometry.output_size(input_size, *self.along(axis), self.padding)

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Output spatial shape for an input spatial shape (ValueError where not valid)."""
        if len(shape) != self.spatial_dims:
            raise ValueError(f"expected {self.spatial_dims} spatial sizes, got {tuple(shape)}")
        return tuple(self.output_size(n, a) for a, n in enumerate(shape))

    def is_valid_input_size(self, input_size: int, axis: int = -1) -> bool:
        return geometry.is_valid(input_size, *self.along(axis), self.padding)

    def valid_input_size(self, size: int, rounding: str = "up", axis: int = -1) -> int:
        """The valid input size nearest to ``size`` (``rounding``: "up", "down" or "nearest")."""
        return geometry.valid_input_size(size, *self.along(axis), self.padding, rounding)

    @property
    def min_input_size(self) -> int:
        """The smallest input edge the network accepts."""
        return geometry.min_input_size(*self.along(), self.padding)

    @property
    def min_input_shape(self) -> tuple[int, ...]:
        return tuple(geometry.min_input_size(*self.along(a), self.padding)
                     for a in range(self.spatial_dims))  # fmt: skip

    @property
    def margin(self) -> int:
        """Input minus output size (0 for same padding; 184 for the paper's depth 4)."""
        return self.margins[-1]

    @property
    def margins(self) -> tuple[int, ...]:
        return tuple(s - self.output_size(s, a) for a, s in enumerate(self.min_input_shape))

    @property
    def receptive_field(self) -> int:
        """Input pixels (along one axis) that can reach one output pixel: 200 for depth 4 (the
        gradient of a trained network's output reaches 188 of them), and a refining network's
        own field on top (:func:`~.geometry.receptive_field`)."""
        return self.receptive_fields[-1]

    @property
    def receptive_fields(self) -> tuple[int, ...]:
        extra = self.refiner.receptive_field - 1 if self.refiner is not None else 0
        return tuple(geometry.receptive_field(*self.along(a)) + extra
                     for a in range(self.spatial_dims))  # fmt: skip

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
        convs = (nn.Conv2d, nn.ConvTranspose2d, nn.Conv3d, nn.ConvTranspose3d)
        return sum(isinstance(m, convs) for m in self.modules())

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
                 dropout: float = 0.0, refine: int = 8, drop_block: float = 0.0,
                 **options):  # fmt: skip
        if not isinstance(refine, int) or refine < 1:
            raise ValueError(f"refine must be an integer >= 1, got {refine!r}")
        if padding != "same":
            raise ValueError("refine needs padding='same'")
        if options.get("spatial_dims", 2) != 2:
            raise ValueError("refine and drop_block are for 2-D networks (spatial_dims 2)")
        super().__init__(in_channels, num_classes, base_channels, depth, padding, batch_norm,
                         dropout, drop_block, **options)  # fmt: skip
        self._config = {**self._config, "refine": refine}
        self._config = {k: self._config[k] for k in CONFIG_ORDER if k in self._config}
        self.refiner = UNet(in_channels + num_classes, num_classes, refine, min(depth, 3), "same",
                            batch_norm, instance_norm=options.get("instance_norm", False))
        nn.init.zeros_(self.refiner.head.weight)
        nn.init.zeros_(self.refiner.head.bias)

    def forward(
        self, x: torch.Tensor, aux: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Refined logits; ``aux=True``: (refined logits, first-pass logits), both trained."""
        logits = self.single_pass(x)
        refined = logits + self.refiner(torch.cat([x, logits.softmax(dim=1)], dim=1))
        return (refined, logits) if aux else refined
