"""Save a Labels layer as a compressed TIFF (written atomically): class indices (and the
ignore value) as a mask of ``unet_core.data.io.write_mask``, marked so that reading it back
takes its values as they stand; labels beyond 8 bits (objects) as they are."""

from __future__ import annotations

from typing import Any


def write_labels(path: str, data: Any, meta: dict) -> list[str]:
    """npe2 single-layer writer: ``data`` is the Labels layer's array."""
    import numpy as np

    from unet_core.data.io import write_mask, write_tiff

    array = np.asarray(data)
    if array.dtype.kind not in "iub":
        raise ValueError(f"labels must be integer, got {array.dtype}")
    if array.min(initial=0) >= 0 and array.max(initial=0) <= np.iinfo(np.uint8).max:
        return [str(write_mask(path, array))]
    return [str(write_tiff(path, array))]
