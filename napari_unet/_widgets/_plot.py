"""Live charts for the Fine-tune and Train widgets, painted with QPainter (no plotting library)."""

from __future__ import annotations


class Sparkline:
    """A tiny line chart painted with QPainter: cheap enough to redraw on every training step."""

    def __init__(self, title: str, x_label: str = "") -> None:
        from qtpy.QtWidgets import QWidget

        chart = self

        class _Canvas(QWidget):
            def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
                chart.paint(self)

        self.title, self.x_label = title, x_label
        self.values: list[float] = []
        self.widget = _Canvas()
        self.widget.setMinimumHeight(90)

    def set(self, values: list[float]) -> None:
        self.values = list(values)
        self.widget.update()  # repainted by Qt when it next draws

    def paint(self, widget) -> None:
        from qtpy.QtCore import QPointF, Qt
        from qtpy.QtGui import QColor, QPainter, QPen, QPolygonF

        painter = QPainter(widget)
        w, h = widget.width(), widget.height()
        painter.setPen(QColor(200, 200, 200))
        label = self.title
        if self.values:
            label += f": {self.values[-1]:.3f}"
        painter.drawText(4, 12, label)
        vals = [v for v in self.values if v == v]  # drop NaN
        if len(vals) >= 2:
            lo, hi = min(vals), max(vals)
            span = (hi - lo) or 1.0
            n, left, top, bottom = len(vals), 34, 18, h - 14
            painter.setPen(QColor(120, 120, 120))  # axes: value range on y, count on x
            painter.drawLine(left, top, left, bottom)
            painter.drawLine(left, bottom, w - 4, bottom)
            painter.drawText(2, top + 8, f"{hi:.2f}")
            painter.drawText(2, bottom, f"{lo:.2f}")
            painter.drawText(left + 2, h - 2, "1")
            last = f"{self.x_label} {n}"  # right-aligned: never cut off by the edge
            painter.drawText(w - 4 - painter.fontMetrics().horizontalAdvance(last), h - 2, last)
            points = [QPointF(left + (w - 4 - left) * i / (n - 1),
                              top + (bottom - top) * (1 - (v - lo) / span))
                      for i, v in enumerate(vals)]  # fmt: skip
            painter.setPen(QPen(QColor(80, 200, 255), 1.5, Qt.SolidLine))
            painter.drawPolyline(QPolygonF(points))
        painter.end()


class LossPlot:
    """Loss against step, and a held-out score (Dice against round, by default)."""

    def __init__(self, score: str = "held-out Dice", per: str = "round") -> None:
        from qtpy.QtWidgets import QHBoxLayout, QWidget

        self.loss = Sparkline("loss", "step")
        self.dice = Sparkline(score, per)
        self.canvas = QWidget()
        layout = QHBoxLayout(self.canvas)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.loss.widget)
        layout.addWidget(self.dice.widget)
        self.steps: list[int] = []
        self.losses: list[float] = []

    def reset(self) -> None:
        self.steps, self.losses = [], []
        self.loss.set([])

    def add(self, step: int, loss: float) -> None:
        self.steps.append(step)
        self.losses.append(loss)
        self.loss.set(self.losses)

    def draw(self, dice: list[float | None] | None = None) -> None:
        self.loss.set(self.losses)
        if dice is not None:
            self.dice.set([d for d in dice if d is not None])
