"""The arguments a U-Net is built with: their order in a card, their limits, and one-line
errors for those it cannot (or should not) be built with."""

from __future__ import annotations

from .blocks import PADDINGS, SPATIAL_DIMS

CONFIG_ORDER = ("in_channels", "num_classes", "base_channels", "depth", "padding", "batch_norm",
                "dropout", "refine", "drop_block", "spatial_dims", "pools", "kernels",
                "instance_norm", "encoder")  # fmt: skip

#: the largest values a network is built with: far above any useful U-Net (the paper's has
#: base_channels 64 and depth 4), low enough that a model file cannot ask for the machine
LIMITS = {"in_channels": 64, "num_classes": 256, "base_channels": 512, "depth": 8, "refine": 512}


def check_arguments(in_channels, num_classes, base_channels, depth, padding, dropout,
                    drop_block, refine, batch_norm=False, spatial_dims=2, pools=None,
                    kernels=None, instance_norm=False) -> None:  # fmt: skip
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
    for name, value in (("batch_norm", batch_norm), ("instance_norm", instance_norm)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
    if batch_norm and instance_norm:
        raise ValueError("batch_norm and instance_norm exclude each other: choose one")
    for name, value in (("dropout", dropout), ("drop_block", drop_block)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    if refine and padding != "same":
        raise ValueError("refine needs padding='same'")
    if spatial_dims not in SPATIAL_DIMS or isinstance(spatial_dims, bool):
        raise ValueError(f"spatial_dims must be one of {SPATIAL_DIMS}, got {spatial_dims!r}")
    if spatial_dims != 2 and (refine or drop_block):
        raise ValueError("refine and drop_block are for 2-D networks (spatial_dims 2)")
    check_steps("pools", pools, depth, spatial_dims, (1, 2))
    check_steps("kernels", kernels, depth + 1, spatial_dims, (1, 3))


def check_steps(name: str, steps, count: int, ndim: int, allowed: tuple[int, ...]) -> None:
    """``steps`` is None or ``count`` lists of ``ndim`` sizes, each one of ``allowed``."""
    if steps is None:
        return
    ok = isinstance(steps, (list, tuple)) and len(steps) == count and all(
        isinstance(s, (list, tuple)) and len(s) == ndim
        and all(isinstance(v, int) and not isinstance(v, bool) and v in allowed for v in s)
        for s in steps)  # fmt: skip
    if not ok:
        raise ValueError(f"{name} must be {count} lists of {ndim} sizes in {allowed}, "
                         f"got {steps!r}")  # fmt: skip
