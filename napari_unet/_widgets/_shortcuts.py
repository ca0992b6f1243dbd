"""Keys for the paint-and-retrain loop, bound to the viewer when the Fine-tune widget is made.

napari (0.9) gives the actions of a plugin's npe2 manifest no key bindings (its ``keybindings``
contributions are not read), so the keys are bound with ``viewer.bind_key``, the public way that
napari's canvas honours. The keys are free in napari's defaults, the Labels layer's included
(Shift with P, L, A and V is taken; F, N, H and U are not). Each key presses the widget's own
button (what a click does: the same code), or for the prediction flips its layer's visibility as
the layer list's eye does, and says in the window's status bar what it did or why it could not.
"""

from __future__ import annotations

import weakref

from .._session import LABELS, SHOWN, layer_of

#: key (napari's spelling) -> (action, what it does): the table in docs/napari.md
KEYS = {
    "Shift-F": ("round", "a fine-tune round on the chosen labels"),
    "Shift-N": ("next", "centre the view on the next most uncertain region not annotated yet"),
    "Shift-H": ("prediction", "show or hide the prediction of the chosen labels"),
    "Shift-U": ("undo", "undo the last round: segment with the model it started from"),
}
NOT_DOCKED = "no Fine-tune widget docked (Plugins > napari-paint-unet > Fine-tune)"

#: viewer -> a weak reference to its LoopKeys (which the widget holds; nothing here holds the
#: viewer or the widget alive)
_LOOP_KEYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def key_of(action: str) -> str:
    """The key of an action, as people write it (``Shift+F``)."""
    return next(k for k, (a, _) in KEYS.items() if a == action).replace("-", "+")


def press(viewer, action: str) -> None:
    """What the key of ``action`` does in ``viewer`` (bound with ``viewer.bind_key``)."""
    found = _LOOP_KEYS.get(viewer)
    keys = found() if found is not None else None
    if keys is None or not keys.docked(viewer):
        viewer.status = f"napari-unet: {key_of(action)}: {NOT_DOCKED}"
        return
    keys.press(viewer, action)


def _binding(action: str):
    """The function bound to the key of ``action`` (napari wants a ``__name__``: no partial)."""

    def key(viewer) -> None:
        press(viewer, action)

    key.__name__ = key.__qualname__ = f"napari_unet_{action}"
    return key


class LoopKeys:
    """The Fine-tune widget's keys in ``viewer``: ``widget`` and its parts (its Fine-tune button,
    job runner, pair, where-next and versions panels). Made and held by the widget; the latest
    one made in a window is the one the keys press."""

    def __init__(self, viewer, widget, run_button, jobs, pairs, where, versions):
        self.widget = weakref.ref(widget)
        self.jobs, self.pairs = jobs, pairs
        self.buttons = {"round": run_button, "next": where.goto, "undo": versions.undo}
        for action, button in self.buttons.items():
            what = button.tooltip or next(w for a, w in KEYS.values() if a == action)
            button.tooltip = f"{what} ({key_of(action)})"
        pairs.target.tooltip = f"the labels to train on; {key_of('prediction')} shows or hides " \
            "their prediction"
        _LOOP_KEYS[viewer] = weakref.ref(self)
        for key, (action, _) in KEYS.items():
            viewer.bind_key(key, _binding(action), overwrite=True)

    def docked(self, viewer) -> bool:
        """Whether the widget is still docked in ``viewer``'s window."""
        widget = self.widget()
        docks = getattr(viewer.window, "dock_widgets", {})
        return widget is not None and any(w is widget for w in docks.values())

    def press(self, viewer, action: str) -> None:
        if action == "prediction":
            text = self.flip_prediction(viewer)
        elif action != "next" and self.jobs.busy:
            text = "not started: a job is running (wait for it, or Cancel)"
            self.jobs.say(text)
        else:
            self.buttons[action].native.click()  # what a click does
            text = self.jobs.status.value
        viewer.status = f"napari-unet: {key_of(action)}: {text}"

    def flip_prediction(self, viewer) -> str:
        """Show or hide the layer of the chosen labels' prediction (for corrections, the
        labels themselves; for scribbles and labels drawn whole, the prediction layer)."""
        pair = self.pairs.pair(create=False)
        layer = None
        if pair is not None and pair.predictions:
            layer = layer_of(viewer, pair, SHOWN if pair.shown_apart else LABELS)
        if layer is None:
            text = "no prediction of the chosen labels yet: segment or fine-tune first"
        else:
            layer.visible = not layer.visible
            text = f"'{layer.name}' {'shown' if layer.visible else 'hidden'}"
        self.jobs.say(text)
        return text
