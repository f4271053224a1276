"""Picking points and selecting rectangles in the 3D view (a part of :class:`~casl_gui.viewport.Viewport`).

The mouse's press and release on the interactor pick the point under a click that does not
drag; in rectangle mode a rubber band selects the visible points under it. Everything here
works on the projection of the shown scan's points, not on VTK's pickers (see
:mod:`casl_gui.picking`).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QWidget

from casl_core.scan import Scan
from casl_gui.picking import pick_point, project, select_rectangle
from casl_gui.rubber_band import RubberBand
from casl_gui.viewport_camera import view_at, view_geometry

_CLICK_SLOP_PX = 3


class ViewportPicking:
    """Picking and rectangle selection of the viewport; mixed into :class:`~casl_gui.viewport.Viewport`,
    which owns the plotter, the shown scan, the point size and the signals these methods emit.
    """

    _scan: Scan | None
    _band: RubberBand | None
    _press: tuple[int, int] | None
    _point_size: float

    # -- rectangle selection -----------------------------------------------------------

    @property
    def rectangle_mode(self) -> bool:
        """Whether a left drag selects a rectangle (instead of turning the camera)."""
        return self._band is not None

    def set_rectangle_mode(self, on: bool) -> None:
        """Switch rectangle selection on or off."""
        plotter = self._require()
        if on and self._band is None:
            self._band = RubberBand(plotter, self._rectangle_done)
        elif not on and self._band is not None:
            self._band.detach()
            self._band.deleteLater()
            self._band = None

    def _rectangle_done(self, rect: QRect) -> None:
        plotter = self._require()
        ratio = plotter.devicePixelRatioF()
        height = plotter.render_window.GetSize()[1]
        x0, x1 = rect.left() * ratio, (rect.right() + 1) * ratio
        y0, y1 = height - 1 - (rect.bottom() + 1) * ratio, height - 1 - rect.top() * ratio
        self.rectangle_selected.emit(self.select_rectangle(x0, y0, x1, y1))

    def select_rectangle(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """Indices of the visible points of the shown scan inside a display rectangle.

        The rectangle (VTK display pixels) belongs to the view its centre falls in.
        """
        col = view_at(self._require(), (x0 + x1) / 2.0, (y0 + y1) / 2.0)
        if col is None or self._scan is None:
            return np.zeros(0, dtype=np.int64)
        return select_rectangle(
            self._scan.points, view_geometry(self._require(), col), (x0, y0, x1, y1), self._point_size
        )

    def widget_rect(self, indices: np.ndarray, view: int = 0) -> QRect:
        """The bounding rectangle, in :meth:`interaction_widget` coordinates, of where points are drawn."""
        pts = [self.widget_position(int(i), view) for i in np.asarray(indices).ravel()]
        xs, ys = [p.x() for p in pts], [p.y() for p in pts]
        return QRect(QPoint(min(xs), min(ys)), QPoint(max(xs), max(ys)))

    # -- picking -----------------------------------------------------------------------

    def _event_position(self) -> tuple[int, int]:
        x, y = self._require().iren.get_event_position()
        return int(x), int(y)

    def _on_press(self, _caller, _event) -> None:
        self._press = self._event_position()

    def _on_release(self, _caller, _event) -> None:
        x, y = self._event_position()
        press, self._press = self._press, None
        if press is None or abs(x - press[0]) > _CLICK_SLOP_PX or abs(y - press[1]) > _CLICK_SLOP_PX:
            return
        index = self.pick_at(x, y)
        if index is not None:
            self.point_picked.emit(index)

    def pick_at(self, x: float, y: float) -> int | None:
        """The shown point drawn under display pixel ``(x, y)`` (VTK display coordinates)."""
        col = view_at(self._require(), x, y)
        if col is None or self._scan is None:
            return None
        radius = max(4.0, self._point_size)
        return pick_point(self._scan.points, view_geometry(self._require(), col), (x, y), radius)

    def widget_position(self, index: int, view: int = 0) -> QPoint:
        """Where point ``index`` of the shown scan is drawn, in :meth:`interaction_widget` coordinates.

        Raises
        ------
        ConfigError
            If no scan is shown or the index is out of range.
        """
        plotter = self._require_point(index)
        xy, _ = project(self._scan.points[[index]], view_geometry(self._require(), view))
        ratio = plotter.devicePixelRatioF()
        height = plotter.render_window.GetSize()[1]
        return QPoint(round(xy[0, 0] / ratio), round((height - 1 - xy[0, 1]) / ratio))

    def interaction_widget(self) -> QWidget:
        """The widget that receives mouse events (for scripted clicks)."""
        return self._require()
