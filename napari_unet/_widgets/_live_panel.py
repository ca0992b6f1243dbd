"""The live answer: while the user paints, a light head on the network's features
(``unet_core.loop.live``) answers each stroke within about a second, in a ``<labels> live``
layer of its own (never over a painted pixel). A new stroke restarts it; a finished round
replaces it. It runs in a worker of its own, so the window never waits for it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from magicgui.widgets import CheckBox, Label

from .._session import display_metadata
from ._classes import class_colormap

DEBOUNCE_MS = 250  # a stroke is a run of paint events: answer once the brush rests


class LivePanel:
    """Rows for the live answer of the chosen pair.

    viewer : the window; pair : ``() -> Pair | None`` (the chosen labels' pair);
    image : ``() -> image layer``; model : ``() -> reference`` of the base model (ValueError
    when there is none; the job loads it, off the window's thread); device : ``() -> str``;
    workspace : the window's loop model; busy : ``() -> bool``, True while a round runs;
    stroked : called after every stroke on the chosen labels (the widget saves them).
    """

    def __init__(self, viewer, workspace, pair: Callable, image: Callable, model: Callable,
                 device: Callable[[], str], busy: Callable[[], bool],
                 stroked: Callable[[], object] = lambda: None):  # fmt: skip
        from qtpy.QtCore import QTimer

        self.viewer, self.workspace = viewer, workspace
        self.pair, self.image, self.model, self.device, self.busy = pair, image, model, device, busy
        self.stroked = stroked
        self.enabled = CheckBox(text="live answer while painting", value=True)
        self.enabled.tooltip = ("after each stroke, a quick answer from the model's features in "
                                "a '<labels> live' layer; a round replaces it")  # fmt: skip
        self.status = Label(label="live", value="")
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
        """Listen to the strokes on ``layer`` (the chosen labels) only; an answer for the
        labels chosen before is abandoned."""
        self._stop()
        if self._layer is not None:
            with contextlib.suppress(RuntimeError, TypeError, ValueError):
                self._layer.events.paint.disconnect(self._on_paint)
        self._layer = layer
        if layer is not None:
            layer.events.paint.connect(self._on_paint)

    def _on_paint(self, event=None) -> None:
        self.stroked()
        if self.enabled.value and not self.busy():
            if not self._timer.isActive():  # a stroke begins: the live layer is made now,
                self._live_layer(self.pair())  # not when the answer comes (napari: ~0.1 s)
            self._stroke = time.monotonic()
            self._timer.start(DEBOUNCE_MS)

    def _live_layer(self, pair):
        """The ``<labels> live`` layer of ``pair``, made empty when missing."""
        import numpy as np

        image = self.image()
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
                                       metadata=display_metadata(name),
                                       colormap=class_colormap(), scale=image.scale[-2:],
                                       translate=image.translate[-2:])  # fmt: skip
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active  # the brush stays where it was
        return layer

    def answer(self) -> None:
        """Answer the labels as painted now, in the background; a running answer is
        abandoned (a newer stroke makes it stale: what it returns is dropped)."""
        from unet_core.loop import LoopError

        from .._jobs import live_job
        from .._worker import start_worker

        pair, image_layer = self.pair(), self.image()
        if pair is None or image_layer is None or pair.pixels is None or self.busy():
            return
        try:
            ref = self.model()
            labels, corrected = pair.training_labels()
        except (LoopError, ValueError) as exc:
            self.status.value = str(exc)
            return
        self._stop()
        key = (pair.id, ref, pair.image.digest)
        job = live_job(self.workspace, ref, pair.pixels, labels, corrected,
                       self._features.get(key), self.device())  # fmt: skip
        started = self._stroke
        worker = start_worker(job)
        worker.returned.connect(lambda r: self._show(worker, pair, key, r, started))
        worker.errored.connect(lambda exc: self._failed(worker, exc))
        worker.finished.connect(lambda: self._done(worker))
        self.worker = worker
        self.status.value = "answering…"
        worker.start()

    def _stop(self) -> None:
        """Abandon the running answer (its result is dropped) and any stroke waiting."""
        self._timer.stop()
        if self.worker is not None:
            self.worker.quit()
            self.worker = None

    def _done(self, worker) -> None:
        if self.worker is worker:
            self.worker = None

    def _failed(self, worker, exc: BaseException) -> None:
        if self.worker is worker:  # an abandoned answer's failure says nothing now
            self.status.value = str(exc).strip().splitlines()[0] if str(exc).strip() else ""

    def _show(self, worker, pair, key, result, started: float) -> None:
        """The answer in ``pair``'s live layer: each pixel's class, blank where the user
        painted; dropped when it is stale (another answer asked for, other labels chosen, a
        round running)."""
        prob, features = result
        self._features = {key: features}  # one image's features kept: the one painted on
        if worker is not self.worker or pair is not self.pair() or self.busy() or \
                not self.enabled.value:  # fmt: skip
            return
        from unet_core.postprocess import probabilities_to_labels

        labels = probabilities_to_labels(prob)
        labels[pair.painted()] = 0
        layer = self._live_layer(pair)
        if layer is None:
            return
        layer.data = labels
        self.shown = started  # which stroke the answer on screen answers
        self.status.value = (f"answered {time.monotonic() - started:.1f} s after the stroke; "
                             "a round replaces it")  # fmt: skip

    shown = 0.0

    def clear(self) -> None:
        """A round starts (or the answer was turned off): the live layer goes."""
        self._stop()
        pair = self.pair()
        if pair is not None and f"{pair.labels_name} live" in self.viewer.layers:
            self.viewer.layers.remove(f"{pair.labels_name} live")
        self.status.value = ""
