"""A histogram of a score field with a threshold line the person drags, drawn with QPainter."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from matplotlib import colormaps
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

_LINE = QColor("#ff4d4d")
_GREY = QColor(104, 108, 116)
_MARGIN = (8.0, 8.0, 8.0, 20.0)  # left, top, right, bottom
_GRAB_PX = 6.0


class Histogram(NamedTuple):
    """Counts of a field's values in equal bins.

    Attributes
    ----------
    counts:
        ``(B,)`` number of values per bin.
    edges:
        ``(B + 1,)`` bin edges, increasing.
    """

    counts: np.ndarray
    edges: np.ndarray


def histogram_of(values: np.ndarray, threshold: float, bins: int = 64) -> Histogram:
    """Bin the finite values over their 0.5th to 99.5th percentile range, widened to hold
    ``threshold`` and the largest value (the most anomalous point is never off the axis).

    Values below the range are counted in the first bin, so every point shows.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return Histogram(np.zeros(bins, dtype=np.int64), np.linspace(threshold - 1, threshold + 1, bins + 1))
    lo, hi = np.percentile(v, [0.5, 99.5]) if len(v) > 200 else (v.min(), v.max())
    lo, hi = min(lo, threshold), max(hi, threshold, v.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.02 * (hi - lo)
    edges = np.linspace(lo - pad, hi + pad, bins + 1)
    counts, _ = np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)
    return Histogram(counts.astype(np.int64), edges)


class HistogramPlot(QWidget):
    """Bars (log-scaled counts) coloured like the points, and a vertical threshold line.

    Dragging the line (or clicking anywhere on the plot) moves it and emits
    ``threshold_dragged(float)`` at once; the owner decides when to apply it.
    """

    threshold_dragged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._hist: Histogram | None = None
        self._threshold = 0.0
        self._clim = (0.0, 1.0)
        self._cmap = "viridis"
        self._grey_below = False
        self._dragging = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(100)
        self.setMouseTracking(True)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        """Qt: the size the widget prefers."""
        return QSize(260, 120)

    def set_data(
        self, hist: Histogram | None, threshold: float, clim: tuple[float, float], cmap: str, grey_below: bool
    ) -> None:
        """Show a histogram (None clears the plot) with its threshold and colouring."""
        self._hist = hist
        self._clim = clim
        self._cmap = cmap
        self._grey_below = grey_below
        self._threshold = float(threshold)
        self.update()

    def set_threshold(self, value: float) -> None:
        """Move the line without emitting."""
        self._threshold = float(value)
        self.update()

    @property
    def threshold(self) -> float:
        """Where the line is."""
        return self._threshold

    def has_data(self) -> bool:
        """Whether a histogram is shown."""
        return self._hist is not None

    def axis_range(self) -> tuple[float, float] | None:
        """The values at the left and right ends of the axis (as labelled), None when empty."""
        return None if self._hist is None else (float(self._hist.edges[0]), float(self._hist.edges[-1]))

    # -- geometry ----------------------------------------------------------------------

    def _area(self) -> QRectF:
        left, top, right, bottom = _MARGIN
        return QRectF(self.rect()).adjusted(left, top, -right, -bottom)

    def x_of(self, value: float) -> float:
        """Widget x of a value (clamped to the plot)."""
        area = self._area()
        lo, hi = self._hist.edges[0], self._hist.edges[-1]
        t = min(1.0, max(0.0, (value - lo) / (hi - lo)))
        return area.left() + t * area.width()

    def value_at(self, x: float) -> float:
        """The value under widget x (clamped to the plotted range)."""
        area = self._area()
        lo, hi = self._hist.edges[0], self._hist.edges[-1]
        t = min(1.0, max(0.0, (x - area.left()) / area.width()))
        return float(lo + t * (hi - lo))

    # -- mouse -------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        """Qt: a mouse button went down on the widget."""
        if self._hist is None or event.button() != Qt.MouseButton.LeftButton:
            return
        self._dragging = True
        self._drag_to(event.position().x())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        """Qt: the mouse moved over the widget."""
        if self._hist is None:
            return
        near = abs(event.position().x() - self.x_of(self._threshold)) <= _GRAB_PX
        self.setCursor(Qt.CursorShape.SizeHorCursor if near or self._dragging else Qt.CursorShape.ArrowCursor)
        if self._dragging:
            self._drag_to(event.position().x())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        """Qt: a mouse button went up."""
        if self._dragging and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = False
            self._drag_to(event.position().x())

    def _drag_to(self, x: float) -> None:
        value = self.value_at(x)
        if value != self._threshold:
            self._threshold = value
            self.update()
            self.threshold_dragged.emit(value)

    # -- painting ----------------------------------------------------------------------

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt naming
        """Qt: draw the widget."""
        painter = QPainter(self)
        pal = self.palette()
        painter.fillRect(self.rect(), pal.base())
        area = self._area()
        painter.setPen(QPen(pal.mid().color(), 1))
        painter.drawRect(area)
        if self._hist is None:
            painter.setPen(pal.placeholderText().color())
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "No score field on show")
            painter.end()
            return
        self._draw_bars(painter, area)
        self._draw_axis(painter, area)
        self._draw_line(painter, area)
        painter.end()

    def _bar_colour(self, centre: float, lut: np.ndarray) -> QColor:
        lo, hi = self._clim
        if self._grey_below and centre < self._threshold:
            return _GREY
        t = 0.0 if hi <= lo else min(1.0, max(0.0, (centre - lo) / (hi - lo)))
        r, g, b = lut[min(255, int(t * 256))]
        return QColor(int(r), int(g), int(b))

    def _draw_bars(self, painter: QPainter, area: QRectF) -> None:
        counts, edges = self._hist
        heights = np.log1p(counts.astype(np.float64))
        top = heights.max() or 1.0
        lut = (colormaps[self._cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round()
        painter.setPen(Qt.PenStyle.NoPen)
        for i, h in enumerate(heights):
            if h <= 0:
                continue
            x0, x1 = self.x_of(edges[i]), self.x_of(edges[i + 1])
            bar_h = h / top * (area.height() - 2)
            painter.setBrush(self._bar_colour(0.5 * (edges[i] + edges[i + 1]), lut))
            painter.drawRect(QRectF(x0, area.bottom() - bar_h, max(1.0, x1 - x0 - 0.5), bar_h))

    def _draw_axis(self, painter: QPainter, area: QRectF) -> None:
        painter.setPen(self.palette().text().color())
        lo, hi = self._hist.edges[0], self._hist.edges[-1]
        for value, align in ((lo, Qt.AlignmentFlag.AlignLeft), (hi, Qt.AlignmentFlag.AlignRight)):
            box = QRectF(area.left(), area.bottom() + 2, area.width(), 16)
            painter.drawText(box, align | Qt.AlignmentFlag.AlignVCenter, f"{value:.3g}")

    def _draw_line(self, painter: QPainter, area: QRectF) -> None:
        x = self.x_of(self._threshold)
        painter.setPen(QPen(_LINE, 2))
        painter.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
        label = f"{self._threshold:.4g}" if math.isfinite(self._threshold) else "–"
        width = painter.fontMetrics().horizontalAdvance(label) + 8
        left = x + 4 if x + 4 + width <= area.right() else x - 4 - width
        painter.drawText(QRectF(left, area.top() + 2, width, 16), Qt.AlignmentFlag.AlignLeft, label)
