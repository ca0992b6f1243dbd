"""The widgets fit a 1366 x 768 screen in height and in width: docked alone or together, every
row fits the dock's width (no clipped text, no row wider than the dock), and each widget
scrolls its own rows."""

import pytest
from qtpy.QtWidgets import QApplication, QCheckBox, QLabel, QPushButton, QScrollArea, QWidget

from napari_unet import PLUGIN
from napari_unet._widgets._fit import FOOTER

WIDGETS = [
    "Segment",
    "Fine-tune",
    "Train a new model",
    "Batch-segment a folder",
]


def clipped(widget) -> list[str]:
    """Texts of ``widget`` that do not fit where they are shown: in its scroll area, and in
    the rows kept below it (the run button, progress, status)."""
    scroll = widget.native.findChild(QScrollArea)
    out = []
    areas = [(scroll.widget(), scroll.viewport().width())]
    foot = widget.native.findChild(QWidget, FOOTER)
    if foot is not None:
        areas.append((foot, foot.width()))
    for inner, width in areas:
        out += clipped_in(inner, width)
    return out


def clipped_in(inner, width: int) -> list[str]:
    out = []
    if inner.minimumSizeHint().width() > width:
        out.append(f"rows need {inner.minimumSizeHint().width()} px of {width}")
    for child in inner.findChildren(QLabel) + inner.findChildren(QPushButton) + \
            inner.findChildren(QCheckBox):  # fmt: skip
        if not child.isVisible() or not child.text():
            continue
        wraps = isinstance(child, QLabel) and child.wordWrap()
        right = child.mapTo(inner, child.rect().topRight()).x()
        if right > width + 1:
            out.append(f"{child.text()!r} ends at {right} px")
        elif not wraps and child.sizeHint().width() > child.width() + 1:
            out.append(f"{child.text()!r} needs {child.sizeHint().width()} px, has {child.width()}")
        elif wraps and child.height() < child.heightForWidth(child.width()) - 1:
            out.append(f"{child.text()[:30]!r}... needs {child.heightForWidth(child.width())} px "
                       f"of height, has {child.height()}")
    return out


def settle(qtbot, window) -> None:
    window.resize(1366, 768)
    qtbot.wait(200)
    QApplication.processEvents()


@pytest.mark.gl
@pytest.mark.parametrize("name", WIDGETS)
def test_each_widget_docked_alone_fits_the_width(make_napari_viewer, qtbot, name):
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    settle(qtbot, viewer.window._qt_window)
    assert clipped(widget) == [], "; ".join(clipped(widget))
    widget._status.value = ("fine-tuned v12 (2026-12-04 17:03, from fine-tuned v11, 3 image(s), "
                            "488 steps, 20 s): 59454 pixel(s) changed; the pixels you painted "
                            "are kept; saved to /home/someone/data/cells.unet-project")  # fmt: skip
    settle(qtbot, viewer.window._qt_window)  # a long status line wraps onto rows of its own
    assert clipped(widget) == [], "; ".join(clipped(widget))
    assert widget._status.native.height() > 3 * widget._status.native.fontMetrics().height()


@pytest.mark.gl
def test_four_docked_widgets_fit_a_small_screen(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    window = viewer.window._qt_window
    docked = [viewer.window.add_plugin_dock_widget(PLUGIN, name)[1] for name in WIDGETS]
    settle(qtbot, window)
    print(f"window {window.width()} x {window.height()}; minimum {window.minimumSizeHint()}")
    assert window.height() <= 768 and window.minimumSizeHint().height() <= 768
    for widget in docked:
        scroll = widget.native.findChild(QScrollArea)
        assert scroll is not None and scroll.isVisible()
        names = [w.text() for w in widget.native.findChildren(QLabel) if w.text()]
        assert len(names) >= 5, names
        assert clipped(widget) == [], f"{type(widget).__name__}: {clipped(widget)}"


@pytest.mark.gl
@pytest.mark.parametrize("name", WIDGETS[:3])  # those that choose layers
def test_a_layers_name_shows_whole_in_its_drop_down(make_napari_viewer, qtbot, name):
    """A drop-down list takes the width its row's label leaves, not half the row: a layer
    named as a camera names its files shows whole (its text fits the list's field)."""
    import numpy as np
    from qtpy.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox

    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.zeros((8, 8), np.uint8), name="IM000123_left")
    viewer.add_labels(np.zeros((8, 8), np.uint8), name="IM000123_left labels")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    settle(qtbot, viewer.window._qt_window)
    combos = [c for c in widget.native.findChildren(QComboBox)
              if c.isVisible() and c.currentText().startswith("IM000123_left")]  # fmt: skip
    assert combos
    for combo in combos:
        option = QStyleOptionComboBox()
        combo.initStyleOption(option)
        field = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                             QStyle.SubControl.SC_ComboBoxEditField, combo)
        assert combo.fontMetrics().horizontalAdvance(combo.currentText()) <= field.width(), \
            (combo.currentText(), combo.width(), field.width())


@pytest.mark.gl
@pytest.mark.parametrize("name", WIDGETS + ["Measure vessels (retina)"])
def test_a_docks_title_shows_whole(make_napari_viewer, qtbot, name):
    """napari's title bar reads '<widget> (<plugin>)' and cuts what does not fit the dock."""
    viewer = make_napari_viewer(show=True)
    dock, _ = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    settle(qtbot, viewer.window._qt_window)
    title = dock.titleBarWidget().title
    assert name in title.text()
    assert title.sizeHint().width() <= title.width(), \
        (title.text(), title.sizeHint().width(), title.width(), dock.width())  # its padding too


@pytest.mark.gl
def test_a_question_with_a_long_layers_name_fits_and_its_run_button_stays_in_sight(
        make_napari_viewer, qtbot):  # fmt: skip
    """Fine-tune's question (labels made on another image) names layers in its buttons: a long
    name is shortened there (whole in the tooltip), never widening the dock; the run button,
    the status and the question sit below the scrolled rows, in sight."""
    viewer = make_napari_viewer(show=True)
    _, fine = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    name = "Go on with 'IM000123_left_eye_2026-12-07_visit3_probability'"
    fine._choice.ask("'a labels' were made on 'b', not on 'c'.", ("Use 'b'", lambda: None),
                     (name, lambda: None))  # fmt: skip
    settle(qtbot, viewer.window._qt_window)
    assert clipped(fine) == [], "; ".join(clipped(fine))
    assert fine._choice.first.text == "Use 'b'"
    assert fine._choice.second.text == "Go on with 'IM000123…bability'" and \
        fine._choice.second.tooltip == name  # its start and end: visit3 and visit4 differ
    foot = fine.native.findChild(QWidget, FOOTER)
    for row in (fine._run, fine._status, fine._choice.question, fine._choice.second):
        assert foot.isAncestorOf(row.native) and row.native.isVisible()


@pytest.mark.gl
def test_docks_sharing_a_column_show_their_titles_whole(make_napari_viewer, qtbot):
    """Docked one below the other, the docks share one width: every title still fits."""
    viewer = make_napari_viewer(show=True)
    docks = [viewer.window.add_plugin_dock_widget(PLUGIN, name)[0]
             for name in ("Segment", "Fine-tune", "Batch-segment a folder")]  # fmt: skip
    settle(qtbot, viewer.window._qt_window)
    for dock in docks:
        title = dock.titleBarWidget().title
        assert title.sizeHint().width() <= title.width(), (title.text(), title.width())


@pytest.mark.gl
def test_run_and_cancel_share_a_row_and_measures_table_spans_and_fills(make_napari_viewer,
                                                                       qtbot):  # fmt: skip
    """The run button and Cancel side by side across the dock; Measure's table from the
    dock's left edge (no empty label column) and as tall as the room left (not 8 rows)."""
    from qtpy.QtCore import QPoint

    viewer = make_napari_viewer(show=True)
    _, seg = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    settle(qtbot, viewer.window._qt_window)
    run, cancel = seg._run.native, seg._cancel.native
    foot = seg.native.findChild(QWidget, FOOTER)
    rows = [run.mapTo(foot, QPoint(0, 0)).y(), cancel.mapTo(foot, QPoint(0, 0)).y()]
    assert abs(rows[0] - rows[1]) < run.height() / 2, rows  # one row (a pixel's styling apart)
    assert run.width() + cancel.width() > 0.8 * foot.width()
    viewer.window.remove_dock_widget("all")
    _, measure = viewer.window.add_plugin_dock_widget(PLUGIN, "Measure vessels (retina)")
    settle(qtbot, viewer.window._qt_window)
    table, scroll = measure._table.native, measure.native.findChild(QScrollArea)
    assert table.mapTo(scroll.widget(), QPoint(0, 0)).x() < 20
    assert table.height() > 300  # its least height is 260


@pytest.mark.gl
def test_a_dock_shown_below_another_gets_an_even_share_of_the_height(make_napari_viewer, qtbot):
    """Qt gives a dock added below another what that one leaves (often its least height: a
    few rows); the docks of the side share it evenly instead."""
    viewer = make_napari_viewer(show=True)
    first, _ = viewer.window.add_plugin_dock_widget(PLUGIN, "Segment")
    settle(qtbot, viewer.window._qt_window)
    second, _ = viewer.window.add_plugin_dock_widget(PLUGIN, "Fine-tune")
    settle(qtbot, viewer.window._qt_window)
    heights = [first.height(), second.height()]
    assert min(heights) > 0.4 * sum(heights), heights
