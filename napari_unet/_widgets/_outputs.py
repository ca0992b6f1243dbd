"""The Segment widget's output layers: probability (a pyramid for a multiscale image) and
separate objects, reused when they fit."""

from __future__ import annotations

import numpy as np

from .._session import display_metadata


def show_pyramid(viewer, name: str, levels: list, kw: dict) -> None:
    """The probability of a multiscale image as a multiscale layer (replaced each run)."""
    if name in viewer.layers:
        viewer.layers.remove(name)
    viewer.add_image(levels, multiscale=True, name=name, colormap="magma",
                     contrast_limits=(0, 1), blending="additive", visible=False,
                     metadata=display_metadata(name), **kw)  # fmt: skip


def output_layer(viewer, name: str, kind: str, shape, dtype, kw: dict):
    """The output layer ``name`` (probability or objects), reused when it fits, else
    made anew; and whether it was made."""
    if name in viewer.layers:
        existing = viewer.layers[name]
        from napari.layers import Image, Labels

        wanted = Image if kind == "image" else Labels
        if isinstance(existing, wanted) and existing.data.shape == tuple(shape):
            return existing, False
        viewer.layers.remove(existing)
    data = np.zeros(shape, dtype)
    if kind == "objects":  # separate objects: napari's random colours, outlined
        return viewer.add_labels(data, name=name, opacity=0.6, **kw), True
    layer = viewer.add_image(data, name=name, colormap="magma", contrast_limits=(0, 1),
                             blending="additive", visible=False,
                             metadata=display_metadata(name), **kw)  # fmt: skip
    return layer, True
