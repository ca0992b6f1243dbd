"""The loop's records: which image, what was painted on it and what the model predicted there
(:class:`Pair`), and the models the rounds made (:class:`Version`)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..base.labels import IGNORE_LABEL
from .errors import LoopError
from .identity import ImageId, size_text

#: How a labels layer teaches: ``corrections`` holds class indices (the prediction, corrected
#: by hand; ``IGNORE_LABEL`` = ignore); ``scribbles`` holds 0 = not annotated and class k
#: painted as k + 1, the prediction going to a layer of its own.
CORRECTIONS, SCRIBBLES = "corrections", "scribbles"
MODES = (CORRECTIONS, SCRIBBLES)

#: a threshold asked of a map of more than two classes (said by every widget that has one)
MULTICLASS_THRESHOLD = ("a multi-class model's labels are its most likely class: the threshold "
                        "does not change them")


def new_id() -> str:
    """A short random identity (versions and pairs are told apart by it, never by name)."""
    return uuid.uuid4().hex[:12]


def now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


@dataclass(eq=False)
class Prediction:
    """What one prediction wrote into a plane of a pair's labels.

    derived : the labels the prediction produced there (uint8, the plane's shape).
    painted : bool, the pixels kept as the user's when it was merged.
    model : the reference of the model that made it (see :attr:`Pair.model`).
    prob : (classes, H, W) float32 probabilities, or None when only a mask is known.
    """

    derived: np.ndarray
    painted: np.ndarray
    model: str
    threshold: float = 0.5
    prob: np.ndarray | None = field(default=None, repr=False)


def _plane(array: np.ndarray, index: tuple[int, ...]) -> np.ndarray:
    """``array[index]`` as a view (``array`` itself for ``()``)."""
    return array[index] if index else array


@dataclass(eq=False)
class Pair:
    """An image and the labels painted on it.

    labels : the array the user paints (live: the plugin binds it to a Labels layer's data).
    shown : scribbles only: the array the predictions go to (the prediction layer's data).
    predictions : per plane (``()`` for a 2-D pair, the stack index otherwise), what the last
        prediction wrote there; how the user's strokes are told from the model's pixels.
    model : the reference of the model the next round starts from: the one whose prediction
        the labels hold, the version a round on them made, or the one they were re-segmented
        with. ``"version:<id>"`` for a version, else a bundled model's name or a file.
    complete : corrections made by hand with no prediction: every pixel counts as annotated.
    pixels : the image's array (live, not saved: the project keeps the image's file).
    image_file : where a project reads the image from (its own file, or a copy inside).
    """

    image: ImageId
    labels_name: str
    mode: str
    classes: list[str]
    labels: np.ndarray = field(repr=False)
    shown: np.ndarray | None = field(default=None, repr=False)
    predictions: dict[tuple[int, ...], Prediction] = field(default_factory=dict, repr=False)
    model: str | None = None
    complete: bool = False
    pixels: Any = field(default=None, repr=False)
    id: str = field(default_factory=new_id)
    image_file: str = field(default="", repr=False)  # where a project reads the image from

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise LoopError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    # ---- predictions ------------------------------------------------------------------------
    @property
    def shown_apart(self) -> bool:
        """Whether predictions go to ``shown`` rather than into the labels: scribbles, and
        labels drawn whole by hand (every pixel of them is the user's)."""
        return self.mode == SCRIBBLES or self.complete

    def target(self) -> np.ndarray:
        """The array predictions are merged into: the labels, or ``shown`` (:attr:`shown_apart`)."""
        if not self.shown_apart:
            return self.labels
        if self.shown is None:
            raise LoopError(f"'{self.labels_name}' has no layer to show its prediction in")
        return self.shown

    def record(self, prob: np.ndarray, model: str, *, index: tuple[int, ...] = (),
               threshold: float = 0.5, fresh: bool = False) -> np.ndarray:  # fmt: skip
        """Merge the labels of ``prob`` into :meth:`target` at ``index``, keeping every pixel
        the user painted; ``model`` becomes the base of the next round. ``fresh``: the target
        was just made (nothing in it is the user's). Returns the mask of changed pixels."""
        from ..postprocess import probabilities_to_labels

        current = _plane(self.target(), tuple(index))
        labels = probabilities_to_labels(prob, threshold).astype(current.dtype)
        if labels.shape != current.shape:
            raise LoopError(f"the prediction {size_text(labels.shape)} does not fit "
                            f"'{self.labels_name}' ({size_text(current.shape)})")  # fmt: skip
        changed, painted = self._merge(current, labels, tuple(index), fresh)
        self.predictions[tuple(index)] = Prediction(
            labels, painted, model, float(threshold), np.asarray(prob, np.float32)
        )
        self.model = model
        return changed

    def record_mask(self, labels: np.ndarray, model: str, index: tuple[int, ...] = ()) -> None:
        """Record that the target's plane holds ``labels`` predicted by ``model`` (a mask read
        from a file: no probabilities), nothing of it painted."""
        labels = np.asarray(labels, np.uint8)
        self.predictions[tuple(index)] = Prediction(labels.copy(), np.zeros(labels.shape, bool),
                                                    model)  # fmt: skip
        self.model = model

    def adopt(self, prob: np.ndarray, model: str, threshold: float = 0.5) -> None:
        """Record ``prob`` as the prediction the 2-D labels were painted over, without
        changing them (a project of format 1 kept no record): what differs from it counts
        as painted."""
        from ..postprocess import probabilities_to_labels

        derived = probabilities_to_labels(prob, threshold)
        current = np.asarray(self.target())
        if derived.shape != current.shape:
            raise LoopError(f"the prediction {size_text(derived.shape)} does not fit "
                            f"'{self.labels_name}' ({size_text(current.shape)})")  # fmt: skip
        painted = current != derived
        if self.shown_apart:  # the prediction layer holds nothing painted
            painted = np.zeros(current.shape, bool)
        self.predictions[()] = Prediction(derived, painted, model, float(threshold),
                                          np.asarray(prob, np.float32))  # fmt: skip

    def _merge(self, current: np.ndarray, labels: np.ndarray, index: tuple[int, ...],
               fresh: bool) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Write the merge into ``current``; (changed pixels, the user's pixels)."""
        from ..postprocess import keep_corrections

        previous = self.predictions.get(index)
        if previous is not None and previous.derived.shape == current.shape:
            merged, painted = keep_corrections(current, previous.derived, labels,
                                               previous.painted)  # fmt: skip
        elif fresh or self.shown_apart or not current.any():  # nothing there is the user's
            merged, painted = labels, np.zeros(current.shape, bool)
        else:  # labels drawn by hand before any prediction: every pixel is kept
            merged, painted = current.copy(), np.ones(current.shape, bool)
        changed = merged != current
        current[...] = merged
        return changed, painted

    def rethreshold(self, threshold: float, index: tuple[int, ...] = ()) -> np.ndarray:
        """The labels of the newest probabilities at ``threshold``, painted pixels kept;
        returns the changed pixels. LoopError when there are no probabilities to use, or they
        are of more than two classes (each pixel is its likeliest class: no threshold)."""
        previous = self.predictions.get(tuple(index))
        if previous is None or previous.prob is None:
            raise LoopError(f"'{self.labels_name}' holds no probabilities: segment it first")
        if len(previous.prob) > 2:
            raise LoopError(MULTICLASS_THRESHOLD)
        base = self.model  # a threshold changes the labels, not the model they go on from
        changed = self.record(previous.prob, previous.model, index=index, threshold=threshold)
        self.model = base
        return changed

    def prediction(self, index: tuple[int, ...] = ()) -> Prediction | None:
        return self.predictions.get(tuple(index))

    # ---- what the user did --------------------------------------------------------------------
    def painted(self, index: tuple[int, ...] = ()) -> np.ndarray:
        """The pixels of the plane the user annotated: scribbles' non-zero pixels; for
        corrections those painted since the last prediction (all of them for ``complete``
        labels, none when no prediction is known)."""
        current = _plane(self.labels, tuple(index))
        if self.mode == SCRIBBLES:
            return np.asarray(current) != 0
        if self.complete:
            return np.ones(np.shape(current), bool)
        previous = self.predictions.get(tuple(index))
        if previous is None or previous.derived.shape != current.shape:
            return np.full(current.shape, self.complete)
        return previous.painted | (current != previous.derived)

    def training_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """(class indices with ``IGNORE_LABEL`` where nothing is known, the mask of pixels
        the user corrected) for a round on this 2-D pair; LoopError when a round would learn
        nothing or something the user did not say."""
        from ..postprocess import scribbles_to_labels

        if np.ndim(self.labels) not in (2, 3):
            raise LoopError(f"'{self.labels_name}' is neither 2-D nor a stack: fine-tuning "
                            "takes labels of an image or of a stack of slices")  # fmt: skip
        if self.mode == SCRIBBLES:
            labels = scribbles_to_labels(self.labels)
            if (labels == IGNORE_LABEL).all():
                raise LoopError(f"nothing is painted in '{self.labels_name}' yet: paint a few "
                                "strokes of each class")  # fmt: skip
            return labels, labels != IGNORE_LABEL
        if not self.predictions and not self.complete:
            raise LoopError(
                f"no model has segmented '{self.labels_name}', so its unpainted pixels say "
                "nothing: paint in scribbles mode (0 = not annotated), or segment it first"
            )  # fmt: skip
        if np.ndim(self.labels) == 3 and () not in self.predictions:
            return self._slice_labels()
        corrected = self.painted()
        if not corrected.any():
            raise LoopError(f"nothing in '{self.labels_name}' differs from the prediction yet:"
                            " correct it with the brush first")  # fmt: skip
        return np.array(self.labels, copy=True), corrected

    def _slice_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """A stack segmented slice by slice: the predicted (and corrected) slices are known,
        the others not annotated; corrected is what was painted on the predicted slices."""
        labels = np.full(np.shape(self.labels), IGNORE_LABEL, np.uint8)
        corrected = np.zeros(np.shape(self.labels), bool)
        for index in self.predictions:
            labels[index] = np.asarray(self.labels[index])
            corrected[index] = self.painted(index)
        if not corrected.any():
            raise LoopError(f"nothing in '{self.labels_name}' differs from the prediction yet:"
                            " correct it with the brush first")  # fmt: skip
        return labels, corrected


@dataclass(eq=False)
class Version:
    """One round's model and what made it.

    parent : the reference of the model it was fine-tuned from (see :attr:`Pair.model`).
    pairs : the ids of the pairs it was trained on; ``images`` their images' names.
    corrections : pair id -> the file (in the project) of the labels it was trained on;
        ``predictions`` the file of the prediction they were painted over.
    file : its model file in the project ("" until written).
    """

    name: str
    parent: str
    parent_name: str
    kind: str = "fine-tuned"
    steps: int = 0
    seconds: float = 0.0
    pairs: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    corrected_pixels: int = 0
    heldout_dice: float | None = None
    classes: list[str] = field(default_factory=list)
    created: str = field(default_factory=now)
    id: str = field(default_factory=new_id)
    file: str = ""
    corrections: dict[str, str] = field(default_factory=dict)
    model: Any = field(default=None, repr=False)  # in memory once made or loaded
    trained_on: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    #: pair id -> the prediction those labels were painted over (what makes them strokes)
    trained_over: dict[str, Prediction] = field(default_factory=dict, repr=False)
    predictions: dict[str, str] = field(default_factory=dict)  # pair id -> its file

    @property
    def ref(self) -> str:
        return f"version:{self.id}"

    def describe(self) -> str:
        dice = "" if self.heldout_dice is None else f", held-out Dice {self.heldout_dice:.3f}"
        when = self.created.replace("T", " ")[:16]
        return (f"{self.name} ({when}, from {self.parent_name}, {len(self.images)} image(s), "
                f"{self.steps} steps, {self.seconds:.0f} s{dice})")  # fmt: skip


def version_id(ref: str | None) -> str | None:
    """The version id of a model reference, None for a bundled name or a file."""
    return ref.split(":", 1)[1] if ref and ref.startswith("version:") else None
