"""Issue 35: the measures research publishes, each on drawn shapes whose answer is known: a
straight vessel, a sine of known amplitude, arcs of circles of known radius, a Koch curve, a
square, a drawn fundus with a bright disc, and a drawn artery/vein tree around it."""

import numpy as np
import pytest
from scipy import integrate
from skimage.draw import line

from unet_core.retina.biomarkers import Calibration, measure_photograph
from unet_core.retina.disc import Disc, find_disc, zone_mask
from unet_core.retina.knudtson import ARTERY_K, VEIN_K, crae, crve, equivalent
from unet_core.retina.segments import vessel_segments
from unet_core.retina.shape import arc_chord, box_sizes, fractal_dimension, mean_curvature


def drawn(points: np.ndarray, shape=(400, 400), radius: int = 0) -> np.ndarray:
    """A polyline through ``points`` (rows, cols): one pixel wide, or ``2 * radius + 1`` px
    wide (every pixel within ``radius + 0.5`` of it, at any angle)."""
    out = np.zeros(shape, bool)
    p = np.round(points).astype(int)
    if not radius:
        for (r0, c0), (r1, c1) in zip(p[:-1], p[1:]):
            out[line(r0, c0, r1, c1)] = True
        return out
    yy, xx = np.indices(shape)
    pts = np.stack([yy.ravel(), xx.ravel()], 1).astype(float)
    best = np.full(len(pts), np.inf)
    for a, b in zip(points[:-1], points[1:]):
        d = b - a
        t = np.clip((pts - a) @ d / max(d @ d, 1e-12), 0, 1)
        best = np.minimum(best, np.hypot(*(pts - a - t[:, None] * d).T))
    return (best <= radius + 0.5).reshape(shape)


def only(segments):
    assert len(segments) == 1, [len(s.path) for s in segments]
    return segments[0]


def test_a_straight_vessel_has_its_width_no_bend_and_dimension_one():
    mask = drawn(np.array([[200, 50], [200, 350]]), radius=2)  # 5 px wide, 300 px long
    s = only(vessel_segments(mask))
    assert s.calibre() == pytest.approx(5, abs=0.1)
    assert s.length == pytest.approx(300, abs=6)  # the skeleton stops short of the caps
    assert arc_chord(s.path) == pytest.approx(1.0, abs=1e-6)
    assert mean_curvature(s.path) == pytest.approx(0.0, abs=1e-6)
    one = drawn(np.array([[0, 0], [0, 511]]), shape=(512, 512))
    assert fractal_dimension(one) == pytest.approx(1.0, abs=0.01)


def sine(amplitude: float, wavelength: float, cols: np.ndarray) -> np.ndarray:
    return np.stack([200 + amplitude * np.sin(2 * np.pi * cols / wavelength), cols], 1)


@pytest.mark.parametrize("amplitude", [8.0, 20.0])
def test_a_sine_has_its_arc_over_chord_and_mean_curvature(amplitude):
    wavelength, cols = 100.0, np.arange(40, 361, 2, dtype=float)
    mask = drawn(sine(amplitude, wavelength, cols), radius=1)
    s = only(vessel_segments(mask))
    a = amplitude * 2 * np.pi / wavelength  # y' = a cos(w x), y'' = -a w sin(w x)
    w = 2 * np.pi / wavelength
    x = np.linspace(cols[0], cols[-1], 20001)
    speed = np.sqrt(1 + (a * np.cos(w * x)) ** 2)
    arc = integrate.trapezoid(speed, x)
    chord = np.hypot(cols[-1] - cols[0], np.diff(sine(amplitude, wavelength, cols[[0, -1]])[:, 0]))
    assert arc_chord(s.path) == pytest.approx(arc / chord[0], rel=0.03)
    bend = integrate.trapezoid(np.abs(a * w * np.sin(w * x)) / speed**2, x)  # |k| ds
    assert mean_curvature(s.path) == pytest.approx(bend / arc, rel=0.12)


def test_a_vessel_bends_as_much_on_a_finer_camera():
    """The same two vessels photographed with three times the pixels (a ragged map edge, as a
    network draws one, enlarged with them): the same curvature per millimetre and distance
    factor, the centreline smoothed over a share of the field of view (fixed at 5 px, the
    finer photograph read 85 % more curvature)."""
    from scipy import ndimage

    from unet_core.base.arrays import resize

    rng = np.random.default_rng(0)
    yy, xx = np.indices((400, 400))
    fov = (yy - 200) ** 2 + (xx - 200) ** 2 < 190**2
    cols = np.arange(60, 341, 2, dtype=float)
    mask = drawn(sine(12, 120, cols), radius=2) | drawn(sine(8, 90, cols) + [80, 0], radius=1)
    mask = ndimage.binary_closing(mask & (rng.random(mask.shape) > 0.15))  # a ragged edge
    measured = []
    for factor in (1, 3):
        size = (400 * factor,) * 2
        big, big_fov = (resize(m.astype(np.float32), size) >= 0.5 for m in (mask, fov))
        measured.append(measure_photograph(big.astype(np.uint8), big_fov,
                                           calibration=Calibration(fov_degrees=45)))  # fmt: skip
    low, high = measured
    assert high["curvature_per_mm"] == pytest.approx(low["curvature_per_mm"], rel=0.05)
    assert high["tortuosity"] == pytest.approx(low["tortuosity"], abs=0.005)
    assert high["curvature_per_px"] == pytest.approx(low["curvature_per_px"] / 3, rel=0.05)


@pytest.mark.parametrize("radius", [30, 60, 120])
def test_an_arc_of_a_circle_bends_by_one_over_its_radius(radius):
    angles = np.linspace(0, 1.5 * np.pi, 150)
    points = np.stack([200 + radius * np.sin(angles), 200 + radius * np.cos(angles)], 1)
    s = only(vessel_segments(drawn(points, shape=(400, 400), radius=1)))
    assert mean_curvature(s.path) == pytest.approx(1 / radius, rel=0.1)
    assert arc_chord(s.path) == pytest.approx(1.5 * np.pi / np.sqrt(2), rel=0.04)


def koch(level: int) -> np.ndarray:
    points = np.array([[0.0, 0.0], [0.0, 1.0]])
    turn = np.array([[np.cos(np.pi / 3), -np.sin(np.pi / 3)],
                     [np.sin(np.pi / 3), np.cos(np.pi / 3)]])  # fmt: skip
    for _ in range(level):
        new = [points[0]]
        for p, q in zip(points[:-1], points[1:]):
            d = (q - p) / 3
            new += [p + d, p + d + turn @ d, p + 2 * d, q]
        points = np.array(new)
    return points


def test_box_counting_finds_a_koch_curve_and_a_square():
    points = koch(7) * 2187  # 16384 segments of 1 px
    points -= points.min(0) - 10
    mask = drawn(points, shape=tuple(int(v) + 11 for v in points.max(0)))
    # dyadic boxes on a triadic curve, and 1-px detail at the smallest box: within 0.05
    assert fractal_dimension(mask) == pytest.approx(np.log(4) / np.log(3), abs=0.05)
    assert fractal_dimension(drawn(koch(1) * 2187 + [700, 10], shape=(720, 2200))) < 1.1
    square = np.zeros((512, 512), bool)
    square[:384, :384] = True
    assert fractal_dimension(square) == pytest.approx(2.0, abs=0.03)
    assert np.isnan(fractal_dimension(np.zeros((64, 64), bool)))


def test_knudtson_pairs_the_largest_with_the_smallest():
    widths = [100, 90, 80, 70, 60, 50]
    first = sorted([ARTERY_K * np.hypot(100, 50), ARTERY_K * np.hypot(90, 60),
                    ARTERY_K * np.hypot(80, 70)])  # fmt: skip
    second = sorted([ARTERY_K * np.hypot(first[2], first[0]), first[1]])
    assert crae(widths) == pytest.approx(ARTERY_K * np.hypot(*second))
    assert crae(widths + [10, 20]) == pytest.approx(crae(widths))  # the six largest only
    assert crve([7.0] * 6) == pytest.approx(equivalent([7.0] * 6, VEIN_K))
    assert equivalent([5.0], ARTERY_K) == 5.0
    with pytest.raises(ValueError, match="no vessel widths"):
        equivalent([], ARTERY_K)


def fundus(disc_at=(150, 230), disc_radius=32, size=400):
    """A drawn photograph: a dark round field of view with a bright disc, some noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.indices((size, size))
    fov = np.hypot(yy - size / 2, xx - size / 2) < size * 0.48
    image = np.where(fov, 90.0, 0.0) + rng.normal(0, 4, fov.shape) * fov
    disc = np.hypot(yy - disc_at[0], xx - disc_at[1]) <= disc_radius
    image[disc] = 200
    rgb = np.stack([image * 1.1, image, image * 0.4], -1).clip(0, 255).astype(np.uint8)
    return rgb, fov


def test_the_optic_disc_is_found_with_its_size_or_said_missing():
    image, fov = fundus()
    disc, why = find_disc(image, fov)
    assert why == ""
    assert (disc.row, disc.col) == (pytest.approx(150, abs=3), pytest.approx(230, abs=3))
    assert disc.diameter == pytest.approx(64, rel=0.1)
    standard, _ = find_disc(image, fov, microns_per_pixel=20.0)  # the pixel size known
    assert standard.diameter == pytest.approx(1800 / 20) and standard.row == disc.row
    flat = np.where(fov[..., None], 90, 0).astype(np.uint8).repeat(3, -1)
    assert find_disc(flat, fov) == (None, "no optic disc found (no region bright enough)")
    ring = zone_mask(fov.shape, Disc(150, 230, 64))
    assert ring[150, 230 + 64] and ring[150, 230 + 96] and not ring[150, 230 + 60]
    assert not ring[150, 230 + 100]


def tree(widths_a, widths_v, disc=(200.0, 200.0), shape=(400, 400)):
    """An artery/vein map: straight vessels of the given widths radiating from the disc."""
    labels = np.zeros(shape, np.uint8)
    n = len(widths_a) + len(widths_v)
    kinds = [(1, w) for w in widths_a] + [(2, w) for w in widths_v]
    for i, (k, w) in enumerate(kinds):
        angle = 2 * np.pi * i / n
        end = np.array(disc) + 180 * np.array([np.sin(angle), np.cos(angle)])
        start = np.array(disc) + 20 * np.array([np.sin(angle), np.cos(angle)])
        labels[drawn(np.array([start, end]), shape, radius=w // 2)] = k
    return labels


def test_crae_crve_and_avr_of_a_drawn_tree_in_pixels_and_microns():
    labels = tree([5] * 6, [7] * 6)
    disc = Disc(200, 200, 60, "given")
    fov = np.ones(labels.shape, bool)
    values = measure_photograph(labels, fov, disc=disc, typed=True)
    assert values["crae_px"] == pytest.approx(equivalent([5] * 6, ARTERY_K), rel=0.06)
    assert values["crve_px"] == pytest.approx(equivalent([7] * 6, VEIN_K), rel=0.06)
    assert values["avr"] == pytest.approx(values["crae_px"] / values["crve_px"], abs=1e-3)
    assert values["artery_calibre_px"] == pytest.approx(5, abs=0.3)
    assert values["vein_calibre_px"] == pytest.approx(7, abs=0.3)
    assert values["crae_um"] is None and "microns" in values["not_measured"]
    assert values["disc_diameter_px"] == 60 and values["segments"] == 12
    micro = measure_photograph(labels, fov, disc=disc, typed=True,
                               calibration=Calibration(pixel_size_um=10.0))  # fmt: skip
    assert micro["crae_um"] == pytest.approx(10 * micro["crae_px"], abs=0.1)
    assert micro["microns_per_pixel"] == 10.0 and micro["not_measured"] == ""
    angle = Calibration(fov_degrees=45).microns_per_pixel(540)
    assert angle == pytest.approx(45 * 288 / 540)


def test_a_vessel_branching_in_the_zone_counts_once_as_its_trunk():
    """Knudtson's six largest are six vessels: a wide artery that branches inside the zone
    enters it once (its trunk); its branches and its stretch beyond the branch point are not
    three more wide arteries."""
    labels = tree([9, 5, 5, 5, 5, 5], [7] * 6)
    disc, fork = Disc(200, 200, 60, "given"), np.array([200.0, 275.0])  # in the zone (60-90)
    for turn in (-0.5, 0.5):
        end = fork + 110 * np.array([np.sin(turn), np.cos(turn)])
        labels[drawn(np.array([fork, end]), labels.shape, radius=4)] = 1
    values = measure_photograph(labels, np.ones(labels.shape, bool), disc=disc, typed=True)
    trunk_once = equivalent([9, 5, 5, 5, 5, 5], ARTERY_K)
    assert values["crae_px"] == pytest.approx(trunk_once, rel=0.06)
    assert values["crae_px"] < 0.9 * equivalent([9, 9, 9, 9, 5, 5], ARTERY_K)


@pytest.mark.parametrize("degrees", [90, 45, 30])
def test_a_vessel_crossed_in_the_zone_counts_once(degrees):
    """A vein crossing the widest artery inside the zone cuts its centreline in two: the
    stretch beyond is the same artery, not a seventh (at a slant the skeleton makes two
    junctions with a bridge between them)."""
    from unet_core.retina.zone import zone_widths

    labels = tree([7, 5, 5, 5, 5, 5], [6] * 6)  # the 7-px artery runs along row 200
    t, centre = np.deg2rad(degrees), np.array([200.0, 275.0])  # in the zone (60-90 px)
    reach = 60 * np.array([np.sin(t), np.cos(t)])
    labels[drawn(np.array([centre - reach, centre + reach]), labels.shape, radius=3)] = 2
    disc = Disc(200, 200, 60, "given")
    arteries = [s for s in vessel_segments(labels > 0, labels) if s.label == 1]
    widths = zone_widths(arteries, zone_mask(labels.shape, disc), disc)
    assert len(widths) == 6 and max(widths) == pytest.approx(7, abs=0.7), widths


def test_a_closed_ring_has_a_calibre_but_no_tortuosity_and_empty_maps_measure_nothing():
    yy, xx = np.indices((80, 80))
    ring = (np.abs(np.hypot(yy - 40, xx - 40) - 25) < 1.5).astype(np.uint8)
    values = measure_photograph(ring)
    assert values["segments"] == 1 and values["calibre_px"] == pytest.approx(3, abs=0.3)
    assert values["tortuosity"] is None and values["curvature_per_px"] is None
    empty = measure_photograph(np.zeros((50, 50), np.uint8))
    assert empty["segments"] == 0 and empty["calibre_px"] is None
    assert empty["fractal_dimension"] is None


def test_what_cannot_be_measured_is_empty_with_its_reason():
    few = tree([5] * 3, [7] * 6)
    values = measure_photograph(few, disc=Disc(200, 200, 60, "given"), typed=True)
    assert values["crae_px"] is None and values["avr"] is None
    assert values["crve_px"] is not None
    assert "CRAE: 3 artery(s) in the zone" in values["not_measured"]
    plain = measure_photograph(few > 0, disc=Disc(200, 200, 60, "given"))
    assert plain["crve_px"] is None and "no arteries and veins" in plain["not_measured"]
    assert plain["calibre_px"] is not None and plain["artery_calibre_px"] is None
    image = np.full((*few.shape, 3), 90, np.uint8)
    image[150:250, 150:250] = 60  # where the vessels meet is darker than the rest: no disc
    dark = measure_photograph(few, image=image, typed=True)
    assert dark["disc_row"] is None and "no optic disc found" in dark["not_measured"]
    with pytest.raises(ValueError, match=r"the labels \(400, 400\) and the image \(40, 40\)"):
        measure_photograph(few, image=image[:40, :40], disc=Disc(200, 200, 60, "given"),
                           typed=True)  # the photograph's widths would be read elsewhere
    with pytest.raises(ValueError, match=r"the pixel size \(microns\) must be a positive number"):
        Calibration(pixel_size_um=-1)
    # a slip of the keyboard, not a camera: refused in one line, never turned into microns
    for slip, said in (({"fov_degrees": 400}, "angle .* between 10 and 220, got 400"),
                       ({"fov_degrees": 1e-9}, "angle .* between 10 and 220, got 1e-09"),
                       ({"pixel_size_um": 5000}, "pixel size .* between 0.5 and 100, got 5000"),
                       ({"pixel_size_um": 9, "fov_degrees": 45}, "not both")):  # fmt: skip
        with pytest.raises(ValueError, match=said):
            Calibration(**slip)
    assert Calibration(fov_degrees=200).microns_per_pixel(4000) == 200 * 288 / 4000  # Optos


def test_measuring_a_map_says_each_stage_and_can_be_stopped_between_them():
    from unet_core.base.jobs import Cancelled, drain
    from unet_core.tasks.fundus import measure_map, measure_map_steps

    image, _ = fundus(disc_at=(200, 200), disc_radius=30)
    labels = tree([5] * 6, [7] * 6)
    lines: list[str] = []
    whole = drain(measure_map_steps(image, labels, typed=True), lambda e: lines.append(e.text))
    assert lines == ["finding the field of view…", "skeleton, branch points and widths…",
                     "tracing the vessel segments…", "calibre, tortuosity and fractal dimension…",
                     "locating the optic disc…"]  # fmt: skip
    assert whole == measure_map(image, labels, typed=True) and whole["segments"] == 12
    seen: list[str] = []
    with pytest.raises(Cancelled):  # stopped before the disc: nothing more is measured
        drain(measure_map_steps(image, labels, typed=True),
              lambda e: seen.append(e.text) or e.text != "locating the optic disc…")  # fmt: skip
    assert seen[-1] == "locating the optic disc…"


def test_one_vessel_has_one_type_and_a_crossing_keeps_two():
    """An artery/vein map's types made consistent along each segment: a stretch of an artery
    that the network called a vein takes its segment's type; the vein crossing it keeps its
    own; no pixel's background probability or vessel decision changes."""
    from unet_core.retina.types import consistent_types

    artery = drawn(np.array([[200, 20], [200, 380]]), radius=2)
    vein = drawn(np.array([[20, 300], [380, 300]]), radius=2)
    prob = np.zeros((3, 400, 400), np.float32)
    prob[0] = 0.9
    prob[1:] = 0.05
    prob[:, artery] = np.array([0.1, 0.6, 0.3])[:, None]
    flipped = artery & (np.indices(artery.shape)[1] >= 90) & (np.indices(artery.shape)[1] < 130)
    prob[:, flipped] = np.array([0.2, 0.3, 0.5])[:, None]  # the network's slip
    prob[:, vein & ~artery] = np.array([0.1, 0.25, 0.65])[:, None]
    out = consistent_types(prob)
    kind = out.argmax(0)
    assert (kind[flipped] == 1).all()  # the slip takes its segment's type
    far = vein & (np.abs(np.indices(vein.shape)[0] - 200) > 10)
    assert (kind[far] == 2).all() and (kind[artery & ~vein] == 1).mean() > 0.99
    np.testing.assert_array_equal(out[0], prob[0])
    np.testing.assert_array_equal(out.max(0), prob.max(0))
    assert (kind > 0).sum() == (prob.argmax(0) > 0).sum()


def test_types_of_a_large_photograph_are_found_at_the_models_scale(monkeypatch):
    """A photograph four times the model's scale: its segments are found on the map brought to
    that scale (a tenth of the time), and every pixel of the full map is typed as at full
    size: the network's slip takes its segment's type, edges and the crossing vein as well,
    nothing else moves."""
    from unet_core.retina import types

    seen = []
    found = types.segment_types
    monkeypatch.setattr(types, "segment_types", lambda p, *a: seen.append(p.shape) or found(p, *a))
    artery = drawn(np.array([[800, 80], [800, 1520]]), shape=(1600, 1600), radius=8)
    vein = drawn(np.array([[80, 1200], [1520, 1200]]), shape=(1600, 1600), radius=10)
    prob = np.zeros((3, 1600, 1600), np.float32)
    prob[0], prob[1:] = 0.9, 0.05
    prob[:, artery] = np.array([0.1, 0.6, 0.3])[:, None]
    cols = np.indices(artery.shape)[1]
    flipped = artery & (cols >= 360) & (cols < 520)
    prob[:, flipped] = np.array([0.2, 0.3, 0.5])[:, None]  # the network's slip
    prob[:, vein & ~artery] = np.array([0.1, 0.25, 0.65])[:, None]
    full, small = types.consistent_types(prob), types.consistent_types(prob, scale=0.25)
    assert seen == [(3, 1600, 1600), (3, 400, 400)]
    kind = small.argmax(0)
    assert (kind[flipped] == 1).all()
    assert (kind[artery & ~vein] == 1).mean() > 0.99
    assert (kind[vein & (np.abs(np.indices(vein.shape)[0] - 800) > 40)] == 2).all()
    vessel = prob[1:].max(0) > prob[0]
    assert (kind[vessel] == full.argmax(0)[vessel]).mean() > 0.995  # the vessels typed alike
    np.testing.assert_array_equal(small[0], prob[0])
    np.testing.assert_array_equal(small.max(0), prob.max(0))


def test_segment_types_are_found_at_the_finest_scale_the_map_was_made_at(monkeypatch):
    """A large photograph segmented at the model's scale and a finer one: its types are found
    at the finer (the thin vessels that pass found are there); the live answer, made at the
    model's scale alone, finds them there."""
    from types import SimpleNamespace

    from unet_core.retina import types
    from unet_core.tasks.fundus import Fundus
    from unet_core.tasks.task import ImageContext

    asked = []
    monkeypatch.setattr(types, "consistent_types", lambda p, scale: asked.append(scale) or p)
    card = SimpleNamespace(classes=["background", "artery", "vein"], scale={})
    prob = np.zeros((3, 40, 40), np.float32)
    for context in (ImageContext(0.25, finer=(0.6,)), ImageContext(0.25), None):
        Fundus().finish(None, prob, card, context)
    assert asked == [0.6, 0.25, 1.0]


def test_vessels_side_by_side_keep_their_own_types():
    """An artery touching a vein along its length shares a skeleton with it, and a thin
    artery beside a wide vein across a 2-px gap has the nearer centreline for the vein's
    edge: in neither case is one vessel taken for the other."""
    from unet_core.retina.types import consistent_types

    def typed(artery, vein):
        prob = np.zeros((3, *artery.shape), np.float32)
        prob[0] = 1
        prob[:, artery] = np.array([0.1, 0.7, 0.2])[:, None]
        prob[:, vein] = np.array([0.1, 0.2, 0.7])[:, None]
        return consistent_types(prob).argmax(0)

    for gap, (artery_w, vein_w) in ((0, (2, 3)), (2, (1, 6))):  # radii: 5 and 7 px; 3 and 13 px
        artery = drawn(np.array([[100, 20], [100, 380]]), shape=(220, 400), radius=artery_w)
        top = 100 + artery_w + 1 + gap + vein_w  # the vein's centre row
        vein = drawn(np.array([[top, 20], [top, 380]]), shape=(220, 400), radius=vein_w)
        vein &= ~artery
        kind = typed(artery, vein)
        assert (kind[artery] == 1).mean() > 0.95 and (kind[vein] == 2).mean() > 0.95, gap


def test_an_artery_vein_model_gives_each_segment_one_type():
    """The fundus task's finish applies it to an artery/vein model's map, and not to a
    vessel map."""
    from types import SimpleNamespace

    from unet_core.tasks.fundus import Fundus

    artery = drawn(np.array([[50, 10], [50, 190]]), shape=(100, 200), radius=2)
    prob = np.zeros((3, 100, 200), np.float32)
    prob[0] = 1
    prob[:, artery] = np.array([0.1, 0.6, 0.3])[:, None]
    prob[:, artery & (np.indices(artery.shape)[1] < 60)] = np.array([0.1, 0.3, 0.6])[:, None]
    typed = prob.copy()
    Fundus().finish(None, typed, SimpleNamespace(classes=["background", "artery", "vein"],
                                                 scale={}))  # fmt: skip
    assert (typed.argmax(0)[artery] == 1).all()
    plain = prob[:2].copy()
    Fundus().finish(None, plain, SimpleNamespace(classes=["background", "vessel"], scale={}))
    np.testing.assert_array_equal(plain, prob[:2])


def branching_tree(scale: float) -> np.ndarray:
    """A drawn binary tree of 1-px lines (10 levels, each branch 0.72 of its parent's length)
    on a square of 400 * ``scale`` px: the same tree at any ``scale``."""
    n = int(400 * scale)
    out = np.zeros((n, n), bool)

    def branch(y, x, angle, length, depth):
        if depth == 0:
            return
        y2, x2 = y - length * np.cos(angle), x + length * np.sin(angle)
        rr, cc = line(int(round(y)), int(round(x)), int(round(y2)), int(round(x2)))
        inside = (rr >= 0) & (rr < n) & (cc >= 0) & (cc < n)
        out[rr[inside], cc[inside]] = True
        for turn in (-0.45, 0.5):
            branch(y2, x2, angle + turn, length * 0.72, depth - 1)

    branch(n - 5, n / 2, 0.0, 110 * scale, 10)
    return out


def test_the_fractal_dimension_of_a_tree_does_not_depend_on_the_resolution():
    """Boxes relative to the field of view: the same tree drawn three times larger keeps its
    dimension (boxes fixed in pixels gave 1.45 and 1.36)."""
    small, large = branching_tree(1), branching_tree(3)
    assert fractal_dimension(small) == pytest.approx(fractal_dimension(large), abs=0.03)
    assert 1.3 < fractal_dimension(small) < 1.7
    assert box_sizes(400) == [3, 6, 12, 25, 50, 100]
    assert fractal_dimension(small, across=1200) != fractal_dimension(small)


def photographed(labels: np.ndarray, blur: float = 1.0) -> np.ndarray:
    """A gray photograph of a map's vessels: dark (80) on the retina (180), blurred by the
    optics (Gaussian, ``blur`` px)."""
    from scipy import ndimage

    image = np.where(labels > 0, 80.0, 180.0)
    return np.clip(ndimage.gaussian_filter(image, blur), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("degrees", [0, 30, 60])
@pytest.mark.parametrize("width", [5, 7])
def test_the_half_height_width_is_the_photographed_vessels_not_its_maps(degrees, width):
    """A vessel photographed ``width`` px wide and drawn 4 px wider in its map: the width read
    across it on the photograph is its own, at any angle; the map's is 4 px more."""
    from unet_core.retina.profile import half_height_width, least_depth, vessel_channel

    t = np.deg2rad(degrees)
    ends = np.array([[100.0, 100.0]]) + np.outer([-70, 70], [np.sin(t), np.cos(t)])
    photo = photographed(drawn(ends, (200, 200), radius=width // 2))
    vessel_map = drawn(ends, (200, 200), radius=width // 2 + 2)
    (segment,) = vessel_segments(vessel_map)
    middle = slice(20, len(segment.path) - 20)
    channel = vessel_channel(photo)
    seen = half_height_width(channel, segment.path, middle, segment.width(middle), vessel_map,
                             least_depth(channel))  # fmt: skip
    assert seen == pytest.approx(width, abs=0.5)
    assert segment.width(middle) == pytest.approx(width + 4, abs=0.6)


def test_a_vessel_running_into_another_keeps_its_maps_width():
    """Two vessels side by side with no retina between them: the profile does not rise
    again beside the first, so no half-height width (NaN) and CRAE takes the map's; a flat
    photograph (no vessel darker than the retina) gives none either."""
    from unet_core.retina.profile import half_height_width, least_depth, vessel_channel

    first = drawn(np.array([[100.0, 20.0], [100.0, 180.0]]), (200, 200), radius=3)
    second = drawn(np.array([[107.0, 20.0], [107.0, 180.0]]), (200, 200), radius=3)
    channel = vessel_channel(photographed(first | second))
    (segment,) = vessel_segments(first)
    args = (segment.path, slice(20, -20), segment.width(slice(20, -20)), first | second)
    assert np.isnan(half_height_width(channel, *args, least_depth(channel)))
    flat = np.full((200, 200), 120.0, np.float32)
    assert np.isnan(half_height_width(flat, *args, least_depth(channel)))


def test_crae_and_crve_read_from_the_photograph_of_a_generously_drawn_tree():
    """Knudtson's six largest measured on the photograph: a tree photographed with arteries
    3 px and veins 5 px wide, its map drawn 2 px wider, gives the photograph's CRAE and CRVE
    (the map alone, without the photograph: its own)."""
    photo = photographed(tree([3] * 6, [5] * 6), blur=0.7)
    generous = tree([5] * 6, [7] * 6)
    disc = Disc(200, 200, 60, "given")
    both = measure_photograph(generous, image=photo, disc=disc, typed=True)
    assert both["crae_px"] == pytest.approx(equivalent([3] * 6, ARTERY_K), rel=0.1)
    assert both["crve_px"] == pytest.approx(equivalent([5] * 6, VEIN_K), rel=0.1)
    alone = measure_photograph(generous, disc=disc, typed=True)
    assert alone["crae_px"] == pytest.approx(equivalent([5] * 6, ARTERY_K), rel=0.06)
    assert alone["crve_px"] == pytest.approx(equivalent([7] * 6, VEIN_K), rel=0.06)
    assert both["artery_calibre_px"] == alone["artery_calibre_px"]  # the map's, as before


def test_the_width_is_read_where_the_vessel_is_and_across_its_whole_breadth():
    """A diagonal vessel 9 px wide that narrows to 3 px for its last fifth, read there: as a
    vessel 3 px wide all along reads (each point's profile taken at that point, not further
    along the smoothed line, where the vessel is 9 px); a 15-px vessel with a light reflex
    along its middle: 15, not the dark
    band beside the reflex; a 9-px vessel whose map is 3 px: 9 (read again beyond the map)."""
    from scipy import ndimage

    from unet_core.retina.profile import half_height_width, least_depth, vessel_channel

    ends = np.array([[20.0, 20.0], [180.0, 180.0]])
    half = np.array([[150.0, 150.0], [180.0, 180.0]])  # the narrow end
    tapered = drawn(ends, (200, 200), radius=4) & ~drawn(half, (200, 200), radius=4)
    tapered |= drawn(half, (200, 200), radius=1)
    (segment,) = vessel_segments(drawn(ends, (200, 200), radius=1))
    channel = vessel_channel(photographed(tapered))
    narrow = (segment.path[:, 0] > 158) & (segment.path[:, 0] < 172)
    uniform = vessel_channel(photographed(drawn(ends, (200, 200), radius=1)))
    alone = half_height_width(uniform, segment.path, narrow, 3.0, None, least_depth(uniform))
    assert alone < 4.2  # 3 px and the blur (a thin vessel reads a little wider)
    assert half_height_width(channel, segment.path, narrow, 3.0, None,
                             least_depth(channel)) == pytest.approx(alone, abs=0.3)  # fmt: skip
    wide_half = (segment.path[:, 0] > 40) & (segment.path[:, 0] < 80)
    assert half_height_width(channel, segment.path, wide_half, 9.0, None,
                             least_depth(channel)) == pytest.approx(9, abs=0.6)  # fmt: skip
    line = np.array([[100.0, 10.0], [100.0, 190.0]])
    image = np.where(drawn(line, (200, 200), radius=7), 80.0, 180.0)
    image[drawn(line, (200, 200), radius=2)] = 150  # the reflex: 5 px, above half height
    photo = ndimage.gaussian_filter(image, 1.0)
    (straight,) = vessel_segments(drawn(line, (200, 200), radius=7))
    middle = slice(30, -30)
    assert half_height_width(photo, straight.path, middle, 15.0, None,
                             least_depth(photo)) == pytest.approx(15, abs=0.6)  # fmt: skip
    wide = vessel_channel(photographed(drawn(line, (200, 200), radius=4)))
    assert half_height_width(wide, straight.path, middle, 3.0, None,
                             least_depth(wide)) == pytest.approx(9, abs=0.6)  # fmt: skip


def test_a_photograph_is_judged_a_fundus_photograph_once(monkeypatch):
    """The fundus task asks whether an image is a fundus photograph once per image: its notes
    and its measurements share the answer kept in the image's context (a batch asked twice)."""
    from types import SimpleNamespace

    from unet_core.tasks import fundus

    asked = []
    monkeypatch.setattr(fundus, "looks_like_fundus", lambda image, fov: asked.append(1) is not None)
    card = SimpleNamespace(classes=["background", "vessel"], scale={"fov_diameter": 540.0},
                           preprocessing=SimpleNamespace(channels="gray"))  # fmt: skip
    image = np.zeros((64, 64), np.uint8)
    context = fundus.ImageContext(1.0, np.ones((64, 64), bool))
    task = fundus.Fundus()
    assert "no field of view found" in task.notes(image, card, context)[0]
    measured = task.measure(image, np.zeros((64, 64), np.uint8), card, context)
    assert measured == {"not_measured": fundus.NOT_FUNDUS}  # the column says why
    assert len(asked) == 1
