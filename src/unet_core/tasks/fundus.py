"""Fundus photographs (DRIVE and other cameras; colour, gray or red-free): the field of view
(FOV), the scale a model was trained at (the FOV's diameter), nothing predicted outside the
FOV, vessel measurements (:mod:`.vessels`), and DRIVE's metrics inside the FOV.

A fundus model's card records ``scale = {"fov_diameter": 536.4}``; a photograph from another
camera is resampled so that its FOV has that diameter, segmented, and the probabilities are
resampled to its own size.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from ..base.events import Status
from ..base.jobs import drain
from ..base.labels import IGNORE_LABEL
from ..retina.biomarkers import COLUMNS
from ..retina.vessels import MEASUREMENTS, describe, measure_vessels
from .fov import fov_circle, fov_diameter, fov_mask, has_colour, looks_like_fundus
from .task import ImageContext, Task


def auto_scale(image: np.ndarray, scale: dict, fov: np.ndarray | None = None) -> float:
    """Resampling factor that brings ``image`` (colour or gray) to a model's training ``scale``;
    1.0 if the model has none or no field of view can be measured."""
    target = scale.get("fov_diameter") if scale else None
    if not target:
        return 1.0
    circle = fov_circle(fov_mask(image) if fov is None else fov)
    return float(target) / (2 * circle[2]) if circle is not None else 1.0


#: a photograph larger than the model's training ones is segmented at the model's scale and
#: at up to this many times it (never above its own size), the two fused per pixel: its thin
#: vessels, which vanish at the model's scale, are found at the finer one, and an enlarged
#: photograph with nothing finer to find loses nothing (``benchmarks/hires.py``;
#: docs/fundus-cameras.md, "Large photographs")
FINER = 2.5


def finer_scales(scale: float) -> tuple[float, ...]:
    """The further factor a photograph brought to a model by ``scale`` is segmented at:
    none for one no larger than the model's photographs."""
    finer = min(1.0, FINER * scale)
    return (finer,) if finer > 1.1 * scale else ()


#: what an artery/vein model's map of a photograph without colour is worth (docs/retina.md)
GRAY_TYPES = ("no colour in this photograph (gray or red-free): arteries and veins are told "
              "apart less surely (on DRIVE 86-87 % typed right, 93 % in colour)")


def artery_vein(classes) -> bool:
    """Whether ``classes`` are background, arteries and veins (a model of the two types)."""
    names = [str(c).lower() for c in classes]
    return len(names) == 3 and names[1].startswith("arter") and names[2].startswith("vein")


def measure_map(image: np.ndarray, labels: np.ndarray, fov: np.ndarray | None = None,
                typed: bool = False, calibration=None, keep: dict | None = None) -> dict:
    """Every measurement of a photograph's vessel map (``typed``: 1 artery, 2 vein) inside
    its field of view (found on ``image`` when not given): :func:`measure_vessels` and what
    research publishes (:func:`~unet_core.retina.biomarkers.measure_photograph`, ``keep``
    receiving its segments and disc). ValueError in one line when the map and the image
    differ in size."""
    return drain(measure_map_steps(image, labels, fov, typed, calibration, keep))


def measure_map_steps(image: np.ndarray, labels: np.ndarray, fov: np.ndarray | None = None,
                      typed: bool = False, calibration=None, keep: dict | None = None,
                      ) -> Generator[Status, None, dict]:  # fmt: skip
    """:func:`measure_map` as a job: a :class:`Status` before each stage, where a caller
    (the Measure widget's Cancel) may stop it."""
    from ..retina.biomarkers import check_same_size, photograph_steps

    image, labels = np.asarray(image), np.asarray(labels)
    check_same_size(labels, image)
    if fov is None:
        yield Status("finding the field of view…")
        fov = fov_mask(image)
    yield Status("skeleton, branch points and widths…")
    values = measure_vessels(labels > 0, fov, fov_diameter(fov) or None)
    published = yield from photograph_steps(labels, fov, image, calibration, typed=typed,
                                            keep=keep)  # fmt: skip
    return {"vessel_area_fraction": values.pop("area_fraction"), **values, **published}


#: why an image's vessels are not measured when it shows no field of view
NOT_FUNDUS = "no field of view found: this does not look like a fundus photograph"


class Fundus(Task):
    """Vessels in colour fundus photographs."""

    name = "fundus"
    bundled = "drive"
    tags = ("retina", "fundus-photography", "blood-vessels")
    sample = "fundus_retina.jpg"  # a normal left eye (Häggström 2014, CC0)
    report_columns = MEASUREMENTS + COLUMNS
    #: an artery/vein map gets one type per vessel segment (docs/retina.md: +0.010 A/V
    #: accuracy on DRIVE 37-40, more under other cameras); False keeps each pixel's own
    one_type_per_segment = True

    def prepare(self, image: np.ndarray, card) -> ImageContext:
        """The field of view (found once), the factor that brings its diameter to the card's
        and, for a larger photograph, a finer one (:func:`finer_scales`); nothing for a card
        without a training scale."""
        if not card.scale.get("fov_diameter"):
            return ImageContext()
        fov = fov_mask(np.asarray(image))
        scale = auto_scale(image, card.scale, fov)
        return ImageContext(scale, fov, finer_scales(scale))

    def _fov(self, image, card, context: ImageContext | None):
        if "fov_diameter" not in card.scale:
            return None
        return context.fov if context is not None and context.fov is not None \
            else fov_mask(np.asarray(image))  # fmt: skip

    def _not_fundus(self, image, fov, context: ImageContext | None) -> bool:
        """Whether a field of view was looked for and ``image`` is no fundus photograph
        (asked once per image: kept in its context's facts)."""
        if fov is None:
            return False
        facts = context.facts if context is not None else {}
        if "fundus" not in facts:
            facts["fundus"] = looks_like_fundus(image, fov)
        return not facts["fundus"]

    def notes(self, image: np.ndarray, card, context: ImageContext | None = None) -> list[str]:
        fov = self._fov(image, card, context)
        if self._not_fundus(image, fov, context):
            return [f"{NOT_FUNDUS}, so vessels were not measured"]
        reads_colour = card.preprocessing.channels == "rgb"
        if artery_vein(card.classes) and reads_colour and not has_colour(image):
            return [GRAY_TYPES]
        return []

    def finish(self, image: np.ndarray, prob: np.ndarray, card,
               context: ImageContext | None = None) -> None:  # fmt: skip
        """Nothing outside the field of view; on an artery/vein map, one type along each
        vessel segment (:func:`~unet_core.retina.types.consistent_types`, its segments found
        at the finest scale the probabilities were made at)."""
        fov = self._fov(image, card, context)
        if fov is not None:
            outside = ~fov  # nothing to find outside the field of view
            prob[0][outside], prob[1:, outside] = 1.0, 0.0
        if self.one_type_per_segment and artery_vein(card.classes) and prob.ndim == 3:
            from ..retina.types import consistent_types

            scale = max([context.scale, *context.finer]) if context is not None else 1.0
            prob[:] = consistent_types(prob, scale=scale)  # at the finest pass's scale

    def measure(self, image: np.ndarray, mask: np.ndarray, card,
                context: ImageContext | None = None, calibration=None) -> dict:  # fmt: skip
        """:func:`measure_vessels` inside the FOV of a colour photograph (and relative to its
        diameter), with the area fraction under its report name, and what research publishes
        (:func:`~unet_core.retina.biomarkers.measure_photograph`: per vessel type for a model
        of arteries and veins; microns with a ``calibration``)."""
        typed = artery_vein(card.classes)
        if len(card.classes) != 2 and not typed:
            return {}
        image = np.asarray(image)
        fov = self._fov(image, card, context)
        if self._not_fundus(image, fov, context):
            return {"not_measured": NOT_FUNDUS}  # notes() says so too
        return measure_map(image, mask, fov, typed, calibration)

    def describe(self, values: dict) -> str:
        return describe(values)

    def card_scale(self, rois: list[np.ndarray]) -> dict:
        diameters = [fov_diameter(r) for r in rois if r is not None]
        return {"fov_diameter": round(float(np.mean(diameters)), 1)} if diameters else {}

    def truth(self, labels, num_classes) -> np.ndarray:
        """{0, 255}, {0, 1} or palette masks as class indices (1 = vessel); for a model of
        arteries and veins, RITE's labels (1 artery, 2 vein; 3, uncertain, is not scored)."""
        from ..data.drive import AV_UNCERTAIN, binarize

        if num_classes == 3:
            labels = np.asarray(labels).astype(np.int64)
            return np.where(labels == AV_UNCERTAIN, IGNORE_LABEL, labels)
        return binarize(labels).astype(np.int64)

    def evaluate(self, prob: np.ndarray, labels: np.ndarray, threshold: float,
                 roi: np.ndarray | None = None, classes: list[str] | None = None,
                 marked: bool = False) -> dict:  # fmt: skip
        """As any task's; an artery/vein model against labels that mark vessels only (0 and
        255, DRIVE's manual annotations) is scored as a vessel model: either type against
        vessel (there is no artery or vein to score)."""
        from ..scoring import vessel_scores

        values = np.unique(np.asarray(labels))
        vessels_only = np.ndim(labels) == 2 and set(values.tolist()) <= {0, 255}  # not RGB
        if np.shape(prob)[0] == 3 and not marked and vessels_only:
            return vessel_scores(prob, self.truth(labels, 2), threshold, roi)
        return super().evaluate(prob, labels, threshold, roi, classes, marked)

    def score(self, prob, truth, threshold=0.5, roi=None, classes=None) -> dict:
        """DRIVE's metrics inside ``roi`` (:func:`~unet_core.scoring.vessel_scores`); those of
        arteries and veins for a model of the three (:func:`~unet_core.scoring.av_scores`)."""
        from ..scoring import av_scores, vessel_scores

        if np.shape(prob)[0] == 3:
            return av_scores(prob, truth, roi)
        return vessel_scores(prob, truth, threshold, roi)


TASK = Fundus()
