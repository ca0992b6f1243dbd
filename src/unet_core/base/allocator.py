"""glibc's allocator, tuned for a network's large, short-lived tensors.

By default glibc serves every block above 128 KB-32 MB with a fresh ``mmap`` and gives it back
on ``free``: each forward pass then maps and unmaps gigabytes, and the kernel zeroes every page
again (1.3 M page faults and 3 s of kernel time for ``em`` on a 2048 x 2048 image). With large
blocks kept on the heap and no trimming, freed memory is reused: the same masks, bit for bit,
1.6x faster, for 0.2-0.4 GB more peak memory (benchmarks, docs/benchmarks.md).

Applied once per process by :func:`~unet_core.formats.store.load_model` and the command line;
``NAPARI_UNET_MALLOC=default`` leaves the allocator as it is. Nothing happens off glibc.
"""

from __future__ import annotations

import os

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameters
_TRIM = 1 << 30  # keep up to 1 GB of freed heap instead of returning it at once
_done: bool | None = None


def tune_allocator() -> bool:
    """Keep large blocks on the heap and freed memory for reuse; True when it was applied
    (now or before), False where it cannot be (not glibc) or is switched off."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get("NAPARI_UNET_MALLOC", "").lower() == "default":
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # macOS, Windows, musl
        return False
    _done = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM))
    return _done
