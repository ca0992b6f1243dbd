"""The arithmetic a network runs in: fp32, or bf16 where the hardware computes bf16 natively
(training: autocast; inference: a bf16 copy of the network, ``model/fused.py``). Importing
this module does not import torch (the command line builds its options from
:data:`PRECISIONS`)."""

from __future__ import annotations

import contextlib
import functools
import os

#: "auto": bf16 where the hardware computes it natively (CPUs with AVX-512 BF16 or AMX, CUDA
#: GPUs from Ampere on), fp32 elsewhere; the environment variable NAPARI_UNET_PRECISION
#: (fp32 or bf16) changes what "auto" means, for a whole session (napari) or machine
PRECISIONS = ("auto", "fp32", "bf16")
PRECISION_ENV = "NAPARI_UNET_PRECISION"


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


def native_bf16(device) -> bool:
    """Whether ``device`` (a torch.device) computes bf16 matrix products natively, and so
    faster than fp32."""
    if device.type == "cuda":
        import torch

        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())
    return False


def check_precision(precision: str) -> str:
    """``precision`` in lower case; a one-line ValueError unless it is one of :data:`PRECISIONS`."""
    name = str(precision).lower()
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return name


def resolve_precision(precision: str, device) -> str:
    """``"fp32"`` or ``"bf16"``: ``precision``, or for ``"auto"`` the environment's choice
    (:data:`PRECISION_ENV`), else bf16 where :func:`native_bf16`. bf16 on a device without
    autocast (MPS) is a ValueError."""
    name = check_precision(precision)
    if name == "auto":
        name = os.environ.get(PRECISION_ENV, "").strip().lower() or "auto"
        if name not in PRECISIONS:
            raise ValueError(f"{PRECISION_ENV} must be fp32 or bf16, got {name!r}")
    if name == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if name == "bf16" and device.type not in ("cpu", "cuda"):
        raise ValueError(f"bf16 runs on the CPU or CUDA, not on {device.type}")
    return name


def autocast(device, precision: str):
    """The context in which a training step (or a forward of the model as it is) runs at
    ``precision`` (resolved): bf16 autocast (convolutions and matrix products in bf16,
    reductions in fp32), or nothing."""
    if precision == "bf16":
        import torch

        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
