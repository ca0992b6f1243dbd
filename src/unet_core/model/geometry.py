"""What a U-Net does to sizes along one axis, from the pools between its levels and the
kernels of each level's two convolutions: pure functions, no torch.

Along an axis, a level's two convolutions of kernel ``k`` take ``2 (k - 1)`` pixels when
unpadded (4 for the paper's 3x3), a pool of ``p`` divides by ``p`` (the size must divide), and
an up-convolution of the same ``p`` multiplies by it. A volume's axes may differ: a z axis
whose voxel is much longer than in-plane is pooled and convolved only at the deeper levels
(:func:`plan_anisotropy`, as nnU-Net plans its 3-D networks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: an axis is pooled (and convolved with 3 taps) at a level while its voxel there is at most
#: this many times the finest axis's
ANISOTROPY = 2.0


def output_size(n: int, pools: Sequence[int], kernels: Sequence[int], padding: str) -> int:
    """Output pixels along an axis for ``n`` input pixels; ValueError if not a valid size.

    ``pools``: one per level step (``depth`` of them); ``kernels``: one per level (depth + 1)."""
    grid = math.prod(pools)
    if padding == "same":
        if n < 1 or n % grid:
            raise ValueError(f"input size must be a positive multiple of {grid}, got {n}")
        return n
    s = n
    for p, k in zip(pools, kernels):
        s -= 2 * (k - 1)
        if s <= 0 or s % p:
            raise ValueError(f"input size {n} is not valid for this network")
        s //= p
    s -= 2 * (kernels[-1] - 1)
    if s <= 0:
        raise ValueError(f"input size {n} is too small for this network")
    for p, k in zip(reversed(pools), reversed(kernels[:-1])):
        s = s * p - 2 * (k - 1)
        if s <= 0:
            raise ValueError(f"input size {n} is too small for this network")
    return s


def is_valid(n: int, pools: Sequence[int], kernels: Sequence[int], padding: str) -> bool:
    try:
        output_size(n, pools, kernels, padding)
    except ValueError:
        return False
    return True


def min_input_size(pools: Sequence[int], kernels: Sequence[int], padding: str) -> int:
    """The smallest input the axis accepts."""
    s = 1
    while not is_valid(s, pools, kernels, padding):
        s += 1
    return s


def valid_input_size(size: int, pools: Sequence[int], kernels: Sequence[int], padding: str,
                     rounding: str = "up") -> int:  # fmt: skip
    """The valid input size nearest to ``size`` (``rounding``: "up", "down" or "nearest")."""
    if rounding not in ("up", "down", "nearest"):
        raise ValueError(f"rounding must be 'up', 'down' or 'nearest', got {rounding!r}")
    smallest = min_input_size(pools, kernels, padding)
    up = max(size, smallest)
    while not is_valid(up, pools, kernels, padding):
        up += 1
    if rounding == "up" or size <= smallest:
        return up
    down = up if up == size else up - math.prod(pools)
    if rounding == "down":
        return max(down, smallest)
    return down if size - down <= up - size else up


def receptive_field(pools: Sequence[int], kernels: Sequence[int]) -> int:
    """Input pixels along the axis that can reach one output pixel: each convolution widens
    the field by ``k - 1`` steps of its level, each pool by ``p - 1`` (an up-convolution whose
    kernel is its stride widens nothing): 200 for the paper's depth 4."""
    rf, step = 1, 1
    rf += 2 * (kernels[0] - 1)
    for p, k in zip(pools, kernels[1:]):
        rf += (p - 1) * step
        step *= p
        rf += 2 * (k - 1) * step
    for p, k in zip(reversed(pools), reversed(kernels[:-1])):
        step //= p
        rf += 2 * (k - 1) * step
    return rf


Steps = list[tuple[int, ...]]


def plan_anisotropy(spacing: Sequence[float], depth: int) -> tuple[Steps, Steps]:
    """(pools per level step, kernels per level) for voxels of ``spacing`` (any unit, one per
    axis): an axis is pooled by 2 and convolved with 3 taps at a level only while its voxel
    there is at most :data:`ANISOTROPY` times the finest one, so a stack of thin sections is
    pooled in-plane until its voxels are near-isotropic, then in all three axes."""
    if any(not s > 0 for s in spacing):
        raise ValueError(f"voxel sizes must be positive, got {tuple(spacing)}")
    current = [float(s) for s in spacing]
    pools, kernels = [], []
    for level in range(depth + 1):
        finest = min(current)
        near = [s <= ANISOTROPY * finest for s in current]
        kernels.append(tuple(3 if n else 1 for n in near))
        if level < depth:
            pools.append(tuple(2 if n else 1 for n in near))
            current = [s * (2 if n else 1) for s, n in zip(current, near)]
    return pools, kernels
