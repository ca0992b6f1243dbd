"""The Fine-tune widget's view of a round's result: the new prediction merged into the labels
without touching painted pixels, the probability layer updated, and what changed outlined."""

from __future__ import annotations

import numpy as np

from .._layers import write_prediction


class RoundDisplay:
    """Mixin for the Fine-tune widget (needs ``_viewer``, ``_target`` and ``_classes()``)."""

    def _prediction_layer(self, image_layer):
        """The labels layer that shows the model's prediction of ``image_layer`` (created
        empty when missing), and whether it was created."""
        from .segment import label_colormap

        name = f"{image_layer.name} labels"
        shape = image_layer.data.shape[:2] if image_layer.rgb else image_layer.data.shape[-2:]
        if name in self._viewer.layers and self._viewer.layers[name].data.shape == shape:
            return self._viewer.layers[name], False
        layer = self._viewer.add_labels(np.zeros(shape, np.uint8), name=name,
                                        colormap=label_colormap())  # fmt: skip
        return layer, True

    def _show(self, image_layer, labels_layer, prob, model_name: str) -> int:
        """Merge the re-segmentation into the labels layer (its prediction layer for
        scribbles) without touching painted pixels, update the probability layer and show what
        changed in a "changed" layer; returns the number of pixels changed."""
        from unet_core.postprocess import foreground_probability

        if image_layer not in self._viewer.layers:
            return 0
        created = False
        if labels_layer is None or labels_layer not in self._viewer.layers:
            labels_layer, created = self._prediction_layer(image_layer)
        if labels_layer.data.shape != prob.shape[1:]:
            return 0
        changed = write_prediction(labels_layer, prob, model=model_name, fresh=created,
                                   extra={"classes": self._classes()})  # fmt: skip
        name = f"{image_layer.name} probability"
        if name in self._viewer.layers and self._viewer.layers[name].data.shape == prob.shape[1:]:
            self._viewer.layers[name].data = foreground_probability(prob)
        from qtpy.QtCore import QTimer

        # a new layer takes napari ~0.1 s to set up: let the event loop breathe first
        QTimer.singleShot(0, lambda: self._show_changed(image_layer, changed))
        return int(changed.sum())

    def _show_changed(self, image_layer, changed: np.ndarray) -> None:
        """A "changed" layer: the pixels this round changed, as outlines; replaced each round."""
        from napari.utils.colormaps import DirectLabelColormap

        name = f"{image_layer.name} changed"
        if image_layer not in self._viewer.layers:
            return
        if not changed.any():  # nothing changed: no layer (and none left from an older round)
            if name in self._viewer.layers:
                self._viewer.layers.remove(name)
            return
        if name in self._viewer.layers and self._viewer.layers[name].data.shape == changed.shape:
            self._viewer.layers[name].data = changed.astype(np.uint8)
            return
        if name in self._viewer.layers:
            self._viewer.layers.remove(name)
        layer = self._viewer.add_labels(
            changed.astype(np.uint8), name=name, opacity=0.9,
            colormap=DirectLabelColormap(color_dict={None: "transparent", 0: "transparent",
                                                     1: "red"}),
        )  # fmt: skip
        layer.contour = 1
        self._viewer.layers.selection.active = self._target.value or layer
