"""A tiny line plot of one point's curvature across neighbourhood scales, drawn with QPainter."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


class ScalePlot(QWidget):
    """Curvature (y) at each scale (x, evenly spaced, labelled with the scale).

    The y axis runs from 0 to the larger of ``y_max`` and the largest value, so plots of
    different points compare at a glance; a short red dash marks each scale's threshold.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._labels: list[str] = []
        self._values: list[float] = []
        self._thresholds: list[float] = []
        self._y_max = 0.1
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(120)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        """Qt: the size the widget prefers."""
        return QSize(240, 130)

    def set_data(self, labels: list[str], values: list[float], thresholds: list[float], y_max: float) -> None:
        """Show ``values`` and ``thresholds`` (one of each per label); empty lists clear the plot."""
        self._labels = list(labels)
        self._values = [float(v) for v in values]
        self._thresholds = [float(t) for t in thresholds]
        self._y_max = y_max
        self.update()

    def values(self) -> list[float]:
        """The values on show."""
        return list(self._values)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt naming
        """Qt: draw the widget."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        painter.fillRect(self.rect(), pal.base())
        area = QRectF(self.rect()).adjusted(40, 10, -12, -24)
        painter.setPen(QPen(pal.mid().color(), 1))
        painter.drawRect(area)
        if not self._values:
            painter.setPen(pal.placeholderText().color())
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "Click a point")
            painter.end()
            return
        finite = [v for v in self._values if math.isfinite(v)]
        top = max([self._y_max, *finite]) or 1.0
        self._draw_axes(painter, area, top)
        self._draw_threshold(painter, area, top)
        self._draw_line(painter, area, top)
        painter.end()

    def _x(self, area: QRectF, i: int) -> float:
        n = len(self._values)
        return area.center().x() if n == 1 else area.left() + 12 + i * (area.width() - 24) / (n - 1)

    @staticmethod
    def _y(area: QRectF, value: float, top: float) -> float:
        return area.bottom() - max(0.0, min(value, top)) / top * area.height()

    def _draw_axes(self, painter: QPainter, area: QRectF, top: float) -> None:
        text = self.palette().text().color()
        painter.setPen(text)
        for value in (0.0, top):
            y = self._y(area, value, top)
            painter.drawText(
                QRectF(0, y - 8, 36, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{value:.2g}"
            )
        for i, label in enumerate(self._labels):
            x = self._x(area, i)
            painter.drawText(QRectF(x - 24, area.bottom() + 4, 48, 16), Qt.AlignmentFlag.AlignCenter, label)

    def _draw_threshold(self, painter: QPainter, area: QRectF, top: float) -> None:
        painter.setPen(QPen(QColor("#e4572e"), 2))
        for i, threshold in enumerate(self._thresholds):
            x, y = self._x(area, i), self._y(area, threshold, top)
            painter.drawLine(QPointF(x - 9, y), QPointF(x + 9, y))

    def _draw_line(self, painter: QPainter, area: QRectF, top: float) -> None:
        pts = [QPointF(self._x(area, i), self._y(area, v, top)) for i, v in enumerate(self._values) if math.isfinite(v)]
        painter.setPen(QPen(QColor("#2a9df4"), 2))
        for a, b in zip(pts, pts[1:]):
            painter.drawLine(a, b)
        painter.setBrush(QColor("#2a9df4"))
        for p in pts:
            painter.drawEllipse(p, 3.5, 3.5)
