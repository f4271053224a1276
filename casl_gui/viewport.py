"""The 3D view: the only module that touches VTK, pyvista and pyvistaqt.

:class:`Viewport` owns one pyvistaqt ``QtInteractor`` (``auto_update=False``; every
change ends with an explicit render), with one view or, in compare mode, two views side
by side (``shape=(1, 2)``) whose cameras are linked. A left click that does not drag
picks the visible point under the cursor in either view; the pick is marked in both.
Call :meth:`Viewport.shutdown` before the widget goes away: it finalises the render window.
"""

from __future__ import annotations

import math

import numpy as np
import pyvista as pv
from pyvistaqt import QtInteractor
from PySide6.QtCore import QPoint, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from casl_core.errors import ConfigError
from casl_core.scan import Scan
from casl_gui.colouring import RGB, ColourSpec
from casl_gui.picking import ViewGeometry, pick_point, project

_BACKGROUND = ("#1d1f24", "#3a3e48")  # bottom, top of the gradient
_PICK_COLOUR = "#00e5ff"
_CLICK_SLOP_PX = 3


def _matrix(vtk_matrix) -> np.ndarray:
    return np.array([[vtk_matrix.GetElement(i, j) for j in range(4)] for i in range(4)])


class Viewport(QWidget):
    """Shows the active scan coloured by one field (two in compare mode) and picks points.

    Signals
    -------
    point_picked(int):
        A left click landed on the point with this index of the shown scan.
    """

    point_picked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._plotter: QtInteractor | None = None
        self._scan: Scan | None = None
        self._cloud: pv.PolyData | None = None
        self._pick: int | None = None
        self._press: tuple[int, int] | None = None
        self._point_size = 3.0
        self._build(compare=False)

    # -- construction and teardown -----------------------------------------------------

    def _build(self, compare: bool) -> None:
        old = self._plotter
        if old is not None:
            self._layout.removeWidget(old)
            old.close()
            old.setParent(None)
            old.deleteLater()
        shape = (1, 2) if compare else (1, 1)
        plotter = QtInteractor(self, shape=shape, auto_update=False, border=compare)
        for col in range(shape[1]):
            plotter.subplot(0, col)
            plotter.set_background(_BACKGROUND[0], top=_BACKGROUND[1])
        if compare:
            plotter.link_views()
        plotter.iren.add_observer("LeftButtonPressEvent", self._on_press)
        plotter.iren.add_observer("LeftButtonReleaseEvent", self._on_release)
        self._layout.addWidget(plotter)
        if self.isVisible():  # size the new render window now, so a camera reset fits it
            plotter.show()
            self._layout.activate()
        self._plotter = plotter

    @property
    def compare(self) -> bool:
        """Whether two views are shown side by side."""
        return self._plotter is not None and len(self._plotter.renderers) == 2

    def set_compare(self, on: bool) -> None:
        """Switch between one view and two linked views (call :meth:`show_scan` next)."""
        if on == self.compare or self._plotter is None:
            return
        self._build(compare=on)
        self._scan = None  # the new views draw it afresh, camera reset to fit

    def shutdown(self) -> None:
        """Finalise the render window and release VTK objects; the view is unusable after."""
        if self._plotter is not None:
            self._plotter.close()
            self._plotter = None
        self._scan = None
        self._cloud = None

    @property
    def is_shut_down(self) -> bool:
        """Whether :meth:`shutdown` ran (the render window is finalised)."""
        return self._plotter is None

    # -- drawing -----------------------------------------------------------------------

    def show_scan(self, scan: Scan | None, specs: list[ColourSpec], point_size: float,
                  pick: int | None = None) -> None:
        """Draw ``scan`` coloured by ``specs`` (one per view), mark ``pick``, and render once.

        The camera is reset when another scan is shown, kept when only colours change.

        Raises
        ------
        ConfigError
            If the number of specs does not match the number of views.
        """
        plotter = self._require()
        if scan is not None and len(specs) != len(plotter.renderers):
            raise ConfigError(f"{len(plotter.renderers)} view(s) need as many colourings, got {len(specs)}")
        new_scan = scan is not self._scan
        if new_scan:
            self._scan = scan
            self._cloud = None if scan is None else pv.PolyData(scan.points)
        self._pick = pick if scan is not None else None
        self._point_size = float(point_size)
        plotter.clear()
        if scan is not None:
            for col, spec in enumerate(specs):
                plotter.subplot(0, col)
                self._add_cloud(spec)
            self._draw_pick()
            if new_scan:
                self._fit_camera()
        plotter.render()

    def _fit_camera(self) -> None:
        self._plotter.reset_camera()

    def _add_cloud(self, spec: ColourSpec) -> None:
        plotter = self._plotter
        cloud = self._cloud.copy(deep=False)
        name = "rgb" if spec.key == RGB else "values"
        cloud.point_data[name] = spec.values
        options = dict(
            style="points", point_size=self._point_size, render_points_as_spheres=False,
            name="cloud", reset_camera=False, lighting=False,
        )
        if spec.key == RGB:
            plotter.add_mesh(cloud, scalars=name, rgb=True, show_scalar_bar=False, render=False, **options)
            return
        # VTK draws a horizontal bar's title over its tick labels; an empty second line lifts it clear.
        bar = dict(title=spec.title + "\n", color="white", vertical=False, width=0.5, height=0.08,
                   position_x=0.25, position_y=0.07, title_font_size=15, label_font_size=13,
                   fmt="%.3g", n_labels=3)
        categorical = isinstance(spec.cmap, list)
        if categorical:
            bar["n_labels"] = 0
            options["annotations"] = dict(enumerate(spec.categories))
        plotter.add_mesh(cloud, scalars=name, cmap=spec.cmap, clim=spec.clim,
                         n_colors=len(spec.cmap) if categorical else 256, scalar_bar_args=bar,
                         render=False, **options)

    def _draw_pick(self) -> None:
        plotter = self._plotter
        if self._scan is None or self._pick is None:
            return
        marker = pv.PolyData(self._scan.points[[self._pick]])
        for col in range(len(plotter.renderers)):
            plotter.subplot(0, col)
            plotter.add_mesh(marker, color=_PICK_COLOUR, point_size=max(14.0, 3 * self._point_size),
                             render_points_as_spheres=True, pickable=False, name="pick",
                             reset_camera=False, render=False)

    def mark_pick(self, index: int | None) -> None:
        """Mark the picked point in every view (None removes the mark) and render."""
        plotter = self._require()
        self._pick = index
        for col in range(len(plotter.renderers)):
            plotter.subplot(0, col)
            plotter.remove_actor("pick", render=False)
        self._draw_pick()
        plotter.render()

    def fly_to(self, index: int) -> None:
        """Turn the camera to face point ``index`` from outside the part, at the same distance.

        The viewing direction is the point's normal turned away from the scan's centre (or
        the line from the centre when the scan has no normals).

        Raises
        ------
        ConfigError
            If no scan is shown or the index is out of range.
        """
        plotter = self._require()
        if self._scan is None or not 0 <= index < len(self._scan):
            raise ConfigError(f"point {index} is not in the shown scan")
        point = self._scan.points[index].astype(np.float64)
        outward = point - self._scan.points.mean(axis=0)
        direction = outward if self._scan.normals is None else self._scan.normals[index].astype(np.float64)
        if np.dot(direction, outward) < 0:
            direction = -direction
        norm = np.linalg.norm(direction)
        if norm == 0:
            return
        camera = plotter.renderers[0].GetActiveCamera()
        distance = camera.GetDistance()
        camera.SetFocalPoint(*point)
        camera.SetPosition(*(point + direction / norm * distance))
        camera.OrthogonalizeViewUp()
        for ren in plotter.renderers:
            ren.ResetCameraClippingRange()
        plotter.render()

    def screenshot(self) -> np.ndarray:
        """Render and return the view as an ``(H, W, 3)`` uint8 image."""
        plotter = self._require()
        plotter.render()
        return np.asarray(plotter.screenshot(return_img=True))[..., :3]

    def _require(self) -> QtInteractor:
        if self._plotter is None:
            raise ConfigError("the 3D view was shut down")
        return self._plotter

    # -- picking -----------------------------------------------------------------------

    def _geometry(self, col: int) -> ViewGeometry:
        plotter = self._require()
        ren = plotter.renderers[col]
        cam = ren.GetActiveCamera()
        width, height = plotter.render_window.GetSize()
        x0, y0, x1, y1 = ren.GetViewport()
        size = ((x1 - x0) * width, (y1 - y0) * height)
        clip = _matrix(cam.GetCompositeProjectionTransformMatrix(ren.GetTiledAspectRatio(), -1, 1))
        if cam.GetParallelProjection():
            pixel = 2.0 * cam.GetParallelScale() / size[1]
        else:
            pixel = 2.0 * math.tan(math.radians(cam.GetViewAngle()) / 2.0) / size[1]
        return ViewGeometry(clip, _matrix(cam.GetViewTransformMatrix()), (x0 * width, y0 * height),
                            size, pixel, bool(cam.GetParallelProjection()))

    def _view_at(self, x: float, y: float) -> int | None:
        plotter = self._require()
        width, height = plotter.render_window.GetSize()
        for col, ren in enumerate(plotter.renderers):
            x0, y0, x1, y1 = ren.GetViewport()
            if x0 * width <= x < x1 * width and y0 * height <= y < y1 * height:
                return col
        return None

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
        col = self._view_at(x, y)
        if col is None or self._scan is None:
            return None
        radius = max(4.0, self._point_size)
        return pick_point(self._scan.points, self._geometry(col), (x, y), radius)

    def widget_position(self, index: int, view: int = 0) -> QPoint:
        """Where point ``index`` of the shown scan is drawn, in :meth:`interaction_widget` coordinates.

        Raises
        ------
        ConfigError
            If no scan is shown or the index is out of range.
        """
        plotter = self._require()
        if self._scan is None or not 0 <= index < len(self._scan):
            raise ConfigError(f"point {index} is not in the shown scan")
        xy, _ = project(self._scan.points[[index]], self._geometry(view))
        ratio = plotter.devicePixelRatioF()
        height = plotter.render_window.GetSize()[1]
        return QPoint(round(xy[0, 0] / ratio), round((height - 1 - xy[0, 1]) / ratio))

    def interaction_widget(self) -> QWidget:
        """The widget that receives mouse events (for scripted clicks)."""
        return self._require()
