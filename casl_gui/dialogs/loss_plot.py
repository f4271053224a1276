"""A live plot of a training run's loss, drawn with QPainter."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

#: Colour of the per-step loss line.
STEP_COLOUR = "#2a9df4"
#: Colour of the finished epochs' mean loss markers.
EPOCH_COLOUR = "#e4572e"


class LossPlot(QWidget):
    """Loss (y, from 0) against training progress in epochs (x, 0 to the run's epochs).

    A blue line follows each step's running epoch loss; a red dot marks each finished
    epoch's mean loss.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._steps: list[tuple[float, float]] = []
        self._epochs: list[tuple[float, float]] = []
        self._total = 1
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(160)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        """Qt: the size the widget prefers."""
        return QSize(420, 220)

    def clear(self, epochs: int = 1) -> None:
        """Forget the curve; the x axis will span ``epochs``."""
        self._steps, self._epochs, self._total = [], [], max(1, int(epochs))
        self.update()

    def add_step(self, x: float, loss: float) -> None:
        """Add the running loss at ``x`` epochs (finite values only)."""
        if math.isfinite(loss):
            self._steps.append((float(x), float(loss)))
            self.update()

    def add_epoch(self, epoch: int, loss: float) -> None:
        """Mark the mean loss of a finished epoch (1-based)."""
        if math.isfinite(loss):
            self._epochs = [e for e in self._epochs if e[0] != epoch] + [(float(epoch), float(loss))]
            self.update()

    def set_epochs(self, epochs: int) -> None:
        """Span the x axis over ``epochs`` without forgetting the curve."""
        self._total = max(1, int(epochs))
        self.update()

    def step_count(self) -> int:
        """Steps on the plot."""
        return len(self._steps)

    def epoch_losses(self) -> list[float]:
        """The marked epoch losses, in epoch order."""
        return [loss for _, loss in sorted(self._epochs)]

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt naming
        """Qt: draw the widget."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        painter.fillRect(self.rect(), pal.base())
        area = QRectF(self.rect()).adjusted(52, 12, -14, -30)
        painter.setPen(QPen(pal.mid().color(), 1))
        painter.drawRect(area)
        if not self._steps and not self._epochs:
            painter.setPen(pal.placeholderText().color())
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter, "The loss appears here while training")
            painter.end()
            return
        top = max(loss for _, loss in self._steps + self._epochs) * 1.1 or 1.0
        self._draw_axes(painter, area, top)
        self._draw_curve(painter, area, top)
        painter.end()

    def _point(self, area: QRectF, x: float, y: float, top: float) -> QPointF:
        return QPointF(
            area.left() + min(x, self._total) / self._total * area.width(),
            area.bottom() - max(0.0, min(y, top)) / top * area.height(),
        )

    def _draw_axes(self, painter: QPainter, area: QRectF, top: float) -> None:
        painter.setPen(self.palette().text().color())
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for value in (0.0, top / 2, top):
            y = self._point(area, 0, value, top).y()
            painter.drawText(QRectF(0, y - 8, 46, 16), right, f"{value:.3g}")
        ticks = sorted({0, self._total, *range(0, self._total + 1, max(1, self._total // 5))})
        for epoch in ticks:
            x = self._point(area, epoch, 0, top).x()
            painter.drawText(QRectF(x - 20, area.bottom() + 2, 40, 14), Qt.AlignmentFlag.AlignCenter, str(epoch))
        painter.drawText(
            QRectF(area.left(), area.bottom() + 14, area.width(), 16), Qt.AlignmentFlag.AlignCenter, "epoch"
        )

    def _draw_curve(self, painter: QPainter, area: QRectF, top: float) -> None:
        pts = [self._point(area, x, y, top) for x, y in self._steps]
        painter.setPen(QPen(QColor(STEP_COLOUR), 2))
        for a, b in zip(pts, pts[1:]):
            painter.drawLine(a, b)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(EPOCH_COLOUR))
        for x, y in self._epochs:
            painter.drawEllipse(self._point(area, x, y, top), 4.5, 4.5)
