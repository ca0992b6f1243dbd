"""The live answer: while the user paints, a light head on the network's features
(``unet_core.loop.live``) answers each stroke within about a second, in a ``<labels> live``
layer of its own (never over a painted pixel). A new stroke restarts it; a finished round
replaces it. It runs in a worker of its own, so the window never waits for it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from magicgui.widgets import CheckBox, Label

from ._classes import class_colormap

DEBOUNCE_MS = 250  # a stroke is a run of paint events: answer once the brush rests


class LivePanel:
    """Rows for the live answer of the chosen pair.

    viewer : the window; pair : ``() -> Pair | None`` (the chosen labels' pair);
    image : ``() -> image layer``; model : ``() -> (reference, network)`` of the base model
    (raises ValueError when there is none); busy : ``() -> bool``, True while a round runs.
    """

    def __init__(self, viewer, pair: Callable, image: Callable, model: Callable,
                 busy: Callable[[], bool]):  # fmt: skip
        from qtpy.QtCore import QTimer

        self.viewer, self.pair, self.image, self.model, self.busy = viewer, pair, image, model, busy
        self.enabled = CheckBox(text="live answer while painting", value=True)
        self.enabled.tooltip = ("after each stroke, a quick answer from the model's features in "
                                "a '<labels> live' layer; a round replaces it")  # fmt: skip
        self.status = Label(value="")
        self.worker = None
        self._features: dict = {}  # (pair id, model reference, image digest) -> Features
        self._layer = None  # the labels layer listened to
        self._stroke = 0.0  # when the last stroke ended
        self._timer = QTimer(self.enabled.native)  # goes with the widget
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.answer)
        self.enabled.changed.connect(lambda on: self.clear() if not on else None)

    @property
    def rows(self) -> list:
        return [self.enabled, self.status]

    def follow(self, layer) -> None:
        """Listen to the strokes on ``layer`` (the chosen labels) only."""
        if self._layer is not None:
            with contextlib.suppress(RuntimeError, TypeError, ValueError):
                self._layer.events.paint.disconnect(self._on_paint)
        self._layer = layer
        if layer is not None:
            layer.events.paint.connect(self._on_paint)

    def _on_paint(self, event=None) -> None:
        if self.enabled.value and not self.busy():
            if not self._timer.isActive():  # a stroke begins: the live layer is made now,
                self._live_layer()  # not when the answer comes (napari takes ~0.1 s for it)
            self._stroke = time.monotonic()
            self._timer.start(DEBOUNCE_MS)

    def _live_layer(self):
        """The ``<labels> live`` layer of the chosen pair, made empty when missing."""
        import numpy as np

        pair, image = self.pair(), self.image()
        if pair is None or image is None:
            return None
        name = f"{pair.labels_name} live"
        shape = np.shape(pair.labels)
        layer = self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401
        if layer is not None and layer.data.shape == shape:
            return layer
        if layer is not None:
            self.viewer.layers.remove(layer)
        active = self.viewer.layers.selection.active
        layer = self.viewer.add_labels(np.zeros(shape, np.uint8), name=name, opacity=0.45,
                                       colormap=class_colormap(), scale=image.scale[-2:],
                                       translate=image.translate[-2:])  # fmt: skip
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active  # the brush stays where it was
        return layer

    def answer(self) -> None:
        """Answer the labels as painted now, in the background; a running answer is
        abandoned (a newer stroke makes it stale)."""
        from unet_core.loop import LoopError

        from .._workers import live_job, start_worker

        pair, image_layer = self.pair(), self.image()
        if pair is None or image_layer is None or pair.pixels is None or self.busy():
            return
        try:
            ref, model = self.model()
            labels, corrected = pair.training_labels()
        except (LoopError, ValueError) as exc:
            self.status.value = f"live: {exc}"
            return
        if self.worker is not None:
            self.worker.quit()
        key = (pair.id, ref, pair.image.digest)
        job = live_job(model, pair, labels, corrected, self._features.get(key))
        started = self._stroke
        self.worker = start_worker(job, returned=lambda r: self._show(pair, key, r, started),
                                   errored=lambda exc: setattr(self.status, "value",
                                                               f"live: {exc}"))  # fmt: skip
        self.worker.finished.connect(lambda w=self.worker: self._done(w))
        self.status.value = "live: answering…"
        self.worker.start()

    def _done(self, worker) -> None:
        if self.worker is worker:
            self.worker = None

    def _show(self, pair, key, result, started: float) -> None:
        """The answer in ``<labels> live``: each pixel's class, blank where the user painted."""
        prob, features = result
        self._features = {key: features}  # one image's features kept: the one painted on
        if self.busy() or not self.enabled.value:
            return
        from unet_core.postprocess import probabilities_to_labels

        labels = probabilities_to_labels(prob)
        labels[pair.painted()] = 0
        layer = self._live_layer()
        if layer is None:
            return
        layer.data = labels
        self.status.value = (f"live: answered {time.monotonic() - started:.1f} s after the "
                             "stroke; a round replaces it")  # fmt: skip

    def clear(self) -> None:
        """A round finished (or the answer was turned off): the live layer goes."""
        self._timer.stop()
        if self.worker is not None:
            self.worker.quit()
        pair = self.pair()
        if pair is not None and f"{pair.labels_name} live" in self.viewer.layers:
            self.viewer.layers.remove(f"{pair.labels_name} live")
        self.status.value = ""
