"""The scroll area that makes a docked widget fit a small screen (1366 x 768) in height and in
width."""

from __future__ import annotations

#: the narrowest a docked widget is (its rows may ask for more): napari's default dock at
#: 1366 x 768 is ~300 px, and a drop-down list there shows a layer's name of ~20 characters
ROW_WIDTH = 280


#: the object name of the rows kept below the scroll area (``make_scrollable``'s ``footer``)
FOOTER = "napari_unet_footer"
#: the Qt property that makes a row span the dock, its label column too (:func:`full_width`)
FULL_WIDTH = "napari_unet_full_width"
#: ... and the one that gives a row the height the other rows leave (``full_width(fill=True)``)
FILLS = "napari_unet_fills"
#: the width a dock's frame takes beside its title bar's rows (:func:`follow_dock`)
FRAME = 10
#: the least height of the scroll area above a footer (a few rows: the footer is what counts)
SCROLL_WITH_FOOTER = 40


def make_scrollable(container, min_height: int = 150, footer: tuple = ()) -> None:
    """Move ``container``'s rows into a vertical scroll area, and let every row shrink to the
    dock's width (long texts wrap, drop-down lists and file rows narrow), so that a docked
    widget fits a small screen in height and in width. The rows of ``footer`` (its widgets:
    the run button, its progress and status) stay below the scroll area, always in sight;
    docked, it follows its dock (:func:`follow_dock`).

    Call once, after every row was added; rows shown or hidden later keep working."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

    outer = container.native.layout()
    inner, foot = QWidget(), QWidget()
    foot.setObjectName(FOOTER)
    rows, foot_rows = QVBoxLayout(inner), QVBoxLayout(foot)
    for layout in (rows, foot_rows):
        layout.setContentsMargins(outer.contentsMargins())
        layout.setSpacing(outer.spacing())
    pinned = [widget.native for widget in footer]
    stretch = True
    while outer.count():
        row = outer.itemAt(0).widget()
        if row is not None:  # removeWidget deletes the old layout item: the row then answers
            outer.removeWidget(row)  # to its new one (a taken item left alive would keep the
            # row's height-for-width stale when its text grows)
            below = any(row is p or row.isAncestorOf(p) for p in pinned)
            stretch = not _place(row, foot_rows if below else rows) and stretch
            continue
        item = outer.takeAt(0)
        if item.layout() is None:
            rows.addItem(item)
    if stretch:  # rows at the top, the room left below them (unless a row takes it)
        rows.addStretch(1)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(inner)
    scroll.setMinimumHeight(min_height if not pinned else min(min_height, SCROLL_WITH_FOOTER))
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(scroll)
    fit_width(inner)
    if foot_rows.count():
        foot_rows.setContentsMargins(foot_rows.contentsMargins().left(), 2,
                                     foot_rows.contentsMargins().right(), 4)  # fmt: skip
        outer.addWidget(foot)
        fit_width(foot)
        keep_wrapped_height(foot)
    # the dock is never narrower than its rows: nothing is cut off on the right
    bar = scroll.verticalScrollBar().sizeHint().width()
    scroll.setMinimumWidth(max(ROW_WIDTH, inner.minimumSizeHint().width() + bar,
                               foot.minimumSizeHint().width() if foot_rows.count() else 0))
    follow_dock(container.native)


def _place(row, rows) -> bool:
    """Add ``row`` to the layout ``rows``, as :func:`full_width` asked; whether it fills."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QLabel, QWidget

    direct = Qt.FindChildOption.FindDirectChildrenOnly
    fills = any(w.property(FILLS) for w in row.findChildren(QWidget, options=direct))
    rows.addWidget(row, 1 if fills else 0)
    if any(w.property(FULL_WIDTH) for w in row.findChildren(QWidget, options=direct)):
        for label in row.findChildren(QLabel, options=direct):  # no label column: the row
            label.hide()  # spans the dock, as a button alone does
    return fills


def fit_width(widget) -> None:
    """Let the rows of ``widget`` shrink: labels wrap, drop-down lists show ~4 characters
    when narrow, file rows' buttons say "…", line edits and spin boxes have no minimum."""
    from qtpy.QtWidgets import (
        QAbstractSpinBox,
        QComboBox,
        QLabel,
        QLineEdit,
        QPushButton,
        QSizePolicy,
    )

    fields = widget.findChildren(QComboBox) + widget.findChildren(QLineEdit) + \
        widget.findChildren(QAbstractSpinBox)  # fmt: skip
    for field in fields:  # a row's field takes the width its label leaves (not half the row):
        policy = field.sizePolicy()  # a layer's name shows whole
        policy.setHorizontalPolicy(QSizePolicy.Policy.Expanding)
        field.setSizePolicy(policy)
    for combo in widget.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(4)
    for label in widget.findChildren(QLabel):  # magicgui fixes a label at its one-line width
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)  # a wrapped text grows its row, never cut off below
        label.setSizePolicy(policy)
        label.setWordWrap(True)
    for edit in widget.findChildren(QLineEdit) + widget.findChildren(QAbstractSpinBox):
        edit.setMinimumWidth(40)
    for button in widget.findChildren(QPushButton):
        if button.text() in ("Choose directory", "Select file", "Select files", "Choose file"):
            button.setToolTip(button.text())
            button.setText("…")
            button.setMaximumWidth(32)


def button_row(*buttons):
    """Buttons side by side in one row (e.g. a run button and its Cancel), no label."""
    from magicgui.widgets import Container
    from qtpy.QtWidgets import QSizePolicy

    row = Container(widgets=list(buttons), layout="horizontal", labels=False)
    row.margins = (0, 0, 0, 0)
    full_width(row)
    for button in buttons:  # the row's width shared, as a button alone on its row takes it all
        button.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return row


def keep_wrapped_height(widget) -> None:
    """Keep ``widget`` (outside a scroll area) at least as tall as its wrapped texts need at
    its width, as its texts and width change: a squeezed dock shrinks its scroll area, not a
    status line."""
    from qtpy.QtCore import QEvent, QObject, Qt
    from qtpy.QtWidgets import QWidget

    class Follow(QObject):
        def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
            if event.type() in (QEvent.Type.Resize, QEvent.Type.LayoutRequest):
                need = widget.layout().heightForWidth(widget.width())
                if need > 0 and need != widget.minimumHeight():
                    widget.setMinimumHeight(need)
            return False

    follow = Follow(widget)
    widget.installEventFilter(follow)  # its width; a row's text (its label tells the row)
    for row in widget.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly):
        row.installEventFilter(follow)


def full_width(widget, fill: bool = False) -> None:
    """Let ``widget`` (a magicgui widget of a container with labels) take its row's label
    column too, once :func:`make_scrollable` lays the rows out: a table, a row of buttons;
    with ``fill``, the height the other rows leave too (a table)."""
    widget.native.setProperty(FULL_WIDTH, True)
    widget.native.setProperty(FILLS, fill)


def follow_dock(widget) -> None:
    """Once ``widget`` is shown in a dock: keep it as wide as the dock's title bar needs
    (napari's reads "<widget> (<plugin>)" and cuts what does not fit, also when docks share a
    side), and, the first time, let the docks of that side share the height evenly (Qt gives
    a new dock what the others leave, often a few rows)."""
    from qtpy.QtCore import QEvent, QObject, QTimer

    class Docked(QObject):
        shared = False

        def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
            dock = _dock_of(obj) if event.type() == QEvent.Type.Show else None
            if dock is not None:
                bar = dock.titleBarWidget()  # napari's: a QLabel with a layout of rows inside
                rows = bar.layout() if bar is not None else None
                need = rows.sizeHint().width() + FRAME if rows is not None else 0
                if need > obj.minimumWidth():
                    obj.setMinimumWidth(need)
                if not self.shared:
                    self.shared = True
                    QTimer.singleShot(0, lambda: _share_side(dock))
            return False

    widget.installEventFilter(Docked(widget))


def _dock_of(widget):
    from qtpy.QtWidgets import QDockWidget

    dock = widget.parentWidget()
    while dock is not None and not isinstance(dock, QDockWidget):
        dock = dock.parentWidget()
    return dock


def _share_side(dock) -> None:
    """The docks on ``dock``'s side of the window (not floating, not tabbed) share its height."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QDockWidget, QMainWindow

    try:
        window = dock.parentWidget()
    except RuntimeError:  # closed before the window laid it out
        return
    if not isinstance(window, QMainWindow) or dock.isFloating():
        return
    side = window.dockWidgetArea(dock)
    docks = [d for d in window.findChildren(QDockWidget)
             if d.isVisible() and not d.isFloating() and window.dockWidgetArea(d) == side
             and not window.tabifiedDockWidgets(d)]  # fmt: skip
    if len(docks) > 1:
        total = sum(d.height() for d in docks)
        window.resizeDocks(docks, [total // len(docks)] * len(docks), Qt.Orientation.Vertical)
