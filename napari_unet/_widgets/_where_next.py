"""Where to correct next: the Fine-tune widget's uncertainty layer and the button that centres
the view on the most uncertain region nobody has corrected yet."""

from __future__ import annotations

import numpy as np
from napari.utils.notifications import show_error

from .._layers import SCRIBBLES, painted_mask, plane_record


def camera_of(viewer):
    """The viewer's camera: ``viewer.scene.camera`` from napari 0.9 (``viewer.camera`` is
    deprecated there), ``viewer.camera`` before."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


class WhereNext:
    """Mixin for the Fine-tune widget (``_viewer``, ``_image``, ``_target``, ``_mode``,
    ``_status``)."""

    def _predicted(self):
        """(image layer, the labels layer holding the newest prediction, its record)."""
        image, target = self._image.value, self._target.value
        if image is None:
            raise ValueError("Choose an image first.")
        if self._mode.value == SCRIBBLES or target is None:
            name = f"{image.name} labels"
            target = self._viewer.layers.get(name, None)
        record = plane_record(target) if target is not None else None
        if record is None:
            raise ValueError(f"No prediction of '{image.name}' yet: segment or fine-tune first.")
        return image, target, record

    def _on_unsure(self) -> None:
        """An uncertainty layer: the entropy of the newest probabilities (0 sure, 1 undecided)."""
        from unet_core.uncertainty import entropy

        try:
            image, target, record = self._predicted()
        except ValueError as exc:
            show_error(str(exc))
            return
        name = f"{image.name} uncertainty"
        data = entropy(record["prob"])
        if name in self._viewer.layers and self._viewer.layers[name].data.shape == data.shape:
            self._viewer.layers[name].data = data
        else:
            if name in self._viewer.layers:
                self._viewer.layers.remove(name)
            self._viewer.add_image(data, name=name, colormap="inferno", blending="additive",
                                   opacity=0.6, contrast_limits=(0, 1), scale=target.scale,
                                   translate=target.translate)  # fmt: skip
        self._viewer.layers.selection.active = self._target.value or target
        self._status.value = f"uncertainty of '{image.name}': mean {data.mean():.3f}"

    def _on_goto(self) -> None:
        """Centre the view on the most uncertain 64 px square nobody has corrected yet."""
        from unet_core.uncertainty import entropy, most_uncertain_region

        try:
            image, target, record = self._predicted()
        except ValueError as exc:
            show_error(str(exc))
            return
        done = painted_mask(target)
        scribbles = self._target.value
        if self._mode.value == SCRIBBLES and scribbles is not None:
            done = done | (np.asarray(scribbles.data) != 0)
        row, col, score = most_uncertain_region(entropy(record["prob"]), done, window=64)
        camera = camera_of(self._viewer)
        camera.center = tuple(target.data_to_world((row, col)))
        camera.zoom = max(camera.zoom, 2.0)
        self._goto_target = (row, col)
        self._status.value = (f"most uncertain region not yet corrected: row {row}, "
                              f"column {col} (mean uncertainty {score:.2f})")  # fmt: skip
