"""The Fine-tune widget's pair rows: the image, how its labels teach (corrections or
scribbles), the labels layer, a new scribbles layer, the class names (editable), the legend and
the training set. What the rows choose becomes a pair of the window's loop model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from magicgui.widgets import ComboBox, Label, LineEdit, PushButton

from unet_core.loop import CORRECTIONS, SCRIBBLES

from .._session import image_pixels, new_pair, pair_of
from ._classes import colormap_for, legend, parse_names
from ._layer_choice import image_choice, labels_choice

TARGET_LABEL = {CORRECTIONS: "labels", SCRIBBLES: "scribbles"}


class PairPanel:
    """Rows for the pair(s) a round trains on.

    viewer, workspace : the window and its loop model.
    default_classes : ``() -> list[str]``, the class names of labels no model has made yet
        (the chosen base model's).
    on_target : called with the labels layer when another one is chosen.
    on_renamed : called with the pair whose class names the user changed (not when the rows
        only show another pair's).
    """

    def __init__(self, viewer, workspace, default_classes: Callable[[], list[str]],
                 on_target: Callable[[object], object],
                 on_renamed: Callable[[object], object] = lambda pair: None):  # fmt: skip
        self.viewer, self.workspace = viewer, workspace
        self.default_classes, self.on_target = default_classes, on_target
        self.on_renamed = on_renamed
        self.image = image_choice(viewer, "image")
        self.mode = ComboBox(label="mode", choices=[CORRECTIONS, SCRIBBLES], value=CORRECTIONS)
        self.target = labels_choice(viewer, "labels")
        self.new_scribbles = PushButton(text="New scribbles layer")
        self.new_scribbles.tooltip = "an empty labels layer over the image to scribble on"
        self.names = LineEdit(label="class names", value="")
        self.names.tooltip = "comma-separated, class 0 first; rename the model's classes here"
        self.legend = Label(label="legend", value="")
        self.add = PushButton(text="Add pair to training set")
        self.add.tooltip = "the next rounds train on every pair added, the chosen one first"
        self.training = Label(label="training set", value="(this pair only)")
        self.selected: list[tuple] = []  # (image layer, labels layer) added to the training set
        self.mode.changed.connect(self._on_mode)
        self.target.changed.connect(lambda layer: self.follow(layer))
        self.names.changed.connect(lambda *_: self._on_names())
        self.new_scribbles.changed.connect(lambda *_: self.make_scribbles())
        self.add.changed.connect(lambda *_: self._on_add())

    @property
    def rows(self) -> list:
        return [self.image, self.mode, self.target, self.new_scribbles, self.names, self.legend,
                self.add, self.training]  # fmt: skip

    # ---- the pair of the chosen rows ----------------------------------------------------------
    def pair(self, labels_layer=None, image_layer=None, create: bool = True):
        """The pair of ``labels_layer`` (the chosen one by default); made, in the chosen mode
        and with the class names shown, on ``image_layer`` when the layer is not one yet."""
        labels_layer = labels_layer if labels_layer is not None else self.target.value
        image_layer = image_layer if image_layer is not None else self.image.value
        if labels_layer is None:
            return None
        found = pair_of(self.viewer, labels_layer)
        if found is not None or not create or image_layer is None:
            return found
        labels_layer.colormap = colormap_for(self.mode.value)  # one colour per class
        return new_pair(self.viewer, image_layer, labels_layer, self.mode.value, self.classes(),
                        pixels=image_pixels(image_layer))  # fmt: skip

    def pairs(self) -> list[tuple]:
        """(pair, image layer) for each pair of the training set (the chosen one alone when
        none was added), the chosen pair first."""
        chosen = [(self.image.value, self.target.value)]
        rest = [s for s in self.selected if s[1] is not self.target.value]
        out = []
        for image, labels in chosen + rest:
            if image is None or labels is None or labels not in self.viewer.layers:
                continue
            out.append((self.pair(labels, image), image))
        return out

    def classes(self) -> list[str]:
        """The class names: the chosen pair's, else those typed for the base model's
        classes, else the base model's."""
        pair = self.pair(create=False)
        if pair is not None:
            return list(pair.classes)
        default = self.default_classes()
        try:
            typed = parse_names(self.names.value, len(default))
        except ValueError:
            typed = None
        return typed or default

    # ---- rows ----------------------------------------------------------------------------------
    def follow(self, layer) -> None:
        """Show the chosen labels' mode and class names; tell the widget."""
        self.refresh(layer)
        self.on_target(layer)

    def refresh(self, layer) -> None:
        """Show ``layer``'s mode and class names (it may have become a pair meanwhile)."""
        pair = self.pair(layer, create=False) if layer is not None else None
        if pair is not None and pair.mode != self.mode.value:
            self.mode.value = pair.mode
        self.names.value = ", ".join(self.classes())
        self.show_legend()

    _refused = ""  # why the last mode change was refused

    def _on_mode(self, mode: str) -> None:
        """A pair's mode changes only while nothing was predicted or trained on it."""
        pair = self.pair(create=False)
        if pair is not None and pair.mode != mode:
            if pair.predictions or pair.model is not None:
                self._refused = (f"'{pair.labels_name}' holds {pair.mode}: 'New scribbles "
                                 "layer' makes a layer to scribble on")  # fmt: skip
                self.mode.value = pair.mode  # comes back here, and says why
                return
            pair.mode = mode
            layer = self.target.value
            if layer is not None:
                layer.colormap = colormap_for(mode)
        self.target.label = TARGET_LABEL[mode]
        self.show_legend()
        if self._refused:
            self.legend.value, self._refused = self._refused, ""

    def _on_names(self) -> None:
        pair = self.pair(create=False)
        try:
            names = parse_names(self.names.value, self._least(pair))
        except ValueError as exc:
            self.legend.value = str(exc)
            return
        if pair is not None and names and list(names) != list(pair.classes):
            pair.classes = names
            self.on_renamed(pair)
        self.show_legend()

    def _least(self, pair) -> int | None:
        """How many classes ``pair``'s names can be cut to: its model's (a version of the
        loop), else the base model's."""
        if pair is None:
            return None
        found = self.workspace.find(pair.model) if pair.model else None
        if found is not None and found[1].classes:
            return len(found[1].classes)
        return min(len(pair.classes), len(self.default_classes()))

    def show_legend(self) -> None:
        from unet_core.base.labels import IGNORE_LABEL

        classes = self.classes()
        if self.mode.value == SCRIBBLES:
            self.legend.value = f"0 = not annotated; {legend(classes, offset=1)}"
        else:
            self.legend.value = (f"{legend(classes)}; {IGNORE_LABEL} = ignore (magenta). What "
                                 "you paint is kept by every round")  # fmt: skip

    def make_scribbles(self):
        """An empty scribbles layer over the chosen image (0 everywhere: nothing annotated),
        a pair of the loop model; None (and the reason in the legend) without an image."""
        image = self.image.value
        if image is None:
            self.legend.value = "Choose an image first."
            return None
        n = 3 if image.ndim == 3 else 2  # a stack's scribbles are a stack: paint any slice
        shape = tuple(image.data.shape[: image.ndim])[-n:]
        classes = self.classes()
        layer = self.viewer.add_labels(np.zeros(shape, np.uint8), name=f"{image.name} scribbles",
                                       colormap=colormap_for(SCRIBBLES),
                                       scale=image.scale[-n:], translate=image.translate[-n:])
        new_pair(self.viewer, image, layer, SCRIBBLES, classes, pixels=image_pixels(image))
        layer.selected_label = 1
        layer.mode = "paint"
        self.target.reset_choices()
        self.target.value = layer
        self.follow(layer)  # napari may have listed it before it was a pair: show it afresh
        return layer

    def _on_add(self) -> None:
        image, labels = self.image.value, self.target.value
        if image is None or labels is None:
            self.training.value = "choose an image and its labels first"
            return
        if all(s[1] is not labels for s in self.selected):
            self.selected.append((image, labels))
        self.training.value = "; ".join(f"{i.name} + {lab.name}" for i, lab in self.selected)
