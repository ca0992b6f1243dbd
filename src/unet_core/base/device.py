"""The compute device, the memory layout and precision that are fastest on it, and eval mode
for a block."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
#: "auto": bf16 where the hardware computes it natively (CPUs with AVX-512 BF16 or AMX, CUDA
#: GPUs from Ampere on), fp32 elsewhere; the environment variable NAPARI_UNET_PRECISION
#: (fp32 or bf16) changes what "auto" means, for a whole session (napari) or machine
PRECISIONS = ("auto", "fp32", "bf16")
PRECISION_ENV = "NAPARI_UNET_PRECISION"


def available_devices() -> list[str]:
    """The device names usable here, CPU always last."""
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then MPS, then CPU; an unavailable device is a ValueError."""
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        return torch.device(available_devices()[0])
    kind = name.split(":")[0]
    if kind not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES} (or e.g. 'cuda:1'), got {device!r}")
    if kind not in available_devices():
        raise ValueError(
            f"device {device!r} is not available here; available: {available_devices()}"
        )
    return torch.device(name)


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last on CPU (oneDNN) and CUDA (cuDNN), where these convolutions run ~1.3x
    faster; contiguous elsewhere."""
    return torch.channels_last if device.type in ("cpu", "cuda") else torch.contiguous_format


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Put ``model`` in eval mode for the block, then restore its training flag."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux's /proc/cpuinfo; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 matrix products natively (and faster than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"fp32"`` or ``"bf16"``: ``precision``, or for ``"auto"`` the environment's choice
    (:data:`PRECISION_ENV`), else bf16 where :func:`native_bf16`. bf16 on a device without
    autocast (MPS) is a ValueError."""
    name = str(precision).lower()
    if name == "auto":
        name = os.environ.get(PRECISION_ENV, "").strip().lower() or "auto"
        if name not in PRECISIONS:
            raise ValueError(f"{PRECISION_ENV} must be fp32 or bf16, got {name!r}")
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if name == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if name == "bf16" and device.type not in ("cpu", "cuda"):
        raise ValueError(f"bf16 runs on the CPU or CUDA, not on {device.type}")
    return name


def autocast(device: torch.device, precision: str):
    """The context in which a forward (or training step) runs at ``precision`` (resolved):
    bf16 autocast (convolutions and matrix products in bf16, reductions in fp32), or nothing."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
