"""The measurements of one fundus photograph that research publishes, from its vessel map (1 =
vessel) or its artery/vein map (1 = artery, 2 = vein): fractal dimension, calibre and
tortuosity (per vessel type where the map has types), the optic disc, and CRAE, CRVE and AVR.

Lengths are in pixels (``*_px``) and, with a pixel size or the field of view's angle, in
microns (``*_um``); a measurement that cannot be made is left empty and ``not_measured`` says
why (no disc found, too few vessels, a map without vessel types), never a made-up number."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from ..base.events import Status
from ..base.jobs import drain
from .disc import Disc, find_disc, zone_mask
from .knudtson import LARGEST, crae, crve
from .segments import Segment, skeleton_of, vessel_segments
from .shape import CURVATURE_SIGMA, arc_chord, fractal_dimension, mean_curvature, shape_sigma
from .zone import zone_widths

#: retinal distance per degree of visual angle in an emmetropic eye (0.288 mm/deg, Bennett,
#: Rudnicka and Edgar 1994; the figure fundus cameras' field angles are converted with)
MICRONS_PER_DEGREE = 288.0
#: the field angles of fundus cameras (narrow 10-20 degrees to ultra-wide-field 200), and the
#: pixel sizes of their photographs (a few microns on a large sensor to ~80 on a small web
#: photograph): outside these a number is a slip, refused
FOV_DEGREES = (10.0, 220.0)
PIXEL_SIZE_UM = (0.5, 100.0)
#: segments shorter than this (px, for the bare smoothing of 5 px; on a photograph four times
#: the centreline's smoothing, :func:`~.shape.shape_sigma`) carry no tortuosity or curvature
#: (a few pixels bend by the grid alone)
MIN_SHAPE_LENGTH = 20.0
TYPES = {1: "artery", 2: "vein"}

COLUMNS = (
    "fractal_dimension", "fractal_dimension_mask", "segments", "calibre_px", "calibre_um",
    "tortuosity", "curvature_per_px", "curvature_per_mm",
    "artery_calibre_px", "artery_calibre_um", "vein_calibre_px", "vein_calibre_um",
    "artery_tortuosity", "vein_tortuosity", "artery_fractal_dimension", "vein_fractal_dimension",
    "disc_row", "disc_col", "disc_diameter_px", "crae_px", "crae_um", "crve_px", "crve_um",
    "avr", "microns_per_pixel", "not_measured",
)  # fmt: skip


@dataclass(frozen=True)
class Calibration:
    """How big a pixel is: given (``pixel_size_um``), or from the field of view's angle
    (``fov_degrees``, e.g. 45 for DRIVE's camera) and its measured diameter; neither: pixels."""

    pixel_size_um: float | None = None
    fov_degrees: float | None = None

    def __post_init__(self):
        for name, said, (low, high) in (
                ("pixel_size_um", "the pixel size (microns)", PIXEL_SIZE_UM),
                ("fov_degrees", "the field of view's angle (degrees)", FOV_DEGREES)):  # fmt: skip
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise ValueError(f"{said} must be a positive number, got {value}")
            if value is not None and not low <= value <= high:
                raise ValueError(f"{said} of a fundus photograph lies between {low:g} and "
                                 f"{high:g}, got {value:g}")  # fmt: skip
        if self.pixel_size_um is not None and self.fov_degrees is not None:
            raise ValueError("give the pixel size or the field of view's angle, not both "
                             f"({self.pixel_size_um:g} um and {self.fov_degrees:g} degrees)")

    def microns_per_pixel(self, fov_diameter_px: float | None) -> float | None:
        if self.pixel_size_um:
            return float(self.pixel_size_um)
        if self.fov_degrees and fov_diameter_px:
            return self.fov_degrees * MICRONS_PER_DEGREE / fov_diameter_px
        return None


def measure_photograph(labels: np.ndarray, fov: np.ndarray | None = None,
                       image: np.ndarray | None = None, calibration: Calibration | None = None,
                       disc: Disc | None = None, typed: bool = False,
                       keep: dict | None = None) -> dict:  # fmt: skip
    """Every column of :data:`COLUMNS` for one photograph's ``labels`` inside ``fov``;
    ``typed``: the labels are an artery/vein map. ``image`` locates the optic disc unless
    ``disc`` is given. ``keep``, a dict, receives what was measured on: the ``segments`` and
    the ``disc`` (None when none)."""
    return drain(photograph_steps(labels, fov, image, calibration, disc, typed, keep))


def photograph_steps(labels: np.ndarray, fov: np.ndarray | None = None,
                     image: np.ndarray | None = None, calibration: Calibration | None = None,
                     disc: Disc | None = None, typed: bool = False, keep: dict | None = None,
                     ) -> Generator[Status, None, dict]:  # fmt: skip
    """:func:`measure_photograph` as a job: yields a :class:`Status` before each stage (a
    caller may stop it there), returns the columns."""
    labels = np.asarray(labels)
    check_same_size(labels, image)
    fov = np.ones(labels.shape, bool) if fov is None else np.asarray(fov, bool)
    labels = np.where(fov, labels, 0)
    mask = labels > 0
    across = 2 * np.sqrt(fov.sum() / np.pi)
    um = (calibration or Calibration()).microns_per_pixel(across)
    out: dict = dict.fromkeys(COLUMNS, None)
    why: list[str] = []
    yield Status("tracing the vessel segments…")
    segments = vessel_segments(mask, labels if typed else None)
    yield Status("calibre, tortuosity and fractal dimension…")
    out.update(tree_shape(mask, segments, um, across))
    sigma = shape_sigma(across)
    if typed:
        for k, name in TYPES.items():
            own = [s for s in segments if s.label == k]
            calibre = weighted(own, lambda s: s.calibre())
            out[f"{name}_calibre_px"], out[f"{name}_calibre_um"] = calibre, scaled(calibre, um)
            out[f"{name}_tortuosity"] = weighted(shaped(own, sigma),
                                                 lambda s: arc_chord(s.path, sigma))
            out[f"{name}_fractal_dimension"] = rounded(fractal_dimension(skeleton_of(labels == k),
                                                                            across))
    if disc is None and image is not None:
        yield Status("locating the optic disc…")
        disc, reason = find_disc(image, fov, mask, um)
        why += [reason] if reason else []
    if disc is not None:
        out.update(disc_row=rounded(disc.row, 1), disc_col=rounded(disc.col, 1),
                   disc_diameter_px=rounded(disc.diameter, 1))  # fmt: skip
    if not typed:
        why.append("CRAE, CRVE, AVR: the map has no arteries and veins (an artery/vein model "
                   "gives them)")  # fmt: skip
    elif disc is not None:
        out.update(equivalents(segments, disc, labels.shape, um, why, image, mask))
    elif image is None:
        why.append("CRAE, CRVE, AVR: no optic disc given")
    out["microns_per_pixel"] = rounded(um, 3)
    if um is None:
        why.append("microns: give the pixel size or the field of view's angle")
    out["not_measured"] = "; ".join(why)
    if keep is not None:
        keep.update(segments=segments, disc=disc)
    return out


def check_same_size(labels: np.ndarray, image: np.ndarray | None) -> None:
    """ValueError in one line when a map and its photograph differ in size."""
    if image is not None and np.shape(image)[:2] != np.shape(labels):
        raise ValueError(f"the labels {np.shape(labels)} and the image {np.shape(image)[:2]} "
                         "differ in size: choose the image they were made on")  # fmt: skip


def tree_shape(mask: np.ndarray, segments: list[Segment], um: float | None,
               across: float | None = None) -> dict:  # fmt: skip
    """The whole tree's fractal dimensions, segment count, mean calibre and tortuosity (its
    centrelines smoothed relative to the field of view, ``across`` px)."""
    calibre = weighted(segments, lambda s: s.calibre())
    sigma = shape_sigma(across)
    curvature = weighted(shaped(segments, sigma), lambda s: mean_curvature(s.path, sigma))
    return {
        "fractal_dimension": rounded(fractal_dimension(skeleton_of(mask), across)),
        "fractal_dimension_mask": rounded(fractal_dimension(mask, across)),
        "segments": len(segments),
        "calibre_px": calibre, "calibre_um": scaled(calibre, um),
        "tortuosity": weighted(shaped(segments, sigma), lambda s: arc_chord(s.path, sigma)),
        "curvature_per_px": curvature,
        "curvature_per_mm": None if um is None or curvature is None else
        rounded(curvature * 1000 / um),
    }  # fmt: skip


def equivalents(segments: list[Segment], disc: Disc, shape, um: float | None,
                why: list[str], image: np.ndarray | None = None,
                vessels: np.ndarray | None = None) -> dict:  # fmt: skip
    """CRAE, CRVE (px and microns) and AVR from the vessels in the disc's zone (their widths
    read from ``image``, the photograph, where given: :func:`zone_widths`); a reason in
    ``why`` for each that cannot be had."""
    zone = zone_mask(shape, disc)
    out: dict = {}
    found = {}
    for k, name in TYPES.items():
        widths = zone_widths([s for s in segments if s.label == k], zone, disc, image, vessels)
        if len(widths) < LARGEST:
            why.append(f"{'CRAE' if k == 1 else 'CRVE'}: {len(widths)} {name}(s) in the zone, "
                       f"Knudtson's formula takes the {LARGEST} largest")  # fmt: skip
            continue
        found[k] = crae(widths) if k == 1 else crve(widths)
    for k, key in ((1, "crae"), (2, "crve")):
        value = found.get(k)
        out[f"{key}_px"] = None if value is None else round(value, 2)
        out[f"{key}_um"] = scaled(value, um)
    if 1 in found and 2 in found:
        out["avr"] = round(found[1] / found[2], 3)
    return out


#: a segment whose ends lie closer than this (px) is a closed loop: it has no chord, so no
#: distance factor (a ring's arc over its 1-px chord would read as tortuosity 150)
MIN_CHORD = 3.0


def shaped(segments: list[Segment], sigma: float = CURVATURE_SIGMA) -> list[Segment]:
    """The segments long enough (:data:`MIN_SHAPE_LENGTH` for a smoothing of ``sigma`` px),
    and open, to carry a tortuosity and a curvature."""
    least = MIN_SHAPE_LENGTH * sigma / CURVATURE_SIGMA
    return [s for s in segments if s.length >= least and s.chord >= MIN_CHORD]


def weighted(segments: list[Segment], value) -> float | None:
    """The mean of ``value(segment)`` weighted by the segments' lengths (None: none)."""
    pairs = [(value(s), s.length) for s in segments]
    pairs = [(v, w) for v, w in pairs if np.isfinite(v) and w > 0]
    if not pairs:
        return None
    v, w = np.array(pairs).T
    return round(float(np.sum(v * w) / np.sum(w)), 4)


def scaled(value: float | None, um: float | None) -> float | None:
    return None if value is None or um is None else round(float(value * um), 2)


def rounded(value: float | None, digits: int = 4) -> float | None:
    """A plain float (None for none or NaN), rounded for the table."""
    return None if value is None or not np.isfinite(value) else round(float(value), digits)
