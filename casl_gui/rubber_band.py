"""Rectangle selection on the 3D view: a rubber band dragged with the left button.

Installed as an event filter on the interactor widget, it takes the left-button events
for itself (so the camera does not turn) and reports the dragged rectangle in widget
coordinates. Pure Qt; the viewport turns the rectangle into points.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QRubberBand, QWidget

#: Drags smaller than this (in pixels, both ways) select nothing.
MIN_DRAG_PX = 3


class RubberBand(QObject):
    """Lets a person drag a selection rectangle over ``widget``.

    Parameters
    ----------
    widget:
        The widget to drag on (it receives the filter).
    done:
        Called with the normalised rectangle (widget coordinates) when the button is released.
    """

    def __init__(self, widget: QWidget, done: Callable[[QRect], None]) -> None:
        super().__init__(widget)
        self._widget = widget
        self._done = done
        self._origin: QPoint | None = None
        self._band = QRubberBand(QRubberBand.Shape.Rectangle, widget)
        widget.installEventFilter(self)
        widget.setCursor(Qt.CursorShape.CrossCursor)

    def detach(self) -> None:
        """Stop filtering and restore the cursor."""
        self._band.hide()
        self._widget.removeEventFilter(self)
        self._widget.unsetCursor()

    @property
    def dragging(self) -> bool:
        """Whether a rectangle is being dragged."""
        return self._origin is not None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        """Qt: see the events of the watched widget; ``True`` consumes one."""
        kind = event.type()
        if kind not in (
            QEvent.Type.MouseButtonPress,
            QEvent.Type.MouseMove,
            QEvent.Type.MouseButtonRelease,
            QEvent.Type.MouseButtonDblClick,
        ):
            return False
        mouse: QMouseEvent = event  # type: ignore[assignment]  # the type check above makes it a mouse event
        pos = mouse.position().toPoint()
        if kind == QEvent.Type.MouseButtonPress and mouse.button() == Qt.MouseButton.LeftButton:
            self._origin = pos
            self._band.setGeometry(QRect(pos, QSize()))
            self._band.show()
            return True
        if kind == QEvent.Type.MouseMove and self._origin is not None:
            self._band.setGeometry(QRect(self._origin, pos).normalized())
            return True
        if kind == QEvent.Type.MouseButtonRelease and self._origin is not None:
            rect = QRect(self._origin, pos).normalized()
            self._origin = None
            self._band.hide()
            if rect.width() >= MIN_DRAG_PX and rect.height() >= MIN_DRAG_PX:
                self._done(rect)
            return True
        return kind != QEvent.Type.MouseMove and mouse.button() == Qt.MouseButton.LeftButton
