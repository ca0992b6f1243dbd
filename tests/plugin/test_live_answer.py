"""The live answer: a stroke gets an answer within about a second in a layer of its own, never
over a painted pixel; a stroke during an answer restarts it; the window never stalls; a finished
round replaces it."""

import time

import numpy as np
import pytest
from qtpy.QtCore import QTimer
from test_finetune_loop import FINETUNE, TIMEOUT, run_round

from napari_unet import PLUGIN
from napari_unet._session import pair_of


def blobs(size: int = 192) -> np.ndarray:
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:size, :size]
    image = rng.normal(60, 12, (size, size))
    for cy, cx in rng.uniform(20, size - 20, (12, 2)):
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < 100] = 200
    return image.clip(0, 255).astype(np.uint8)


@pytest.fixture
def scribbling(make_napari_viewer, tiny_model_file):
    viewer = make_napari_viewer()
    image = viewer.add_image(blobs(), name="blobs")
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, FINETUNE)
    fine._pairs.image.value = image
    fine._base.value, fine._base_file.value = "model file…", tiny_model_file
    fine._device.value = "cpu"
    fine._pairs.new_scribbles.clicked.emit()
    return viewer, fine, viewer.layers["blobs scribbles"]


def stroke(layer, row: int, cols: range, value: int) -> None:
    """A brush stroke as napari makes one (paint events, one per dab)."""
    for col in cols:
        layer.paint((row, col), value, refresh=False)


def live_layer(viewer):
    name = "blobs scribbles live"
    return viewer.layers[name] if name in viewer.layers else None  # noqa: SIM401 (no .get)


def test_a_stroke_gets_a_live_answer_that_leaves_painted_pixels_alone(scribbling, qtbot):
    viewer, fine, scribbles = scribbling
    image = viewer.layers["blobs"].data
    stroke(scribbles, 5, range(5, 180, 3), 1)  # background
    bright = np.argwhere(image > 150)
    y, x = bright[len(bright) // 2]
    stroke(scribbles, int(y), range(int(x) - 3, int(x) + 4), 2)  # a blob
    ticks = []  # the event loop while the answer is made (the strokes are the test's own work)
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    start = time.perf_counter()
    qtbot.waitUntil(lambda: fine._live.status.value.startswith("answered"),
                    timeout=TIMEOUT)  # fmt: skip
    answered = time.perf_counter() - start
    qtbot.waitUntil(lambda: fine._live.worker is None, timeout=TIMEOUT)
    timer.stop()
    live = live_layer(viewer).data
    painted = pair_of(viewer, scribbles).painted()
    assert painted.sum() > 20 and not live[painted].any()  # never over a painted pixel
    assert set(np.unique(live)) <= {0, 1} and fine._live.status.value.startswith("answered")
    gaps = np.diff(ticks) * 1000
    # the time to the answer is measured in benchmarks/loop.py (a timed test would be noise)
    print(f"answer {answered:.2f} s after the stroke; longest stall {gaps.max():.0f} ms")
    assert gaps.max() < 100


def test_a_stroke_during_an_answer_restarts_it(scribbling, qtbot):
    viewer, fine, scribbles = scribbling
    stroke(scribbles, 5, range(5, 150, 3), 1)
    fine._live.answer()  # an answer starts ...
    first, first_stroke = fine._live.worker, fine._live._stroke
    assert first is not None
    stroke(scribbles, 100, range(100, 110), 2)  # ... and another stroke comes
    second_stroke = fine._live._stroke
    fine._live.answer()
    assert fine._live.worker is not first and second_stroke > first_stroke
    qtbot.waitUntil(lambda: fine._live.worker is None and fine._live.status.value.startswith(
        "answered"), timeout=TIMEOUT)  # fmt: skip
    qtbot.wait(300)  # whatever the abandoned answer returns is dropped, also late
    assert fine._live.shown == second_stroke  # the answer on screen is the second stroke's


def test_an_answer_for_other_labels_is_dropped(scribbling, qtbot):
    viewer, fine, scribbles = scribbling
    stroke(scribbles, 5, range(5, 150, 3), 1)
    fine._live.answer()
    fine._pairs.new_scribbles.clicked.emit()  # other labels chosen while it runs
    other = viewer.layers["blobs scribbles [1]"]
    assert fine._pairs.target.value is other and fine._live.worker is None
    qtbot.wait(1500)
    assert "blobs scribbles [1] live" not in viewer.layers
    assert live_layer(viewer) is None or not live_layer(viewer).data.any()


def test_a_finished_round_replaces_the_live_answer(scribbling, qtbot):
    viewer, fine, scribbles = scribbling
    stroke(scribbles, 5, range(5, 150, 3), 1)
    stroke(scribbles, 100, range(100, 110), 2)
    qtbot.waitUntil(lambda: fine._live.worker is None and fine._live.status.value.startswith(
        "answered"), timeout=TIMEOUT)  # fmt: skip
    assert live_layer(viewer).data.any()
    fine._steps.value = 5
    run_round(fine, qtbot)
    assert live_layer(viewer) is None and "blobs scribbles prediction" in viewer.layers
    fine._live.enabled.value = False  # turned off: strokes get no answer
    stroke(scribbles, 50, range(50, 60), 1)
    qtbot.wait(600)
    assert live_layer(viewer) is None and fine._live.worker is None
