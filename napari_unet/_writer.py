"""Save a Labels layer as a compressed TIFF (written atomically)."""

from __future__ import annotations

from typing import Any


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 single-layer writer: ``data`` is the Labels layer's array."""
    import numpy as np

    from unet_core.data.io import write_tiff

    array = np.asarray(data)
    if array.dtype.kind not in "iub":
        raise ValueError(f"labels must be integer, got {array.dtype}")
    if array.max(initial=0) <= 255 and array.min(initial=0) >= 0:
        array = array.astype(np.uint8)
    return [str(write_tiff(path, array))]
