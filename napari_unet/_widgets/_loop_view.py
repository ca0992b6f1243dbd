"""How the loop's results show in the window: the layer a pair's prediction goes to (its
labels; for scribbles a prediction layer of its own), the probability layer, and the pixels a
round changed, outlined."""

from __future__ import annotations

import numpy as np

from .._session import SHOWN, bind, display_metadata, layer_of
from ._classes import class_colormap


class LoopView:
    """The layers of ``viewer`` that show the loop's pairs."""

    def __init__(self, viewer) -> None:
        self.viewer = viewer

    def target(self, pair, image_layer) -> tuple[object, bool]:
        """The layer a prediction of ``pair`` goes to, made (empty, bound to the pair) when
        a pair whose predictions are shown apart (scribbles, labels drawn whole by hand) has
        none yet; and whether it was made. The layer being painted stays the active one."""
        if not pair.shown_apart:
            return layer_of(self.viewer, pair), False
        layer = layer_of(self.viewer, pair, SHOWN) if pair.shown is not None else None
        if layer is not None:
            return layer, False
        shape = np.shape(pair.labels)
        active = self.viewer.layers.selection.active
        layer = self.viewer.add_labels(np.zeros(shape, np.uint8), colormap=class_colormap(),
                                       name=f"{pair.labels_name} prediction",
                                       scale=image_layer.scale[-2:],
                                       translate=image_layer.translate[-2:])  # fmt: skip
        bind(pair, layer, SHOWN)
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active  # the brush stays on the scribbles
        return layer, True

    def refresh(self, pair, image_layer, prob: np.ndarray, changed: np.ndarray) -> None:
        """Redraw ``pair``'s layers after a prediction; update the image's probability layer
        if it has one; outline what changed (after the event loop has breathed: a new layer
        takes napari ~0.1 s to set up)."""
        from qtpy.QtCore import QTimer

        from unet_core.postprocess import foreground_probability

        for role in ("labels", SHOWN):
            layer = layer_of(self.viewer, pair, role)
            if layer is not None:
                layer.refresh()
        name = f"{image_layer.name} probability"
        if name in self.viewer.layers and self.viewer.layers[name].data.shape == prob.shape[1:]:
            self.viewer.layers[name].data = foreground_probability(prob)
        QTimer.singleShot(0, lambda: self.outline(image_layer, changed))

    def prepare(self, image_layer, shape: tuple[int, ...]) -> None:
        """Make the ``<image> changed`` layer (empty) when a round starts, so that its end
        only fills it: napari takes ~0.1 s to add a layer, which would stall the window when
        the round's answer arrives."""
        name = f"{image_layer.name} changed"
        if name in self.viewer.layers and self.viewer.layers[name].data.shape == tuple(shape):
            return
        self.outline(image_layer, np.zeros(shape, bool), keep=True)

    def outline(self, image_layer, changed: np.ndarray, keep: bool = False) -> None:
        """A "changed" layer: the pixels this round changed, as outlines; replaced each round
        (removed when nothing changed, unless ``keep``)."""
        from napari.utils.colormaps import DirectLabelColormap

        name = f"{image_layer.name} changed"
        if image_layer not in self.viewer.layers:
            return
        active = self.viewer.layers.selection.active
        if name in self.viewer.layers:
            old = self.viewer.layers[name]
            if old.data.shape == changed.shape and (changed.any() or keep):
                old.data = changed.astype(np.uint8)
                return
            self.viewer.layers.remove(old)
        if not changed.any() and not keep:  # nothing changed: no layer, none left over
            return
        layer = self.viewer.add_labels(
            changed.astype(np.uint8), name=name, opacity=0.9, metadata=display_metadata(name),
            colormap=DirectLabelColormap(color_dict={None: "transparent", 0: "transparent",
                                                     1: "red"}),
            scale=image_layer.scale[-2:], translate=image_layer.translate[-2:],
        )  # fmt: skip
        layer.contour = 1
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active  # keep painting where the user was
