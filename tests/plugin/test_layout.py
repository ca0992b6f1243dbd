"""The four widgets docked together fit a 1366 x 768 screen, each scrolling its own rows."""

import pytest
from qtpy.QtWidgets import QApplication, QLabel, QScrollArea

WIDGETS = [
    "Segment",
    "Fine-tune (paint and retrain)",
    "Train a new model",
    "Batch-segment a folder",
]


@pytest.mark.gl
def test_four_docked_widgets_fit_a_small_screen(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    docked = [viewer.window.add_plugin_dock_widget("napari-unet", name)[1] for name in WIDGETS]
    window.resize(1366, 768)
    qtbot.wait(200)
    QApplication.processEvents()
    print(f"window {window.width()} x {window.height()}; minimum {window.minimumSizeHint()}")
    assert window.height() <= 768 and window.minimumSizeHint().height() <= 768
    for widget in docked:
        scroll = widget.native.findChild(QScrollArea)
        assert scroll is not None and scroll.isVisible()
        names = [w.text() for w in widget.native.findChildren(QLabel) if w.text()]
        assert len(names) >= 5, names
