"""What a labels layer remembers of the predictions written into it, so that a new prediction
(another round, another threshold) never overwrites what the user painted.

Kept in ``layer.metadata["napari-unet"]``: ``model`` (the model that made the labels), and per
plane (``()`` for a 2-D layer, the stack index otherwise) the probabilities, the labels the
prediction produced (``derived``) and the pixels the user painted (``painted``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

KEY = "napari-unet"
#: How a labels layer teaches: class indices with 255 = ignore, or 0 = not annotated and
#: class k painted as k + 1.
CORRECTIONS, SCRIBBLES = "corrections", "scribbles"


def layer_info(layer) -> dict:
    """The plugin's metadata of ``layer`` (created empty)."""
    return layer.metadata.setdefault(KEY, {})


def plane_record(layer, index: tuple[int, ...] = ()) -> dict | None:
    """What the last prediction into ``layer[index]`` left: prob, derived and painted."""
    return layer_info(layer).get("planes", {}).get(tuple(index))


def _plane(layer, index: tuple[int, ...]) -> np.ndarray:
    return np.asarray(layer.data[index]) if index else np.asarray(layer.data)


def write_prediction(
    layer, prob: np.ndarray, *, index: tuple[int, ...] = (), threshold: float = 0.5,
    model: str | None = None, fresh: bool = False, extra: dict[str, Any] | None = None,
) -> np.ndarray:  # fmt: skip
    """Put the labels of ``prob`` into ``layer[index]``, keeping every painted pixel.

    ``fresh``: the layer was just created (nothing in it is the user's). A layer with no record
    of a prediction holds labels made by hand: all of them are kept. Returns the mask of the
    pixels that changed."""
    from unet_core.postprocess import keep_corrections, probabilities_to_labels

    index = tuple(index)
    current = _plane(layer, index)
    labels = probabilities_to_labels(prob, threshold).astype(current.dtype)
    record = plane_record(layer, index)
    if record is not None and record["derived"].shape == current.shape:
        merged, painted = keep_corrections(current, record["derived"], labels, record["painted"])
    elif fresh:
        merged, painted = labels, np.zeros(current.shape, bool)
    else:
        merged, painted = current.copy(), np.ones(current.shape, bool)
    changed = merged != current
    if index:
        layer.data[index] = merged
    else:
        layer.data[...] = merged
    info = layer_info(layer)
    info.setdefault("planes", {})[index] = {"prob": prob, "derived": labels, "painted": painted,
                                            "threshold": threshold}  # fmt: skip
    if model is not None:
        info["model"] = model
    info.update(extra or {})
    layer.refresh()
    return changed


def rethreshold_layer(layer, threshold: float, index: tuple[int, ...] = ()) -> bool:
    """Labels of ``layer[index]`` from its newest probabilities at ``threshold``, painted
    pixels kept. False when the layer holds no prediction."""
    record = plane_record(layer, index)
    if record is None or record["derived"].shape != _plane(layer, index).shape:
        return False
    write_prediction(layer, record["prob"], index=index, threshold=threshold)
    return True


def painted_mask(layer, index: tuple[int, ...] = ()) -> np.ndarray:
    """Pixels of ``layer[index]`` the user painted since the last prediction (all of them for
    a layer with no prediction)."""
    current = _plane(layer, index)
    record = plane_record(layer, index)
    if record is None or record["derived"].shape != current.shape:
        return np.ones(current.shape, bool)
    return record["painted"] | (current != record["derived"])
