"""Where to correct next: the uncertainty of a pair's newest prediction as a layer, and the
button that centres the view on the most uncertain region nobody has annotated yet."""

from __future__ import annotations

from collections.abc import Callable

from magicgui.widgets import PushButton

from .._session import display_metadata


def camera_of(viewer):
    """The viewer's camera: ``viewer.scene.camera`` from napari 0.9 (``viewer.camera`` is
    deprecated there), ``viewer.camera`` before."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


class WhereNextPanel:
    """Two buttons for the chosen pair (``pair()``; ``say(text)`` reports)."""

    def __init__(self, viewer, pair: Callable, image: Callable, say: Callable[[str], object]):
        self.viewer, self.pair, self.image, self.say = viewer, pair, image, say
        self.unsure = PushButton(text="Show uncertainty")
        self.unsure.tooltip = "a layer of where the model is unsure (entropy of its prediction)"
        self.goto = PushButton(text="Go to most uncertain")
        self.goto.tooltip = "the most uncertain 64 px square that nobody has annotated yet"
        self.unsure.changed.connect(lambda *_: self.on_unsure())
        self.goto.changed.connect(lambda *_: self.on_goto())
        self.target: tuple[int, int] | None = None  # the last region shown

    @property
    def rows(self) -> list:
        return [self.unsure, self.goto]

    def _prediction(self):
        """(pair, its newest prediction with probabilities), or None with a line."""
        pair = self.pair()
        prediction = pair.prediction() if pair is not None else None
        if prediction is None or prediction.prob is None:
            image = self.image()
            name = f"'{image.name}'" if image is not None else "the image"
            self.say(f"no prediction of {name} yet: segment or fine-tune first")
            return None
        return pair, prediction

    def on_unsure(self) -> None:
        """An uncertainty layer: the entropy of the newest probabilities (0 sure, 1 undecided)."""
        from unet_core.uncertainty import entropy

        found, image = self._prediction(), self.image()
        if found is None or image is None:
            return
        data = entropy(found[1].prob)
        name = f"{image.name} uncertainty"
        active = self.viewer.layers.selection.active
        if name in self.viewer.layers and self.viewer.layers[name].data.shape == data.shape:
            self.viewer.layers[name].data = data
        else:
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
            self.viewer.add_image(data, name=name, colormap="inferno", blending="additive",
                                  opacity=0.6, contrast_limits=(0, 1), scale=image.scale[-2:],
                                  translate=image.translate[-2:],
                                  metadata=display_metadata(name))  # fmt: skip
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active
        self.say(f"uncertainty of '{image.name}': mean {data.mean():.3f}")

    def on_goto(self) -> None:
        """Centre the view on the most uncertain 64 px square nobody has annotated yet."""
        from unet_core.uncertainty import entropy, most_uncertain_region

        found, image = self._prediction(), self.image()
        if found is None or image is None:
            return
        pair, prediction = found
        row, col, score = most_uncertain_region(entropy(prediction.prob), pair.painted(), 64)
        camera = camera_of(self.viewer)
        camera.center = tuple(image.data_to_world((row, col))[-2:])
        camera.zoom = max(camera.zoom, 2.0)
        self.target = (row, col)
        self.say(f"most uncertain region not yet annotated: row {row}, column {col} (mean "
                 f"uncertainty {score:.2f})")  # fmt: skip
