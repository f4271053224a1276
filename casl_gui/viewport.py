"""The 3D view: with :mod:`~casl_gui.viewport_layers` and :mod:`~casl_gui.viewport_camera`,
the only code that touches VTK, pyvista and pyvistaqt.

:class:`Viewport` owns one pyvistaqt ``QtInteractor`` (``auto_update=False``; every
change ends with an explicit render), with one view or, in compare mode, two views side
by side (``shape=(1, 2)``) whose cameras are linked. A left click that does not drag
picks the visible point under the cursor in either view; the pick is marked in both.
Call :meth:`Viewport.shutdown` before the widget goes away: it finalises the render window.

Speed on big clouds: the cloud is uploaded once per scan; a new colouring of the same
scan replaces the scalars array and the lookup table of the existing actors in place.
Clouds above :data:`LOD_POINTS` points also get a random subsample actor that is drawn
instead of the full cloud while the camera moves (between VTK's Start- and
EndInteractionEvent), so rotating stays fluid; the full cloud comes back on release. A new
big scan is first drawn as the subsample, and the full cloud follows on the next turn of
the event loop, so the first picture appears before the full cloud is rasterised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pyvista as pv
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget
from pyvistaqt import QtInteractor

from casl_core.errors import ConfigError
from casl_core.scan import Scan
from casl_gui.colouring import ColourSpec
from casl_gui.rubber_band import RubberBand
from casl_gui.viewport_camera import ViewportCamera
from casl_gui.viewport_layers import Layer, Marks, add_cloud_actor, draw_marks, recolour_layer
from casl_gui.viewport_picking import ViewportPicking

__all__ = ["LOD_POINTS", "LOD_SAMPLE", "Marks", "Viewport"]

_BACKGROUND = ("#1d1f24", "#3a3e48")  # bottom, top of the gradient
_PICK_COLOUR = "#00e5ff"
#: Clouds with more points get a subsample drawn while the camera moves.
LOD_POINTS = 300_000
#: Points in that subsample.
LOD_SAMPLE = 120_000


class Viewport(ViewportPicking, ViewportCamera, QWidget):
    """Shows the active scan coloured by one field (two in compare mode) and picks points.

    Signals
    -------
    point_picked(int):
        A left click landed on the point with this index of the shown scan.
    rectangle_selected(object):
        In rectangle mode, a dragged rectangle selected these point indices (int64 array).
    """

    point_picked = Signal(int)
    rectangle_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._plotter: QtInteractor | None = None
        self._scan: Scan | None = None
        self._cloud: pv.PolyData | None = None
        self._lod_index: np.ndarray | None = None
        self._layers: list[Layer] = []
        self._marks: dict[str, Marks] = {}
        self._pick: int | None = None
        self._press: tuple[int, int] | None = None
        self._point_size = 3.0
        self._band: RubberBand | None = None
        self._overlay: tuple[np.ndarray, str, float] | None = None
        self._build(compare=False)

    # -- construction and teardown -----------------------------------------------------

    def _build(self, compare: bool) -> None:
        old = self._plotter
        if old is not None:
            if self._band is not None:
                self._band.detach()
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
        plotter.iren.add_observer("StartInteractionEvent", lambda *_: self._use_lod(True))
        plotter.iren.add_observer("EndInteractionEvent", lambda *_: self._use_lod(False))
        self._layout.addWidget(plotter)
        if self.isVisible():  # size the new render window now, so a camera reset fits it
            plotter.show()
            self._layout.activate()
        self._plotter = plotter
        self._layers = []
        if self._band is not None:
            self._band = RubberBand(plotter, self._rectangle_done)

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
        if self._band is not None:
            self._band.detach()
            self._band = None
        if self._plotter is not None:
            self._plotter.close()
            self._plotter = None
        self._scan = None
        self._cloud = None
        self._layers = []

    @property
    def is_shut_down(self) -> bool:
        """Whether :meth:`shutdown` ran (the render window is finalised)."""
        return self._plotter is None

    # -- drawing -----------------------------------------------------------------------

    def show_scan(self, scan: Scan | None, specs: list[ColourSpec], point_size: float, pick: int | None = None) -> None:
        """Draw ``scan`` coloured by ``specs`` (one per view), mark ``pick``, and render once.

        The camera is reset when another scan is shown, kept when only colours change.
        Another colouring of the same scan updates the drawn cloud in place.

        Raises
        ------
        ConfigError
            If the number of specs does not match the number of views.
        """
        plotter = self._require()
        if scan is not None and len(specs) != len(plotter.renderers):
            raise ConfigError(f"{len(plotter.renderers)} view(s) need as many colourings, got {len(specs)}")
        self._pick = pick if scan is not None else None
        if scan is not None and scan is self._scan and self._can_recolour(specs, point_size):
            for col, spec in enumerate(specs):
                self._recolour(col, spec)
            self._draw_pick()
            plotter.render()
            return
        new_scan = scan is not self._scan
        if new_scan:
            self._scan = scan
            self._marks = {}
            self._cloud = None if scan is None else pv.PolyData(scan.points)
            self._lod_index = None
            if scan is not None and len(scan) > LOD_POINTS:
                rng = np.random.default_rng(0)
                self._lod_index = np.sort(rng.choice(len(scan), LOD_SAMPLE, replace=False))
        self._point_size = float(point_size)
        plotter.clear()
        self._layers = []
        if scan is not None:
            for col, spec in enumerate(specs):
                plotter.subplot(0, col)
                self._layers.append(self._add_cloud(spec))
            self._draw_marks()
            self._draw_overlay()
            self._draw_pick()
            if new_scan:
                self._fit_camera()
                if self._lod_index is not None:
                    # Big cloud: the subsample is on screen at once, the full cloud one event later.
                    self._use_lod(True)
                    plotter.render()
                    QTimer.singleShot(0, lambda: self._use_lod(False))
                    return
        plotter.render()

    def shown_scan(self) -> Scan | None:
        """The scan on show (None when nothing is drawn)."""
        return self._scan

    def _can_recolour(self, specs: list[ColourSpec], point_size: float) -> bool:
        if len(self._layers) != len(specs) or float(point_size) != self._point_size:
            return False
        return all(
            layer.kind == spec.kind == "scalar"
            or (layer.kind == spec.kind and layer.values is spec.values and layer.title == spec.title)
            for layer, spec in zip(self._layers, specs)
        )

    def _fit_camera(self) -> None:
        # VTK's own reset: pyvista's renders the scene while doing it, a second full draw.
        for renderer in self._plotter.renderers:
            renderer.ResetCamera()

    def _add_cloud(self, spec: ColourSpec) -> Layer:
        size = self._point_size
        actor = add_cloud_actor(self._plotter, self._cloud.copy(deep=False), spec.values, spec, "cloud", size, True)
        lod = None
        if self._lod_index is not None:
            lod_cloud = pv.PolyData(self._scan.points[self._lod_index])
            lod = add_cloud_actor(
                self._plotter, lod_cloud, spec.values[self._lod_index], spec, "cloud-lod", size, False
            )
            lod.SetVisibility(False)
        return Layer(spec.kind, spec.title, spec.values, actor, lod)

    def _recolour(self, col: int, spec: ColourSpec) -> None:
        """Give the cloud of view ``col`` new scalars and colours without re-adding it."""
        if spec.kind == "scalar":
            self._plotter.subplot(0, col)
            recolour_layer(self._plotter, self._layers[col], spec, self._lod_index)

    def _use_lod(self, moving: bool) -> None:
        """Draw the subsample instead of the full cloud while the camera moves."""
        if self._plotter is None or not any(layer.lod is not None for layer in self._layers):
            return
        for layer in self._layers:
            if layer.lod is not None:
                layer.actor.SetVisibility(not moving)
                layer.lod.SetVisibility(moving)
        if not moving:
            self._plotter.render()

    @property
    def drawing_subsample(self) -> bool:
        """Whether the subsample is drawn in place of the full cloud (the camera is moving)."""
        return any(layer.lod is not None and layer.lod.GetVisibility() for layer in self._layers)

    def set_marks(self, marks: list[Marks]) -> None:
        """Mark points over the cloud in every view, replacing earlier marks, and render once.

        Marks with no index are not drawn.
        """
        plotter = self._require()
        had = bool(self._marks)
        for col in range(len(plotter.renderers)):
            plotter.subplot(0, col)
            for name in list(self._marks):
                plotter.remove_actor(f"marks-{name}", render=False)
        self._marks = {m.name: m for m in marks if len(m.indices)}
        if not had and not self._marks:
            return
        self._draw_marks()
        plotter.render()

    def set_overlay(self, points: np.ndarray | None, colour: str = "#d8dde6", opacity: float = 0.25) -> None:
        """Draw a faint, unpickable cloud (a reference) over the scan in every view; None removes it."""
        plotter = self._require()
        new = None if points is None or len(points) == 0 else (points, colour, float(opacity))
        old = self._overlay
        if (
            new is None
            and old is None
            or (new is not None and old is not None and new[0] is old[0] and new[1:] == old[1:])
        ):
            return  # already drawn (show_scan redraws it with the cloud)
        self._overlay = new
        for col in range(len(plotter.renderers)):
            plotter.subplot(0, col)
            plotter.remove_actor("overlay", render=False)
        self._draw_overlay()
        plotter.render()

    @property
    def overlay_points(self) -> int:
        """Points of the overlay cloud drawn (0 when none)."""
        return 0 if self._overlay is None or self._scan is None else len(self._overlay[0])

    def _draw_overlay(self) -> None:
        if self._overlay is None or self._scan is None:
            return
        points, colour, opacity = self._overlay
        cloud = pv.PolyData(points.astype(np.float32))
        for col in range(len(self._plotter.renderers)):
            self._plotter.subplot(0, col)
            self._plotter.add_mesh(
                cloud,
                color=colour,
                opacity=opacity,
                point_size=max(1.0, self._point_size - 1.0),
                style="points",
                render_points_as_spheres=False,
                pickable=False,
                name="overlay",
                reset_camera=False,
                lighting=False,
                render=False,
            )

    def marks(self) -> dict[str, int]:
        """Number of marked points per mark name."""
        return {name: len(m.indices) for name, m in self._marks.items()}

    def _draw_marks(self) -> None:
        if self._scan is not None:
            draw_marks(self._plotter, self._scan.points, list(self._marks.values()), self._point_size + 2.0)

    def _draw_pick(self) -> None:
        plotter = self._plotter
        if self._scan is None or self._pick is None:
            return
        marker = pv.PolyData(self._scan.points[[self._pick]])
        for col in range(len(plotter.renderers)):
            plotter.subplot(0, col)
            plotter.add_mesh(
                marker,
                color=_PICK_COLOUR,
                point_size=max(14.0, 3 * self._point_size),
                render_points_as_spheres=True,
                pickable=False,
                name="pick",
                reset_camera=False,
                render=False,
            )

    def mark_pick(self, index: int | None) -> None:
        """Mark the picked point in every view (None removes the mark) and render."""
        plotter = self._require()
        if index is None and self._pick is None:
            return
        self._pick = index
        for col in range(len(plotter.renderers)):
            plotter.subplot(0, col)
            plotter.remove_actor("pick", render=False)
        self._draw_pick()
        plotter.render()

    def screenshot(self) -> np.ndarray:
        """Render and return the view as an ``(H, W, 3)`` uint8 image."""
        plotter = self._require()
        plotter.render()
        return np.asarray(plotter.screenshot(return_img=True))[..., :3]

    @contextlib.contextmanager
    def rendered_at(self, width: int, height: int) -> Iterator[None]:
        """Within the block, the views render (and frame, and are shot) at ``width`` x ``height``
        pixels whatever the widget's size; the widget's size comes back after it.
        """
        plotter = self._require()
        window = plotter.render_window
        before = window.GetSize()
        window.SetSize(int(width), int(height))
        try:
            yield
        finally:
            window.SetSize(*before)
            plotter.render()

    def _require(self) -> QtInteractor:
        if self._plotter is None:
            raise ConfigError("the 3D view was shut down")
        return self._plotter

    def _require_point(self, index: int) -> QtInteractor:
        """The plotter, when a scan is shown and ``index`` is one of its points; else ConfigError."""
        plotter = self._require()
        if self._scan is None or not 0 <= index < len(self._scan):
            raise ConfigError(f"point {index} is not in the shown scan")
        return plotter
